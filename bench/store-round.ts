/**
 * A registration's own store round (take the device lease, read the registration record, write
 * it, give the lease back) through the registration store, as a bench runner: the PostgreSQL
 * named-statement and the SQLite checkpoint scenarios time it.
 */
import { KyselyRegistrationStore } from '../src/features/provisioning/store.ts';
import { migrate, type Store } from '../src/store/database.ts';
import type { Runner } from './harness.ts';

const CONCURRENCY = 10;
const DEVICES = 1000;

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
