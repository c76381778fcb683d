/**
 * PostgreSQL named statements: a registration's own queries (take the device lease, read the
 * registration record, write it, give the lease back) through the registration store, 10 at a
 * time on a fresh database of the test PostgreSQL, with `store.postgres_prepared_statements` on
 * (the default) against off, same run. The CPU per operation printed is PostgreSQL's (its
 * processes on this machine), which is what every node of a deployment shares.
 */
import { KyselyRegistrationStore } from '../src/features/provisioning/store.ts';
import { migrate, openStore, type Store } from '../src/store/database.ts';
import { createTestDatabase, postgresProblem } from '../src/store/testing.ts';
import type { Runner, Scenario } from './harness.ts';
import { processTable, TICKS_PER_SECOND } from './server-process.ts';

const CONCURRENCY = 10;
const DEVICES = 1000;

/** User + system seconds of every postgres process on this machine. */
function postgresCpuSeconds(): number {
  let ticks = 0;
  for (const p of processTable().values()) if (p.command === 'postgres') ticks += p.ticks;
  return ticks / TICKS_PER_SECOND;
}

/**
 * One registration's store round (lease, read, write, release), CONCURRENCY at a time; `cpu`
 * reads the CPU seconds to report, `latencies` keeps each round's milliseconds.
 */
export function registrationStoreRound(
  store: Store,
  tenantId: string,
  o: { cpu?: () => number; latencies?: boolean } = {},
): Runner {
  const registrations = new KyselyRegistrationStore(store.db);
  return async (seconds) => {
    const end = performance.now() + seconds * 1000;
    const cpu0 = o.cpu?.();
    const start = performance.now();
    const latencies: number[] = [];
    let ops = 0;
    let n = 0;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) {
          const began = performance.now();
          const id = `bench-pg-${n++ % DEVICES}`;
          const owner = `op-${n}`;
          if (!(await registrations.tryLease(`${tenantId}/${id}`, owner, 60_000))) continue;
          const prev = await registrations.findRegistration(tenantId, id);
          const now = new Date().toISOString();
          await registrations.putRegistration(tenantId, owner, {
            registrationId: id,
            status: 'assigned',
            assignedHub: 'hub.example',
            deviceId: id,
            createdDateTimeUtc: prev?.state.createdDateTimeUtc ?? now,
            lastUpdatedDateTimeUtc: now,
            etag: `"${owner}"`,
          });
          await registrations.releaseLease(`${tenantId}/${id}`, owner);
          if (o.latencies) latencies.push(performance.now() - began);
          ops++;
        }
      }),
    );
    return {
      ops,
      seconds: (performance.now() - start) / 1000,
      ...(o.cpu ? { cpuSeconds: o.cpu() - cpu0! } : {}),
      ...(o.latencies ? { latencies } : {}),
    };
  };
}

/** Migrates a bench store and adds the tenant `bench` its rounds write under. */
export async function benchTenant(s: Store): Promise<void> {
  await migrate(s);
  await s.db
    .insertInto('tenants')
    .values({ id: 'bench', id_scope: '0neBENCHPG', name: 'bench', created_at: new Date().toISOString() })
    .execute();
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
