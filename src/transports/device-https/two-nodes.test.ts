// Two servers on one PostgreSQL answer a device as one: a DPS poll may reach either node, one
// device's registrations never run on both at once (a lease per device in the store), and EST
// enrollments and renewals work on either node with an issuing CA the other made.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { certificatePem } from '../../pki/certificate.ts';
import { generateKey } from '../../pki/keys.ts';
import { createTestDatabase, postgresProblem } from '../../store/testing.ts';
import { adminClient } from '../../testing/admin.ts';
import { deviceRequest } from '../../testing/dps-client.ts';
import { aziotEnroll, type EstTarget } from '../../testing/est-client.ts';
import { scratchDir } from '../../testing/pki.ts';
import { type DeviceIdentity, dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const problem = postgresProblem();

describe(
  'DPS and EST on two servers sharing one PostgreSQL',
  { skip: problem && !process.env.CI ? `needs PostgreSQL: ${problem}` : false },
  () => {
    const nodes: TestServer[] = [];
    let disposeDb: () => Promise<void>;
    let fx: DpsFixture;
    let hook: Server;
    let calls = 0;
    const inflight = new Map<string, number>();
    const most = new Map<string, number>();

    before(async () => {
      const db = await createTestDatabase();
      disposeDb = db.dispose;
      // Issuing-CA keys in the store are encrypted with this passphrase: every node needs the same.
      const passphrase = join(scratchDir('zt-nodes-'), 'key-passphrase');
      writeFileSync(passphrase, 'a passphrase both nodes share', { mode: 0o600 });
      for (let i = 0; i < 2; i++)
        nodes.push(
          await startTestServer({
            flags: {
              'store.url': db.url,
              'dps.retry_after_seconds': 1,
              'issuance.key_passphrase_file': passphrase,
            },
          }),
        );
      fx = await dpsFixture(nodes[0]!, 'twonodes');
      // A custom-allocation webhook that takes 100 ms and sees how many assignments of one
      // device run at once (it answers the hubs in turn, so overlapping ones would disagree).
      hook = createServer((req, res) => {
        let text = '';
        req.on('data', (d) => (text += d));
        req.on('end', () => {
          const id = JSON.parse(text).deviceRuntimeContext.registrationId as string;
          const now = (inflight.get(id) ?? 0) + 1;
          inflight.set(id, now);
          most.set(id, Math.max(most.get(id) ?? 0, now));
          setTimeout(() => {
            inflight.set(id, inflight.get(id)! - 1);
            const hub = fx.hubs[calls++ % fx.hubs.length];
            res
              .writeHead(200, { 'content-type': 'application/json' })
              .end(JSON.stringify({ iotHubHostName: hub }));
          }, 100);
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
      const group = await adminClient(nodes[0]!)('POST', `/v1/tenants/${fx.idScope}/enrollment-groups`, {
        enrollmentGroupId: 'fleet',
        attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
        allocationPolicy: 'custom',
        customAllocationDefinition: {
          webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/allocate`,
          apiVersion: '2019-03-31',
        },
      });
      assert.equal(group.status, 201, JSON.stringify(group.body));
    });
    after(async () => {
      for (const n of nodes) await n.dispose();
      hook?.close();
      await disposeDb?.();
    });

    /** One DPS request to node `i`, trusting that node's TLS certificate. */
    function call(i: number, device: DeviceIdentity, method: string, path: string, body?: unknown) {
      const n = nodes[i]!;
      return deviceRequest(
        n.devicePort,
        certificatePem(n.devPki.root.certificate),
        device,
        method,
        `/${fx.idScope}/registrations/${device.registrationId}${path}?api-version=2021-06-01`,
        body === undefined ? undefined : JSON.stringify(body),
        new Agent({ keepAlive: false }),
      );
    }

    /** Polls operation `op` on node `i` until it leaves "assigning"; every answer must be 200 or 202. */
    async function settle(i: number, device: DeviceIdentity, op: string) {
      for (let k = 0; k < 200; k++) {
        const r = await call(i, device, 'GET', `/operations/${op}`);
        if (r.status === 429) {
          await sleep(500);
          continue;
        }
        assert.ok(r.status === 200 || r.status === 202, `poll on node ${i}: ${r.status} ${r.text}`);
        if (r.json.status !== 'assigning') return r.json;
        await sleep(50);
      }
      throw new Error(`operation ${op} still assigning`);
    }

    it('answers a poll on the other node than the registration, never "not found"', async () => {
      const device = makeDevice(fx.intermediate, 'twonodes-poll-1', [fx.root]);
      const put = await call(0, device, 'PUT', '/register', { registrationId: device.registrationId });
      assert.equal(put.status, 202, put.text);
      const first = await call(1, device, 'GET', `/operations/${put.json.operationId}`);
      assert.ok(first.status === 200 || first.status === 202, `${first.status} ${first.text}`);
      const done = await settle(1, device, put.json.operationId);
      assert.equal(done.status, 'assigned');
      assert.ok(fx.hubs.includes(done.registrationState.assignedHub));
      // Polls on the registering node agree.
      assert.deepEqual(
        (await settle(0, device, put.json.operationId)).registrationState,
        done.registrationState,
      );
    });

    it('runs racing registrations of one device one at a time across both nodes: one device, one record, no 5xx', async () => {
      const device = makeDevice(fx.intermediate, 'twonodes-race-1', [fx.root]);
      const puts = await Promise.all(
        Array.from({ length: 8 }, (_, k) =>
          call(k % 2, device, 'PUT', '/register', { registrationId: device.registrationId }),
        ),
      );
      for (const p of puts) assert.equal(p.status, 202, p.text);
      // Each operation polled on the node that did not start it.
      const results = await Promise.all(puts.map((p, k) => settle((k + 1) % 2, device, p.json.operationId)));
      for (const r of results) assert.equal(r.status, 'assigned', JSON.stringify(r));
      // A poll may be answered from a later registration's record while earlier ones still queue.
      await Promise.all(nodes.map((n) => n.services.registrations.drain()));
      assert.equal(most.get(device.registrationId), 1, 'two assignments of the device overlapped');
      assert.equal(inflight.get(device.registrationId), 0);
      const api = nodes[1]!.services;
      const tenant = await api.tenants.getTenant(fx.idScope);
      const record = await api.registrations.record(tenant.id, device.registrationId);
      assert.equal(record.status, 'assigned');
      const devices = await api.registry.list(tenant.id);
      const mine = devices.items.filter((d) => d.registrationId === device.registrationId);
      assert.equal(mine.length, 1);
      assert.equal(mine[0]!.hub, record.assignedHub, 'the registry and the record agree on the hub');
      // Every lease was given back.
      const leases = await nodes[0]!.store.db.selectFrom('device_leases').selectAll().execute();
      assert.deepEqual(leases, []);
    });

    it('does not know a made-up operation, or one of another device', async () => {
      const a = makeDevice(fx.intermediate, 'twonodes-own-a', [fx.root]);
      const b = makeDevice(fx.intermediate, 'twonodes-own-b', [fx.root]);
      const put = await call(0, a, 'PUT', '/register', { registrationId: a.registrationId });
      await settle(0, a, put.json.operationId);
      const made = put.json.operationId.replace(
        /\.([0-9a-f])/,
        (_: string, c: string) => `.${c === 'a' ? 'b' : 'a'}`,
      );
      assert.equal((await call(1, a, 'GET', `/operations/${made}`)).status, 404);
      assert.equal((await call(1, b, 'GET', `/operations/${put.json.operationId}`)).status, 404);
    });

    it('enrolls over EST on one node and renews on the other; concurrent enrollments on both get distinct serials', async () => {
      const api = adminClient(nodes[0]!);
      const ic = await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'edge-ca' });
      assert.equal(ic.status, 201, JSON.stringify(ic.body));
      await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/edge`, {
        issuingCa: 'edge-ca',
        profile: 'device-1d',
      });
      const basic = { user: 'edge', password: 'edge-password-1' };
      await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/edge/users/edge`, { password: basic.password });
      const target = (i: number): EstTarget => ({
        port: nodes[i]!.devicePort,
        ca: certificatePem(nodes[i]!.devPki.root.certificate),
        path: '/.well-known/est/edge',
      });
      const key = generateKey('p256');
      const first = await aziotEnroll(target(1), key, { CN: 'est-two-nodes' }, { basic });
      assert.equal(first.chain[0]!.commonName, 'est-two-nodes');
      const renewed = await aziotEnroll(
        target(0),
        generateKey('p256'),
        { CN: 'est-two-nodes' },
        {
          cert: { certPem: certificatePem(first.chain[0]!), key },
        },
      );
      assert.notEqual(renewed.chain[0]!.serialNumber, first.chain[0]!.serialNumber);
      const many = await Promise.all(
        Array.from({ length: 10 }, (_, k) =>
          aziotEnroll(target(k % 2), generateKey('p256'), { CN: `est-many-${k}` }, { basic }),
        ),
      );
      assert.equal(new Set(many.map((m) => m.chain[0]!.serialNumber)).size, 10);
      // The other node's admin API, with the token the first node made (tokens live in the store).
      const listed = await adminClient({ ...nodes[1]!, adminToken: nodes[0]!.adminToken } as TestServer)(
        'GET',
        `/v1/tenants/${fx.idScope}/certificates?subject=est-&max=100`,
      );
      assert.equal(listed.body.items?.length, 12, JSON.stringify(listed.body).slice(0, 300));
    });
  },
);
