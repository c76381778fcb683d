/**
 * `BENCH_COMPARE_TO=<other checkout> npm run bench -- compare`: this checkout's server against
 * another checkout's (e.g. a `git worktree` of main, with node_modules installed) under the same
 * load, in alternating rounds of one run, so that the machine's drift hits both alike. The ratio
 * is this checkout's rate over the other's; server CPU per operation is printed for both.
 */
import { join } from 'node:path';
import type { Scenario } from './harness.ts';
import { benchServer } from './registration.ts';
import { estServer } from './est.ts';

const other = process.env.BENCH_COMPARE_TO;
const otherBin = other ? join(other, 'bin/zerotouch') : '';

function dps(transport: 'https' | 'mqtt'): Scenario {
  return {
    name: `compare: DPS registration over ${transport.toUpperCase()}`,
    unit: 'reg/s',
    baselineName: `the same at ${other}`,
    async setup() {
      const mine = await benchServer(`dps-${transport}`);
      const theirs = await benchServer(`dps-${transport}-other`, [], 1, otherBin);
      return {
        scenario: mine.runner(transport),
        baseline: theirs.runner(transport),
        async teardown() {
          await mine.close();
          await theirs.close();
        },
      };
    },
  };
}

const est: Scenario = {
  name: 'compare: EST simpleenroll',
  unit: 'certs/s',
  baselineName: `the same at ${other}`,
  async setup() {
    const mine = await estServer();
    const theirs = await estServer(otherBin);
    return {
      scenario: mine.runner,
      baseline: theirs.runner,
      async teardown() {
        await mine.close();
        await theirs.close();
      },
    };
  },
};

/** The comparison scenarios, empty unless BENCH_COMPARE_TO names another checkout. */
export const comparisons: Scenario[] = other ? [dps('https'), dps('mqtt'), est] : [];
