// PostgreSQL stops under load and comes back: two servers behind haproxy answer devices 503 with
// Retry-After meanwhile (DPS, EST) or refuse the MQTT connection, report not ready, lose nothing
// they acknowledged, and serve again by themselves once the database is back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateKey } from '../src/pki/keys.ts';
import { createCsr } from '../src/pki/csr.ts';
import { adminClient } from '../src/testing/admin.ts';
import { estRequest } from '../src/testing/est-client.ts';
import { hasCommand } from '../src/testing/proxy.ts';
import { CASE_TIMEOUT_MS, canRunPostgres, figure, sized, startPostgresPair } from './infra.ts';
import { waitFor, checkLedger, EST_USER, Ledger, mixedLoad, reliabilityFleet, type Target } from './load.ts';

const skip =
  !hasCommand('haproxy') || !canRunPostgres() ? 'needs haproxy and PostgreSQL (see .ci/run)' : false;

/** Each node's /readyz status. */
async function readiness(adminUrls: string[]): Promise<number[]> {
  return Promise.all(adminUrls.map(async (u) => (await fetch(`${u}/readyz`)).status));
}

/** An EST enrollment through `t`, answered 200 or not (the probe for "serving again"). */
async function enrolls(t: Target): Promise<boolean> {
  const csr = createCsr(generateKey('p256'), { CN: 'probe' }).toString('base64');
  const r = await estRequest(
    { port: t.devicePort, ca: t.ca, path: '/.well-known/est/rel' },
    'POST',
    'simpleenroll',
    { basic: EST_USER },
    csr,
  ).catch(() => undefined);
  return r?.status === 200;
}

describe('PostgreSQL restarted under load', { skip, timeout: CASE_TIMEOUT_MS }, () => {
  it('answers 503 with Retry-After during the outage, loses nothing acknowledged and recovers by itself', async () => {
    const pair = await startPostgresPair();
    try {
      const api = () => adminClient({ adminUrl: pair.nodes[0]!.adminUrl, adminToken: pair.adminToken() });
      const fleet = await reliabilityFleet(api(), 'pgrestart');
      const target: Target = { devicePort: pair.lb.devicePort, mqttPort: pair.lb.mqttPort, ca: pair.ca };
      const ledger = new Ledger();
      let stopped = false;
      const load = mixedLoad(
        () => target,
        fleet,
        ledger,
        sized(8, 4),
        () => stopped,
      );
      const want = sized(50, 10);
      await waitFor(
        ledger,
        `${want} acknowledgements of each face`,
        () => ledger.dps.size >= want && ledger.est.size >= want && ledger.jitp.size >= want,
      );

      const before = ledger.acknowledged();
      const answersBefore = new Map(ledger.answers);
      pair.pg.stop('fast');
      const outage = sized(10, 4);
      await sleep(1000);
      const duringReady = await readiness(pair.nodes.map((n) => n.adminUrl));
      await sleep((outage - 1) * 1000);
      pair.pg.start();
      const back = performance.now();
      while (!(await enrolls(target))) await sleep(100);
      const recovered = (performance.now() - back) / 1000;
      const afterReady = await readiness(pair.nodes.map((n) => n.adminUrl));
      const outageAnswers = [...ledger.answers.entries()]
        .map(([k, n]) => [k, n - (answersBefore.get(k) ?? 0)] as const)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ');

      // Devices keep going for a moment after the database is back, then stop.
      const more = ledger.dps.size + sized(40, 10);
      await waitFor(ledger, 'more DPS registrations after the restart', () => ledger.dps.size >= more);
      stopped = true;
      await load;
      const counts = await checkLedger(api(), fleet, ledger);
      figure(
        `PostgreSQL stopped for ${outage} s under load on 2 nodes behind haproxy: before ${before}; ` +
          `/readyz during the outage ${duringReady.join(', ')}, after ${afterReady.join(', ')}; ` +
          `EST enrollment succeeds again ${recovered.toFixed(2)} s after PostgreSQL is back; ` +
          `answers while it was down and coming back: ${outageAnswers}; at the end ${ledger.acknowledged()}, ` +
          `store: ${counts.registrations} registrations, ${counts.certificates} certificates, ${counts.things} things, 0 lost`,
      );
      assert.deepEqual(ledger.serverErrors, []);
      assert.deepEqual(duringReady, [503, 503]);
      assert.deepEqual(afterReady, [200, 200]);
      // The devices did see the outage, as 503 with Retry-After.
      assert.match(outageAnswers, /503\+Retry-After/);
      // MQTT devices are told "server unavailable" in a CONNACK, not cut off without an answer.
      assert.doesNotMatch(outageAnswers, /closed before CONNACK/);
    } finally {
      await pair.close();
    }
  });
});
