/**
 * `npm run bench -- scale`: registration rate and p99 latency with 10k, 100k and 1M devices
 * already registered, on SQLite and on PostgreSQL, with the store's bytes per device and the
 * time of a group's registration query (the page the Azure service SDK asks for) under load.
 * The registry is seeded in bulk, straight into the store (multi-row inserts cloned from a real
 * registration's rows), not through the API. BENCH_SCALE_SIZES (e.g. "10000,100000") and
 * BENCH_SCALE_STORES ("sqlite,postgres") choose; BENCH_SECONDS is the load's length per size.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { sql } from 'kysely';
import { openStore, type Store } from '../src/store/database.ts';
import { createTestDatabase, postgresProblem } from '../src/store/testing.ts';
import { adminClient } from '../src/testing/admin.ts';
import { registerAndWait } from '../src/testing/dps-client.ts';
import { makeDevice } from '../src/testing/dps.ts';
import { createFleet } from '../src/testing/fleet.ts';
import { scratchDir } from '../src/testing/pki.ts';
import { spawnServer } from '../src/testing/server-process.ts';
import { workerRunner } from './baseline-tls.ts';
import { percentile } from './harness.ts';

const sizes = (process.env.BENCH_SCALE_SIZES ?? '10000,100000,1000000').split(',').map(Number);
const stores = (process.env.BENCH_SCALE_STORES ?? 'sqlite,postgres').split(',');
const seconds = Number(process.env.BENCH_SECONDS ?? 10);
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 600);
const CHUNK = 500;
const bin = new URL('../bin/zerotouch', import.meta.url).pathname;
const progress = (m: string) => process.stderr.write(`${m}\n`);

interface Row {
  store: string;
  devices: number;
  seedSeconds: number;
  rate: number;
  p99: number;
  bytesPerDevice: number;
  queryIdle: number;
  queryP50: number;
  queryP99: number;
}

/** Copies `template` rows `count` times from `from`, with the registration ID swapped, in chunks. */
async function seed(store: Store, tenantId: string, from: number, count: number): Promise<void> {
  const reg = await store.db
    .selectFrom('registrations')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  const dev = await store.db
    .selectFrom('devices')
    .selectAll()
    .where('tenant_id', '=', tenantId)
    .executeTakeFirstOrThrow();
  const id = reg.id_key;
  const swap = (text: string, n: string) => text.split(id).join(n);
  let last = performance.now();
  for (let i = from; i < from + count; i += CHUNK) {
    const n = Math.min(CHUNK, from + count - i);
    const ids = Array.from({ length: n }, (_, k) => `seed-${String(i + k).padStart(7, '0')}`);
    await store.db.transaction().execute(async (tx) => {
      await tx
        .insertInto('registrations')
        .values(
          ids.map((s) => ({
            ...reg,
            id_key: s,
            operation_id: `${reg.operation_id}-${s}`,
            doc: swap(reg.doc, s),
          })),
        )
        .execute();
      await tx
        .insertInto('devices')
        .values(ids.map((s) => ({ ...dev, device_id: s, doc: swap(dev.doc, s), cert_sha256: null })))
        .execute();
    });
    if (performance.now() - last > 5000) {
      last = performance.now();
      progress(`  seeded ${i + n - from} of ${count}`);
    }
  }
}

/** Bytes the store holds now (SQLite: the file after a checkpoint; PostgreSQL: the database). */
async function storeBytes(store: Store, file?: string): Promise<number> {
  if (file) {
    await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(store.db);
    return statSync(file).size;
  }
  const r = await sql<{ n: string }>`select pg_database_size(current_database()) as n`.execute(store.db);
  return Number(r.rows[0]!.n);
}

async function measureStore(kind: string): Promise<Row[]> {
  const dataDir = scratchDir(`zt-scale-${kind}-`);
  let disposeDb: (() => Promise<void>) | undefined;
  const flags = ['--dps-retry-after-seconds', '1', '--device-max-connections-per-source', '0'];
  if (kind === 'postgres') {
    const db = await createTestDatabase();
    disposeDb = db.dispose;
    flags.push('--store-url', db.url);
  }
  const server = await spawnServer([bin, 'server', ...flags], dataDir);
  const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
  const api = adminClient({ adminUrl: server.adminUrl, adminToken });
  const ca = readFileSync(join(dataDir, 'pki/certs/dev-root.cert.pem'), 'utf8');
  const fleet = await createFleet(api, 'scale');
  // One real registration: the rows every seeded device is cloned from.
  const first = await registerAndWait(
    server.devicePort,
    ca,
    fleet.idScope,
    makeDevice(fleet.root, 'template-device'),
  );
  if (first.status !== 'assigned') throw new Error(`template registration: ${JSON.stringify(first)}`);
  const store = openStore({ url: kind === 'postgres' ? flags.at(-1)! : '', dataDir });
  const file = kind === 'sqlite' ? join(dataDir, 'zerotouch.db') : undefined;
  const tenant = await store.db
    .selectFrom('tenants')
    .select('id')
    .where('id_scope', '=', fleet.idScope)
    .executeTakeFirstOrThrow();
  const devices = Array.from({ length: 2000 }, (_, i) => {
    const d = makeDevice(fleet.root, `load-dev-${i}`);
    return { registrationId: d.registrationId, chainPem: d.chainPem, keyPem: d.keyPem };
  });
  const worker = new Worker(new URL('./dps-client.ts', import.meta.url));
  const run = workerRunner(worker, {
    transport: 'https',
    port: server.devicePort,
    concurrency: IN_FLIGHT,
    ca,
    idScope: fleet.idScope,
    devices,
    latencies: true,
  });
  const rows: Row[] = [];
  try {
    let seeded = 0;
    for (const size of sizes) {
      const before = await storeBytes(store, file);
      progress(`${kind}: seeding ${size - seeded} devices (to ${size})`);
      const t0 = performance.now();
      await seed(store, tenant.id, seeded, size - seeded);
      const seedSeconds = (performance.now() - t0) / 1000;
      const bytesPerDevice = ((await storeBytes(store, file)) - before) / (size - seeded);
      seeded = size;
      progress(
        `${kind}: ${size} devices seeded in ${seedSeconds.toFixed(1)} s; registering for ${seconds} s`,
      );
      const groupQuery = async () => {
        const q0 = performance.now();
        const r = await api(
          'GET',
          `/v1/tenants/${fleet.idScope}/registrations?enrollmentGroup=fleet&max=100`,
        );
        if (r.status !== 200) throw new Error(`group query answered ${r.status}`);
        return performance.now() - q0;
      };
      // Its own cost first, with nothing else running; then while devices register, where it
      // also waits behind the TLS handshakes in the same event loop.
      const idle: number[] = [];
      for (let i = 0; i < 20; i++) idle.push(await groupQuery());
      const queryTimes: number[] = [];
      let loading = true;
      const queries = (async () => {
        while (loading) {
          queryTimes.push(await groupQuery());
          await new Promise((res) => setTimeout(res, 200));
        }
      })();
      const m = await run(seconds);
      loading = false;
      await queries;
      rows.push({
        store: kind,
        devices: size,
        seedSeconds,
        rate: m.ops / m.seconds,
        p99: percentile(m.latencies ?? [], 99),
        bytesPerDevice,
        queryIdle: percentile(idle, 50),
        queryP50: percentile(queryTimes, 50),
        queryP99: percentile(queryTimes, 99),
      });
      progress(`  ${JSON.stringify(rows.at(-1))}`);
    }
  } finally {
    await worker.terminate();
    await store.close();
    server.child.kill('SIGTERM');
    await new Promise((r) => server.child.once('exit', r));
    await disposeDb?.();
  }
  return rows;
}

/** Runs the scale bench and prints its table. */
export async function scaleBench(): Promise<string> {
  const rows: Row[] = [];
  for (const kind of stores) {
    if (kind === 'postgres' && postgresProblem()) {
      progress(`postgres skipped: ${postgresProblem()}`);
      continue;
    }
    rows.push(...(await measureStore(kind)));
  }
  const lines = [
    '| store | registered devices | seeding | registrations/s | p99 registration (ms) | store bytes/device | group query alone p50 (ms) | group query under load p50 / p99 (ms) |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.devices.toLocaleString('en')} | ${r.seedSeconds.toFixed(1)} s | ${r.rate.toFixed(0)} | ${r.p99.toFixed(0)} | ${r.bytesPerDevice.toFixed(0)} | ${r.queryIdle.toFixed(1)} | ${r.queryP50.toFixed(1)} / ${r.queryP99.toFixed(1)} |`,
    ),
  ];
  return lines.join('\n') + '\n';
}
