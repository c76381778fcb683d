// Two server processes on one PostgreSQL behind haproxy (TCP, round-robin): concurrent
// registrations of the same devices, EST enrollments and JITP first connections, every request
// free to reach either node.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminClient } from '../src/testing/admin.ts';
import { makeDevice } from '../src/testing/dps.ts';
import type { Fleet } from '../src/testing/fleet.ts';
import { makeLeaf } from '../src/testing/pki.ts';
import { hasCommand } from '../src/testing/proxy.ts';
import {
  CASE_TIMEOUT_MS,
  canRunPostgres,
  figure,
  type PostgresPair,
  sized,
  startPostgresPair,
} from './infra.ts';
import {
  checkLedger,
  connectJitp,
  enrollEst,
  Ledger,
  registerDevice,
  reliabilityFleet,
  type Target,
} from './load.ts';

const skip =
  !hasCommand('haproxy') || !canRunPostgres() ? 'needs haproxy and PostgreSQL (see .ci/run)' : false;

describe('two server processes on one PostgreSQL behind haproxy', { skip, timeout: CASE_TIMEOUT_MS }, () => {
  let pair: PostgresPair;
  let api: ReturnType<typeof adminClient>;
  let fleet: Fleet;
  let target: Target;

  before(async () => {
    pair = await startPostgresPair();
    api = adminClient({ adminUrl: pair.nodes[1]!.adminUrl, adminToken: pair.adminToken() });
    fleet = await reliabilityFleet(api, 'balanced');
    target = { devicePort: pair.lb.devicePort, mqttPort: pair.lb.mqttPort, ca: pair.ca };
  });
  after(() => pair?.close());

  it('registers each device exactly once from many concurrent registrations, with no 5xx', async () => {
    const devices = sized(100, 20);
    const each = 10;
    const ledger = new Ledger();
    const ids = Array.from({ length: devices }, (_, i) => makeDevice(fleet.root, `bal-${i}`));
    const started = performance.now();
    const results = await Promise.all(
      ids.flatMap((d) =>
        Array.from({ length: each }, () => registerDevice(target, fleet.idScope, d, ledger)),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    figure(
      `${devices * each} concurrent registrations of ${devices} devices through haproxy to 2 nodes: ` +
        `${results.filter(Boolean).length} assigned in ${seconds.toFixed(1)} s; answers ${ledger.summary()}`,
    );
    assert.deepEqual(ledger.serverErrors, []);
    assert.equal(results.filter(Boolean).length, devices * each, ledger.summary());
    const counts = await checkLedger(api, fleet, ledger);
    assert.equal(counts.registrations, devices);
  });

  it('enrolls over EST and provisions JITP first connections through either node', async () => {
    const ledger = new Ledger();
    const est = sized(100, 20);
    const jitpDevices = sized(40, 10);
    const leaves = Array.from({ length: jitpDevices }, (_, i) => makeLeaf(fleet.root, `bal-jitp-${i}`));
    const estDone = Promise.all(
      Array.from({ length: est }, (_, i) => enrollEst(target, `bal-est-${i}`, ledger)),
    );
    // Three racing first connections per new device, as a device that retries quickly would make.
    const jitpDone = Promise.all(
      Array.from({ length: jitpDevices * 3 }, (_, i) =>
        connectJitp(target, fleet, leaves[i % jitpDevices]!, ledger),
      ),
    );
    const [e, j] = await Promise.all([estDone, jitpDone]);
    figure(
      `${est} EST enrollments and ${jitpDevices * 3} JITP first connections of ${jitpDevices} devices: ${ledger.summary()}`,
    );
    assert.deepEqual(ledger.serverErrors, []);
    assert.equal(e.filter(Boolean).length, est);
    assert.equal(j.filter(Boolean).length, jitpDevices * 3, ledger.summary());
    const counts = await checkLedger(api, fleet, ledger);
    assert.equal(counts.things, jitpDevices);
    assert.ok(counts.certificates >= est);
  });
});
