// kill -9 of a server under DPS, EST and JITP load: one server on SQLite, and one of two servers
// on PostgreSQL behind haproxy. After the restart every acknowledgement a device saw is in the
// store, and nothing is there twice.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { adminClient } from '../src/testing/admin.ts';
import { scratchDir } from '../src/testing/pki.ts';
import { hasCommand } from '../src/testing/proxy.ts';
import {
  CASE_TIMEOUT_MS,
  canRunPostgres,
  figure,
  killNode,
  restartNode,
  sized,
  startNode,
  startPostgresPair,
} from './infra.ts';
import { waitFor, checkLedger, Ledger, mixedLoad, reliabilityFleet, type Target } from './load.ts';

/** Runs mixed load, calls `crash` once every face has acknowledged enough, then load on, then checks. */
async function crashUnderLoad(
  what: string,
  api: () => ReturnType<typeof adminClient>,
  target: () => Target,
  crash: () => Promise<void>,
): Promise<void> {
  const fleet = await reliabilityFleet(api(), `kill-${what.replace(/\W+/g, '-')}`);
  const ledger = new Ledger();
  let stopped = false;
  const load = mixedLoad(target, fleet, ledger, sized(8, 4), () => stopped);
  const want = sized(50, 10);
  await waitFor(
    ledger,
    `${want} acknowledgements of each face`,
    () => ledger.dps.size >= want && ledger.est.size >= want && ledger.jitp.size >= want,
  );
  const t0 = performance.now();
  await crash();
  const restartSeconds = (performance.now() - t0) / 1000;
  const atKill = ledger.acknowledged();
  // The devices carry on against the restarted server for a moment, then stop.
  const more = ledger.dps.size + sized(40, 10);
  await waitFor(ledger, 'more DPS registrations after the restart', () => ledger.dps.size >= more);
  stopped = true;
  const t1 = performance.now();
  await load;
  const drainSeconds = (performance.now() - t1) / 1000;
  const counts = await checkLedger(api(), fleet, ledger);
  figure(
    `kill -9 (${what}): at the kill ${atKill}; after restart and more load ${ledger.acknowledged()}; ` +
      `store: ${counts.registrations} registrations, ${counts.certificates} certificates, ${counts.things} things; ` +
      `0 lost, 0 duplicated; answers ${ledger.summary()}; kill and restart took ${restartSeconds.toFixed(1)} s, ` +
      `the devices' last attempts ${drainSeconds.toFixed(1)} s`,
  );
  assert.deepEqual(ledger.serverErrors, []);
}

describe('kill -9 under load', { timeout: CASE_TIMEOUT_MS }, () => {
  it('one server on SQLite keeps every registration, certificate and thing a device was told about, once', async () => {
    const dataDir = scratchDir('zt-kill-sqlite-');
    let node = await startNode(dataDir);
    const ca = readFileSync(join(dataDir, 'pki/certs/dev-root.cert.pem'), 'utf8');
    const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    try {
      await crashUnderLoad(
        'SQLite, one server',
        () => adminClient({ adminUrl: node.adminUrl, adminToken }),
        () => ({ devicePort: node.devicePort, mqttPort: node.mqttPort, ca }),
        async () => {
          await killNode(node);
          node = await startNode(dataDir);
        },
      );
    } finally {
      await killNode(node);
    }
  });

  it(
    'one of two servers on PostgreSQL behind haproxy: the same',
    {
      skip:
        !hasCommand('haproxy') || !canRunPostgres() ? 'needs haproxy and PostgreSQL (see .ci/run)' : false,
    },
    async () => {
      const pair = await startPostgresPair();
      try {
        await crashUnderLoad(
          'PostgreSQL, one of two servers behind haproxy',
          () => adminClient({ adminUrl: pair.nodes[1]!.adminUrl, adminToken: pair.adminToken() }),
          () => ({ devicePort: pair.lb.devicePort, mqttPort: pair.lb.mqttPort, ca: pair.ca }),
          async () => {
            await killNode(pair.nodes[0]!);
            pair.nodes[0] = await restartNode(pair.dataDir, pair.nodes[0]!, pair.flags);
          },
        );
      } finally {
        await pair.close();
      }
    },
  );
});
