/**
 * The server under test as its own process (`bin/zerotouch server`), so that the load
 * generator's CPU does not count against it, and the bare mTLS baseline as a process of the same
 * shape beside it. BENCH_CPU_PROF=<dir> writes a V8 CPU profile of each server process there;
 * BENCH_KEEP_OUTPUT=1 keeps the server output (proc.stdout()) for a look at its log lines.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { certificatePem } from '../src/pki/certificate.ts';
import { exportPrivateKeyPem } from '../src/pki/keys.ts';
import { toolkitPaths } from '../src/pki/toolkit.ts';
import { adminClient } from '../src/testing/admin.ts';
import { makeLeaf, makeRoot, scratchDir } from '../src/testing/pki.ts';
import { type ServerProcess, spawnServer } from '../src/testing/server-process.ts';
import { workerRunner } from './baseline-tls.ts';
import type { Runner } from './harness.ts';

const thisBin = new URL('../bin/zerotouch', import.meta.url).pathname;

export interface BenchServer {
  proc: ServerProcess;
  adminUrl: string;
  adminToken: string;
  api: ReturnType<typeof adminClient>;
  dataDir: string;
  devicePort: number;
  mqttPort: number;
  /** PEM of the development root that signed the device listener's certificate. */
  rootPem: string;
  /** CPU seconds the server's processes used so far. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/** Node options that make a process write a CPU profile on exit when BENCH_CPU_PROF is set. */
function profileEnv(name: string): NodeJS.ProcessEnv {
  const dir = process.env.BENCH_CPU_PROF;
  if (!dir) return process.env;
  // One directory per kind of process, so the profiles of the server and the baseline stay apart.
  return { ...process.env, NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${join(dir, name)}` };
}

/** Every process's parent, command name and CPU ticks (user + system) so far (Linux /proc). */
export function processTable(): Map<number, { ppid: number; command: string; ticks: number }> {
  const stats = new Map<number, { ppid: number; command: string; ticks: number }>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const text = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the parenthesised command name: state, ppid, ... utime (14th), stime (15th).
      const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
      const command = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
      stats.set(Number(entry), { ppid: Number(f[1]), command, ticks: Number(f[11]) + Number(f[12]) });
    } catch {
      // the process ended while the table was read
    }
  }
  return stats;
}

/** CPU ticks per second in /proc (USER_HZ, 100 on Linux). */
export const TICKS_PER_SECOND = 100;

/** CPU seconds (user + system) used so far by process `pid` and its live descendants (Linux /proc). */
export function processTreeCpuSeconds(pid: number): number {
  const stats = processTable();
  let ticks = 0;
  const tree = new Set([pid]);
  for (let size = 0; size !== tree.size;) {
    size = tree.size;
    for (const [p, st] of stats) if (tree.has(st.ppid)) tree.add(p);
  }
  for (const p of tree) ticks += stats.get(p)?.ticks ?? 0;
  return ticks / TICKS_PER_SECOND;
}

/** Stops a child process with SIGTERM and waits for it to exit (a profile is written on exit). */
async function stop(child: ServerProcess['child']): Promise<void> {
  if (child.exitCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await gone;
}

/**
 * Starts `zerotouch server` (`bin`: this checkout's by default) in a scratch data directory with
 * extra `flags` and `workers` worker processes, at the production log level, its output
 * discarded after the banner.
 */
export async function startServerProcess(
  name: string,
  flags: string[] = [],
  workers = 1,
  bin = thisBin,
): Promise<BenchServer> {
  const dataDir = scratchDir(`zt-bench-${name}-`);
  const proc = await spawnServer([bin, 'server', '--server-workers', String(workers), ...flags], dataDir, {
    env: profileEnv(name),
    keepOutput: process.env.BENCH_KEEP_OUTPUT === '1',
  });
  const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  return {
    proc,
    adminUrl: proc.adminUrl,
    adminToken,
    api: adminClient({ adminUrl: proc.adminUrl, adminToken }),
    dataDir,
    devicePort: proc.devicePort,
    mqttPort: proc.mqttPort,
    rootPem: readFileSync(toolkitPaths(join(dataDir, 'pki'), 'dev-root').cert, 'utf8'),
    cpuSeconds: () => processTreeCpuSeconds(proc.child.pid!),
    close: () => stop(proc.child),
  };
}

export interface BareTlsProcess {
  port: number;
  /**
   * Runs fresh mTLS connections (one GET each) against `port` from a worker thread of this
   * process; `cpuSeconds` is the CPU of the server on that port.
   */
  runnerFor(port: number, cpuSeconds?: () => number): Runner;
  /** CPU seconds the bare server used so far. */
  cpuSeconds(): number;
  close(): Promise<void>;
}

/**
 * Starts bench/bare-tls-server.ts as its own process with `server`'s device-listener certificate
 * and TLS options, and a client worker of `concurrency` lanes with a device credential.
 */
export async function startBareTlsProcess(server: BenchServer, concurrency: number): Promise<BareTlsProcess> {
  const tls = toolkitPaths(join(server.dataDir, 'pki'), 'server');
  const child = spawn(
    process.execPath,
    [new URL('./bare-tls-server.ts', import.meta.url).pathname, tls.fullChain, tls.key],
    { stdio: ['ignore', 'pipe', 'inherit'], env: profileEnv('bare-tls') },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.once('exit', (code) => reject(new Error(`bare TLS server exited ${code}`)));
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  child.removeAllListeners('exit');
  const deviceCa = makeRoot('Bench Device CA');
  const dev = makeLeaf(deviceCa, 'bench-device');
  const creds = {
    concurrency,
    ca: server.rootPem,
    cert: certificatePem(dev.cert),
    key: exportPrivateKeyPem(dev.key),
  };
  const worker = new Worker(new URL('./tls-client.ts', import.meta.url));
  return {
    port,
    runnerFor: (p, cpu) => workerRunner(worker, { ...creds, port: p }, cpu),
    cpuSeconds: () => processTreeCpuSeconds(child.pid!),
    async close() {
      await worker.terminate();
      await stop(child);
    },
  };
}
