/**
 * Scenario: the device listener's health under abuse. A worker sends GET /healthz every 20 ms on
 * one TLS connection (a load balancer's health check) while 4 attack lanes in another worker send
 * the inputs the trust probe found expensive, as fast as they can, each on a fresh connection:
 * a 60 KB-OID client certificate, a DPS csr of 30 KB PEM junk from an untrusted device, EST
 * password guesses for random users, retained MQTT publishes on DPS topics. The baseline is the
 * same health check with the attackers idle; the ratio compares health answers per second and
 * the line below gives the latency percentiles (the acceptance bound is p50 under 50 ms).
 */
import { Worker } from 'node:worker_threads';
import { certificatePem } from '../src/pki/certificate.ts';
import { createCsr, csrPem } from '../src/pki/csr.ts';
import * as der from '../src/pki/der.ts';
import { exportPrivateKeyPem, generateKey } from '../src/pki/keys.ts';
import { toPem } from '../src/pki/pem.ts';
import { adminClient } from '../src/testing/admin.ts';
import { forgeCertificate } from '../src/testing/forge.ts';
import { makeLeaf, makeRoot } from '../src/testing/pki.ts';
import { startTestServer } from '../src/testing/server.ts';
import { percentile, type Measured, type Scenario } from './harness.ts';

const LANES = 4;

function probeRunner(worker: Worker, job: Record<string, unknown>) {
  return (seconds: number) =>
    new Promise<Measured>((resolve, reject) => {
      worker.once('message', (m: { ok: boolean; error?: string } & Measured) =>
        m.ok ? resolve(m) : reject(new Error(m.error)),
      );
      worker.postMessage({ ...job, role: 'probe', seconds });
    });
}

const ms = (xs: number[], p: number) => `${percentile(xs, p).toFixed(1)} ms`;

/** The abuse scenario with the per-source limits as configured (`limits`) or switched off. */
function abuseScenario(limits: boolean): Scenario {
  return {
    name: limits
      ? 'device /healthz under abuse (4 attacking clients, default per-source limits)'
      : 'device /healthz under abuse (4 attacking clients, per-source limits off)',
    unit: 'answers/s',
    baselineName: 'same check, no abuse',
    summarize(scenario, baseline) {
      const s = scenario.flatMap((m) => m.latencies ?? []);
      const b = baseline.flatMap((m) => m.latencies ?? []);
      const attacks = scenario.at(-1)?.rates ?? {};
      const rate = Object.entries(attacks)
        .map(([k, v]) => `${k} ${v.toFixed(0)}/s`)
        .join(', ');
      return (
        `/healthz latency under abuse: p50 ${ms(s, 50)}, p99 ${ms(s, 99)}, max ${ms(s, 100)}; ` +
        `without: p50 ${ms(b, 50)}, p99 ${ms(b, 99)}\n    attack requests: ${rate}`
      );
    },
    async setup() {
      const flags = limits
        ? {}
        : { 'device.auth_failures_per_minute': 0, 'device.max_connections_per_source': 0 };
      const server = await startTestServer({ logLevel: 'info', flags });
      const api = adminClient(server);
      const idScope = (await api('POST', '/v1/tenants', { name: 'abuse' })).body.idScope as string;
      await api('POST', `/v1/tenants/${idScope}/issuing-cas`, { name: 'abuse-ca' });
      await api('PUT', `/v1/tenants/${idScope}/est-labels/abuse`, {});
      await api('PUT', `/v1/tenants/${idScope}/est-labels/abuse/users/device`, {
        password: 'a-real-password',
      });
      const stranger = makeLeaf(makeRoot('Abuse Stranger'), 'stranger-01');
      const bigKey = generateKey('p256');
      const bigOid = der.tlv(
        der.TAG.OID,
        Buffer.concat([Buffer.from([0x2b]), Buffer.alloc(60_000, 0x81), Buffer.from([1])]),
      );
      const big = forgeCertificate(
        { key: stranger.key, cert: stranger.cert },
        { parts: (p) => p.extensions!.push(der.seq(bigOid, der.octetString(der.NULL))) },
        bigKey,
      );
      const ca = certificatePem(server.devPki.root.certificate);
      const attackers = new Worker(new URL('./abuse-worker.ts', import.meta.url));
      const prober = new Worker(new URL('./abuse-worker.ts', import.meta.url));
      const attack = {
        role: 'attack',
        port: server.devicePort,
        mqttPort: server.mqttPort,
        lanes: LANES,
        ca,
        idScope,
        stranger: { cert: certificatePem(stranger.cert), key: exportPrivateKeyPem(stranger.key) },
        bigOid: { cert: toPem('CERTIFICATE', big), key: exportPrivateKeyPem(bigKey) },
        estPath: '/.well-known/est/abuse',
        csr: csrPem(createCsr(generateKey('p256'), { CN: 'guess' })),
      };
      const probe = probeRunner(prober, { port: server.devicePort, ca });
      return {
        baseline: probe,
        async scenario(seconds: number) {
          attackers.postMessage(attack);
          // Let the attack reach full speed before measuring.
          await new Promise((r) => setTimeout(r, 500));
          const measured = await probe(seconds);
          const rates = await new Promise<Record<string, number>>((resolve) => {
            attackers.once('message', (m: { attacks: Record<string, number> }) => resolve(m.attacks));
            attackers.postMessage({ role: 'stop' });
          });
          await new Promise((r) => setTimeout(r, 500));
          return { ...measured, rates };
        },
        async teardown() {
          await attackers.terminate();
          await prober.terminate();
          await server.dispose();
        },
      };
    },
  };
}

export const abuse = abuseScenario(true);
export const abuseNoLimits = abuseScenario(false);
