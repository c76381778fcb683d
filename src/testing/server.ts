/** Test helper: a real server on port 0 in a temp data directory. */
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import { loadConfig } from '../config/config.ts';
import { createLogger } from '../logger.ts';
import { type RunningServer, startServer } from '../server.ts';
import { scratchDir } from './pki.ts';

export interface TestServer extends RunningServer {
  logs: string[];
  dispose(): Promise<void>;
}

/** Starts a server on free ports; `dataDir` lets a test start twice on the same data. */
export async function startTestServer(
  opts: {
    dataDir?: string;
    env?: NodeJS.ProcessEnv;
    logLevel?: string;
    flags?: Record<string, unknown>;
    /** false: the log lines are discarded instead of kept in `logs`. */
    keepLogs?: boolean;
  } = {},
): Promise<TestServer> {
  const dataDir = opts.dataDir ?? scratchDir('zt-server-');
  const config = loadConfig({
    env: opts.env ?? {},
    flags: {
      data_dir: dataDir,
      'device.port': 0,
      'device.mqtt_port': 0,
      'admin.port': 0,
      'aws.port': 0,
      'aws.host': '127.0.0.1',
      'device.host': '127.0.0.1',
      ...opts.flags,
    },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      // A long bench run would otherwise hold every log line it ever wrote.
      if (opts.keepLogs !== false) logs.push(String(chunk));
      cb();
    },
  });
  const server = await startServer(config, { logger: createLogger(opts.logLevel ?? 'debug', sink) });
  return Object.assign(server, {
    logs,
    async dispose() {
      await server.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  });
}
