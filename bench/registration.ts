/**
 * Scenario (c): X.509 registrations per second under a group enrollment on an intermediate whose
 * root is verified (each device: new TLS connection, register, polls until assigned; over HTTPS
 * and over MQTT) against the bare
 * mutual-TLS handshake rate measured in the same run; server and baseline each in its own process.
 */
import { workerRunner } from './baseline-tls.ts';
import { startBareTlsProcess, startServerProcess } from './server-process.ts';
import { Worker } from 'node:worker_threads';
import { dpsFixture, makeDevice } from '../src/testing/dps.ts';
import type { Scenario } from './harness.ts';

/**
 * Devices in flight (BENCH_IN_FLIGHT): enough that the one-second Retry-After between PUT and
 * poll does not bound the rate.
 */
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 600);
const DEVICES = 2000;

/**
 * A server process (`workers` workers, extra `flags`, from the checkout of `bin`, default this
 * one) with a bench group and 2,000 device identities under an intermediate of its verified root,
 * and a client thread to drive them.
 */
export async function benchServer(name: string, flags: string[] = [], workers = 1, bin?: string) {
  // All simulated devices share 127.0.0.1; a real fleet of that size spreads over many
  // addresses, so the per-source connection limit is lifted here.
  const server = await startServerProcess(
    name,
    ['--dps-retry-after-seconds', '1', '--device-max-connections-per-source', '0', ...flags],
    workers,
    bin,
  );
  const fx = await dpsFixture(server, 'bench');
  const g = await server.api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/bench`, {
    attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
    initialTwin: { tags: { environment: 'bench' } },
  });
  if (g.status !== 200) throw new Error(`enrollment group: ${JSON.stringify(g.body)}`);
  const devices = Array.from({ length: DEVICES }, (_, i) => {
    const d = makeDevice(fx.intermediate, `bench-dev-${i}`);
    return { registrationId: d.registrationId, chainPem: d.chainPem, keyPem: d.keyPem };
  });
  const worker = new Worker(new URL('./dps-client.ts', import.meta.url));
  const runner = (transport: 'https' | 'mqtt') =>
    workerRunner(
      worker,
      {
        transport,
        port: transport === 'https' ? server.devicePort : server.mqttPort,
        concurrency: IN_FLIGHT,
        ca: server.rootPem,
        idScope: fx.idScope,
        devices,
      },
      server.cpuSeconds,
    );
  return {
    server,
    runner,
    async close() {
      await worker.terminate();
      await server.close();
    },
  };
}

/** The scenario over one transport; both measure against the same bare mTLS baseline. */
function registrationOver(transport: 'https' | 'mqtt'): Scenario {
  return {
    name:
      transport === 'https' ? 'DPS X.509 group-enrollment registration' : 'DPS X.509 registration over MQTT',
    unit: 'reg/s',
    baselineName: 'bare mTLS handshake',
    baselineUnit: 'conn/s',
    target: 0.5,
    async setup() {
      const b = await benchServer(`dps-${transport}`);
      const bare = await startBareTlsProcess(b.server, 4);
      return {
        scenario: b.runner(transport),
        baseline: bare.runnerFor(bare.port, bare.cpuSeconds),
        async teardown() {
          await bare.close();
          await b.close();
        },
      };
    },
  };
}

/**
 * What store.sqlite_synchronous = full costs: registrations on a server that flushes every
 * commit to the disk, against one with the default (normal), both on this machine's disk.
 */
export const synchronousFull: Scenario = {
  name: 'DPS registration, SQLite synchronous = full',
  unit: 'reg/s',
  baselineName: 'the same, synchronous = normal',
  async setup() {
    const full = await benchServer('sync-full', ['--store-sqlite-synchronous', 'full']);
    const normal = await benchServer('sync-normal');
    return {
      scenario: full.runner('https'),
      baseline: normal.runner('https'),
      async teardown() {
        await full.close();
        await normal.close();
      },
    };
  },
};

export const registration = registrationOver('https');
export const registrationMqtt = registrationOver('mqtt');

/**
 * server.workers = 2 against 1, each server in its own process(es) on SQLite, the load from a
 * thread of this process. On a 2-core machine the load generator shares the cores with the
 * server, so this shows the cost of the supervisor and the write lock, not a gain.
 */
export const twoWorkers: Scenario = {
  name: 'DPS registration, server.workers = 2',
  unit: 'reg/s',
  baselineName: 'server.workers = 1',
  async setup() {
    // Workers above 1 need the shared MQTT engine (Redis), even for an HTTPS-only load.
    const redis = ['--device-mqtt-redis-url', 'redis://127.0.0.1:6379'];
    const two = await benchServer('workers2', redis, 2);
    const one = await benchServer('workers1', redis, 1);
    return {
      scenario: two.runner('https'),
      baseline: one.runner('https'),
      async teardown() {
        await two.close();
        await one.close();
      },
    };
  },
};
