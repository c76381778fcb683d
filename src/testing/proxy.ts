/** Test helper: a real tinyproxy (Debian package) on a free port that wants Basic credentials. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/** True when `cmd` is on the PATH. */
export function hasCommand(cmd: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`]);
    return true;
  } catch {
    return false;
  }
}

/** A TCP port that was free a moment ago (for programs that cannot listen on port 0). */
export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

export interface TestProxy {
  port: number;
  /** tinyproxy's log, with one "CONNECT host:port" line per tunnel. */
  log(): string;
  stop(): void;
}

/** Starts tinyproxy in `dir` with `BasicAuth user password`; every CONNECT port is allowed. */
export async function startTinyproxy(dir: string, user: string, password: string): Promise<TestProxy> {
  const port = await freePort();
  const logFile = join(dir, 'tinyproxy.log');
  const conf = join(dir, 'tinyproxy.conf');
  writeFileSync(
    conf,
    `Port ${port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nAllow 127.0.0.1\nBasicAuth ${user} ${password}\nLogFile "${logFile}"\nLogLevel Connect\n`,
  );
  const child: ChildProcess = spawn('tinyproxy', ['-d', '-c', conf], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    try {
      readFileSync(logFile);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await new Promise((r) => setTimeout(r, 300));
  return {
    port,
    log: () => readFileSync(logFile, 'utf8'),
    stop: () => void child.kill(),
  };
}
