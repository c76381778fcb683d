/**
 * SQLite WAL checkpoints on a thread: a registration's store round (lease, read, write, release),
 * 10 at a time on a fresh SQLite store in the temp directory, against the same store with SQLite's
 * default (a checkpoint inside the commit that grows the WAL past 1,000 pages). The rate shows the
 * main thread's cost; the latency line shows the stalls a checkpoint puts on the event loop.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../src/store/database.ts';
import { type Measured, percentile, type Scenario } from './harness.ts';
import { benchTenant, registrationStoreRound } from './store-round.ts';

const latencyLine = (ms: number[]) =>
  `p50 ${percentile(ms, 50).toFixed(2)} ms, p99 ${percentile(ms, 99).toFixed(2)} ms, p99.9 ${percentile(ms, 99.9).toFixed(2)} ms, max ${ms.reduce((a, b) => Math.max(a, b), 0).toFixed(1)} ms, over 2 ms ${((100 * ms.filter((x) => x > 2).length) / ms.length).toFixed(2)}%`;

export const sqliteCheckpoints: Scenario = {
  name: 'SQLite registration store round, WAL checkpoints on a thread',
  unit: 'reg/s',
  baselineName: 'checkpoints in the committing write (SQLite default)',
  summarize(scenario: Measured[], baseline: Measured[]) {
    const all = (ms: Measured[]) => ms.flatMap((m) => m.latencies ?? []);
    return `store round latency: ${latencyLine(all(scenario))}; SQLite default: ${latencyLine(all(baseline))}`;
  },
  async setup() {
    const dir = mkdtempSync(join(tmpdir(), 'zt-bench-checkpoint-'));
    const thread = openStore({ url: join(dir, 'thread.db'), dataDir: dir });
    const inline = openStore({ url: join(dir, 'inline.db'), dataDir: dir, sqliteCheckpointThread: false });
    for (const s of [thread, inline]) await benchTenant(s);
    return {
      scenario: registrationStoreRound(thread, 'bench', { latencies: true }),
      baseline: registrationStoreRound(inline, 'bench', { latencies: true }),
      async teardown() {
        await thread.close();
        await inline.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
};
