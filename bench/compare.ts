/**
 * `BENCH_COMPARE_TO=<other checkout> npm run bench -- compare`: this checkout's server against
 * another checkout's (e.g. a `git worktree` of main, with node_modules installed) under the same
 * load, in alternating rounds of one run, so that the machine's drift hits both alike. The ratio
 * is this checkout's rate over the other's; server CPU per operation is printed for both.
 */
import { join } from 'node:path';
import { createTestDatabase } from '../src/store/testing.ts';
import type { Scenario } from './harness.ts';
import { benchServer } from './registration.ts';
import { estServer } from './est.ts';

const other = process.env.BENCH_COMPARE_TO;
const otherBin = other ? join(other, 'bin/zerotouch') : '';
// BENCH_COMPARE_STORE=postgres: each server on its own fresh database of the test PostgreSQL.
const onPostgres = process.env.BENCH_COMPARE_STORE === 'postgres';
const storeName = onPostgres ? ' on PostgreSQL' : '';

/** Store flags for one server, and what removes its database afterwards. */
async function storeFor(): Promise<{ flags: string[]; dispose: () => Promise<void> }> {
  if (!onPostgres) return { flags: [], dispose: async () => {} };
  const db = await createTestDatabase();
  return { flags: ['--store-url', db.url], dispose: db.dispose };
}

function dps(transport: 'https' | 'mqtt'): Scenario {
  return {
    name: `compare: DPS registration over ${transport.toUpperCase()}${storeName}`,
    unit: 'reg/s',
    baselineName: `the same at ${other}`,
    async setup() {
      const [a, b] = [await storeFor(), await storeFor()];
      const mine = await benchServer(`dps-${transport}`, a.flags);
      const theirs = await benchServer(`dps-${transport}-other`, b.flags, 1, otherBin);
      return {
        scenario: mine.runner(transport),
        baseline: theirs.runner(transport),
        async teardown() {
          await mine.close();
          await theirs.close();
          await a.dispose();
          await b.dispose();
        },
      };
    },
  };
}

const est: Scenario = {
  name: `compare: EST simpleenroll${storeName}`,
  unit: 'certs/s',
  baselineName: `the same at ${other}`,
  async setup() {
    const [a, b] = [await storeFor(), await storeFor()];
    const mine = await estServer(undefined, a.flags);
    const theirs = await estServer(otherBin, b.flags);
    return {
      scenario: mine.runner,
      baseline: theirs.runner,
      async teardown() {
        await mine.close();
        await theirs.close();
        await a.dispose();
        await b.dispose();
      },
    };
  },
};

/** The comparison scenarios, empty unless BENCH_COMPARE_TO names another checkout. */
export const comparisons: Scenario[] = other ? [dps('https'), dps('mqtt'), est] : [];
