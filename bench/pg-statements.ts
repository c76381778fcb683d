/**
 * PostgreSQL named statements: a registration's own queries (take the device lease, read the
 * registration record, write it, give the lease back) through the registration store, 10 at a
 * time on a fresh database of the test PostgreSQL, with `store.postgres_prepared_statements` on
 * (the default) against off, same run. The CPU per operation printed is PostgreSQL's (its
 * processes on this machine), which is what every node of a deployment shares.
 */
import { openStore } from '../src/store/database.ts';
import { createTestDatabase, postgresProblem } from '../src/store/testing.ts';
import type { Scenario } from './harness.ts';
import { processTable, TICKS_PER_SECOND } from './server-process.ts';
import { benchTenant, registrationStoreRound } from './store-round.ts';

/** User + system seconds of every postgres process on this machine. */
function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const p of processTable().values()) if (p.command === 'postgres') ticks += p.ticks;
  return ticks / TICKS_PER_SECOND;
}

export const pgStatements: Scenario = {
  name: 'PostgreSQL registration queries as named statements',
  unit: 'reg/s',
  baselineName: 'the same with store.postgres_prepared_statements = false',
  target: 1,
  cpuOf: 'PostgreSQL',
  async setup() {
    if (postgresProblem()) throw new Error(`PostgreSQL is not reachable: ${postgresProblem()}`);
    const dbs = [await createTestDatabase(), await createTestDatabase()];
    const named = openStore({ url: dbs[0]!.url, dataDir: '', postgresPreparedStatements: true });
    const unnamed = openStore({ url: dbs[1]!.url, dataDir: '', postgresPreparedStatements: false });
    for (const s of [named, unnamed]) await benchTenant(s);
    return {
      scenario: registrationStoreRound(named, 'bench', { cpu: postgresCpuSeconds }),
      baseline: registrationStoreRound(unnamed, 'bench', { cpu: postgresCpuSeconds }),
      async teardown() {
        await named.close();
        await unnamed.close();
        for (const d of dbs) await d.dispose();
      },
    };
  },
};
