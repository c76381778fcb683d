/**
 * What the reliability suite runs around the server: a PostgreSQL cluster of its own (so it can be
 * stopped and restarted without touching anyone else's), haproxy in TCP mode in front of several
 * server processes, and server processes it can kill.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../src/testing/proxy.ts';
import { scratchDir } from '../src/testing/pki.ts';
import { type ServerProcess, spawnServer } from '../src/testing/server-process.ts';

/** The full sizes (`npm run test:reliability`) or the reduced ones `npm test` runs. */
export const FULL = process.env.ZEROTOUCH_RELIABILITY !== 'reduced';

/** A case that takes longer than this has hung: it fails with what it was waiting for. */
export const CASE_TIMEOUT_MS = FULL ? 900_000 : 180_000;

/** `full` in the full suite, `reduced` in the reduced one. */
export function sized(full: number, reduced: number): number {
  return FULL ? full : reduced;
}

/** Prints one figure line of a case (the suite's output is its report). */
export function figure(line: string): void {
  process.stdout.write(`# figure: ${line}\n`);
}

const bin = join(import.meta.dirname, '..', 'bin', 'zerotouch');

function pgBin(): string {
  const versions = readdirSync('/usr/lib/postgresql').sort();
  return `/usr/lib/postgresql/${versions.at(-1)}/bin`;
}

/** Runs a PostgreSQL program as the postgres user when we are root (PostgreSQL refuses root). */
function asPostgres(cmd: string, args: string[]): string {
  const root = process.getuid?.() === 0;
  return execFileSync(root ? 'runuser' : cmd, root ? ['-u', 'postgres', '--', cmd, ...args] : args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface PrivatePostgres {
  url: string;
  /** Stops the cluster: "fast" ends sessions cleanly, "immediate" is a crash. */
  stop(mode?: 'fast' | 'immediate'): void;
  start(): void;
  dispose(): void;
}

/** True when this machine has PostgreSQL's server programs (Debian's postgresql package). */
export function canRunPostgres(): boolean {
  return existsSync('/usr/lib/postgresql') && readdirSync('/usr/lib/postgresql').length > 0;
}

/** initdb in a scratch directory and a server on a free port, fsync on as in production. */
export async function privatePostgres(): Promise<PrivatePostgres> {
  const dir = scratchDir('zt-pg-');
  if (process.getuid?.() === 0) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), 0);
  const data = join(dir, 'data');
  const port = await freePort();
  asPostgres(join(pgBin(), 'initdb'), ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync']);
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  const ctl = (args: string[]) => asPostgres(join(pgBin(), 'pg_ctl'), ['-D', data, ...args]);
  const start = () => ctl(['-o', opts, '-l', join(dir, 'log'), '-w', 'start']);
  start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: (mode = 'fast') => ctl(['-m', mode, '-w', 'stop']),
    start,
    dispose() {
      try {
        ctl(['-m', 'immediate', '-w', 'stop']);
      } catch {
        // already stopped
      }
    },
  };
}

export interface Haproxy {
  devicePort: number;
  mqttPort: number;
  close(): Promise<void>;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((r) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        r(true);
      });
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on port ${port}`);
}

/** haproxy (Debian's) in TCP mode, round-robin over the nodes' device and MQTT ports. */
export async function startHaproxy(nodes: Array<{ devicePort: number; mqttPort: number }>): Promise<Haproxy> {
  const dir = scratchDir('zt-haproxy-');
  const devicePort = await freePort();
  const mqttPort = await freePort();
  const backend = (name: string, port: number, pick: (n: (typeof nodes)[number]) => number) => [
    `frontend ${name}`,
    `  bind 127.0.0.1:${port}`,
    `  default_backend ${name}-nodes`,
    `backend ${name}-nodes`,
    '  balance roundrobin',
    // Health checks take a killed node out of the rotation until it is back.
    ...nodes.map((n, i) => `  server node${i} 127.0.0.1:${pick(n)} check inter 500ms fall 1 rise 1`),
  ];
  const cfg = [
    'global',
    '  maxconn 4000',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    ...backend('device', devicePort, (n) => n.devicePort),
    ...backend('mqtt', mqttPort, (n) => n.mqttPort),
  ].join('\n');
  writeFileSync(join(dir, 'haproxy.cfg'), cfg + '\n');
  const child: ChildProcess = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg'), '-db'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let errors = '';
  child.stderr!.on('data', (d) => (errors += d));
  await waitForPort(devicePort).catch((e: Error) => {
    throw new Error(`${e.message}: haproxy said ${errors}`);
  });
  await waitForPort(mqttPort);
  return {
    devicePort,
    mqttPort,
    close: () =>
      new Promise((r) => {
        if (child.exitCode !== null) return r();
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * A server process on `dataDir` with `flags`; several started one after another on one data
 * directory share its development PKI and admin token, as nodes behind one name do.
 */
export function startNode(
  dataDir: string,
  flags: string[] = [],
  ports?: { device: number; mqtt: number; admin: number },
): Promise<ServerProcess> {
  return spawnServer(
    [bin, 'server', '--device-max-connections-per-source', '0', '--dps-retry-after-seconds', '1', ...flags],
    dataDir,
    { ports },
  );
}

/** Starts a node again on the ports it had (haproxy knows it by them). */
export function restartNode(
  dataDir: string,
  node: ServerProcess,
  flags: string[] = [],
): Promise<ServerProcess> {
  return startNode(dataDir, flags, {
    device: node.devicePort,
    mqtt: node.mqttPort,
    admin: Number(new URL(node.adminUrl).port),
  });
}

/**
 * Stops a server process with `signal` and waits until it is gone. A SIGTERM that has not ended
 * it within 30 s is reported and followed by SIGKILL, so a slow shutdown shows instead of hanging.
 */
export async function killNode(node: ServerProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (node.child.exitCode !== null || node.child.signalCode !== null) return;
  const gone = new Promise((r) => node.child.once('exit', r));
  const started = performance.now();
  node.child.kill(signal);
  const late = setTimeout(() => {
    figure(`a server did not stop within 30 s of ${signal}; killed`);
    node.child.kill('SIGKILL');
  }, 30_000);
  await gone;
  clearTimeout(late);
  const seconds = (performance.now() - started) / 1000;
  if (signal === 'SIGTERM' && seconds > 5)
    figure(`a server took ${seconds.toFixed(1)} s to stop after SIGTERM`);
}

/** Two server processes on a private PostgreSQL behind haproxy, sharing one data directory. */
export interface PostgresPair {
  pg: PrivatePostgres;
  nodes: ServerProcess[];
  lb: Haproxy;
  dataDir: string;
  /** The flags every node of the pair starts with. */
  flags: string[];
  adminToken(): string;
  /** The server's development root, which devices trust. */
  ca: string;
  close(): Promise<void>;
}

/** Starts a PostgresPair (the first node makes the development PKI and the token both then use). */
export async function startPostgresPair(): Promise<PostgresPair> {
  const pg = await privatePostgres();
  const dataDir = scratchDir('zt-pair-');
  const flags = ['--store-url', pg.url];
  const nodes: ServerProcess[] = [];
  for (let i = 0; i < 2; i++) nodes.push(await startNode(dataDir, flags));
  const lb = await startHaproxy(nodes);
  return {
    pg,
    nodes,
    lb,
    dataDir,
    flags,
    adminToken: () => readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    ca: readFileSync(join(dataDir, 'pki/certs/dev-root.cert.pem'), 'utf8'),
    async close() {
      await lb.close();
      for (const n of nodes) await killNode(n, 'SIGTERM');
      pg.dispose();
    },
  };
}
