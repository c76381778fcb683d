/**
 * Scenario (c): X.509 registrations per second under a group enrollment on an intermediate whose
 * root is verified (each device: new TLS connection, register, polls until assigned; over HTTPS
 * and over MQTT) against the bare
 * mutual-TLS handshake rate measured in the same run.
 */
import { startBareTls, workerRunner } from './baseline-tls.ts';
import { Worker } from 'node:worker_threads';
import { certificatePem } from '../src/pki/certificate.ts';
import { adminClient } from '../src/testing/admin.ts';
import { dpsFixture, makeDevice } from '../src/testing/dps.ts';
import { startTestServer } from '../src/testing/server.ts';
import type { Scenario } from './harness.ts';

/**
 * Devices in flight (BENCH_IN_FLIGHT): enough that the one-second Retry-After between PUT and
 * poll does not bound the rate.
 */
const IN_FLIGHT = Number(process.env.BENCH_IN_FLIGHT ?? 600);
const DEVICES = 2000;

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
      // All simulated devices share 127.0.0.1; a real fleet of that size spreads over many
      // addresses, so the per-source connection limit is lifted here.
      const server = await startTestServer({
        logLevel: 'info',
        flags: { 'dps.retry_after_seconds': 1, 'device.max_connections_per_source': 0 },
      });
      const fx = await dpsFixture(server, 'bench');
      const api = adminClient(server);
      const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/bench`, {
        attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
        initialTwin: { tags: { environment: 'bench' } },
      });
      if (g.status !== 200) throw new Error(`enrollment group: ${JSON.stringify(g.body)}`);
      const devices = Array.from({ length: DEVICES }, (_, i) => {
        const d = makeDevice(fx.intermediate, `bench-dev-${i}`);
        return { registrationId: d.registrationId, chainPem: d.chainPem, keyPem: d.keyPem };
      });
      const bare = await startBareTls(server, 4);
      const worker = new Worker(new URL('./dps-client.ts', import.meta.url));
      return {
        scenario: workerRunner(worker, {
          transport,
          port: transport === 'https' ? server.devicePort : server.mqttPort,
          concurrency: IN_FLIGHT,
          ca: certificatePem(server.devPki.root.certificate),
          idScope: fx.idScope,
          devices,
        }),
        baseline: bare.runnerFor(bare.port),
        async teardown() {
          await worker.terminate();
          await bare.close();
          await server.dispose();
        },
      };
    },
  };
}

export const registration = registrationOver('https');
export const registrationMqtt = registrationOver('mqtt');
