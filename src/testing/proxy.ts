/** Test helper: a real tinyproxy (Debian package) on a free port that wants Basic credentials. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { connect as netConnect, createServer } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
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

/** An https.Agent that reaches every host through an HTTP proxy's CONNECT tunnel, with Basic auth. */
export class TunnelAgent extends Agent {
  private readonly proxyPort: number;
  private readonly auth: string;
  private readonly portFor: (port: number) => number;
  /** `portFor` maps the port a client dials (an SDK's fixed 443) to the test server's. */
  constructor(
    proxyPort: number,
    user: string,
    password: string,
    portFor: (port: number) => number = (p) => p,
  ) {
    super({ keepAlive: false });
    this.proxyPort = proxyPort;
    this.auth = Buffer.from(`${user}:${password}`).toString('base64');
    this.portFor = portFor;
  }
  override createConnection(
    options: ConnectionOptions & { host?: string; port?: number },
    cb?: (err: Error | null, s: Duplex) => void,
  ): Duplex | null | undefined {
    const raw = netConnect(this.proxyPort, '127.0.0.1');
    const port = this.portFor(Number(options.port ?? 443));
    raw.once('connect', () =>
      raw.write(
        `CONNECT ${options.host}:${port} HTTP/1.1\r\nHost: ${options.host}:${port}\r\nProxy-Authorization: Basic ${this.auth}\r\n\r\n`,
      ),
    );
    let head = '';
    const onData = (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      raw.off('data', onData);
      if (!/^HTTP\/1\.[01] 200/.test(head))
        return cb?.(new Error(`proxy answered ${head.split('\r\n')[0]}`), raw);
      cb?.(null, tlsConnect({ ...options, socket: raw, servername: options.host }));
    };
    raw.on('data', onData);
    raw.once('error', (e) => cb?.(e, raw));
    return undefined;
  }
}
