import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { certificatePem } from '../../pki/certificate.ts';
import { exportPrivateKeyPem } from '../../pki/keys.ts';
import { createTestDatabase, postgresProblem } from '../../store/testing.ts';
import deviceSdk from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import { adminClient } from '../../testing/admin.ts';
import { sdkRegisterMqtt } from '../../testing/azure-sdk.ts';
import { dpsFixture, makeDevice } from '../../testing/dps.ts';
import { makeLeaf, makeRoot, type TestCa } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const REDIS_URL = process.env.ZEROTOUCH_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

async function redisProblem(): Promise<string | null> {
  const { Redis } = await import('ioredis');
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  try {
    await r.connect();
    await r.ping();
    return null;
  } catch (e) {
    return (e as Error).message;
  } finally {
    r.disconnect();
  }
}
const problem = postgresProblem() ?? (await redisProblem());

// Two gateway nodes on one PostgreSQL and one Redis (device.mqtt_redis_url).
describe(
  'two gateway nodes sharing Redis',
  { skip: problem && !process.env.CI ? `needs PostgreSQL and Redis: ${problem}` : false },
  () => {
    const nodes: TestServer[] = [];
    let disposeDb: () => Promise<void>;
    let root: TestCa;
    const scopes: Record<string, string> = {};
    const ids = new Map<string, string>();

    before(async () => {
      const db = await createTestDatabase();
      disposeDb = db.dispose;
      for (let i = 0; i < 2; i++)
        nodes.push(
          await startTestServer({ flags: { 'store.url': db.url, 'device.mqtt_redis_url': REDIS_URL } }),
        );
      const a = nodes[0]!.services;
      root = makeRoot('Nodes Root');
      for (const name of ['nodes-one', 'nodes-two']) {
        const t = await a.tenants.createTenant({ name, idScope: name.replace('-', '') });
        scopes[name] = t.id;
        await a.cas.upload(t.id, 'root', certificatePem(root.cert), true);
        await a.iot.registry.updateSettings(t.id, { endpoint: `${name}.iot.example.test` });
        await a.iot.cas.register(t.id, 'root', { certificateMode: 'SNI_ONLY', allowAutoRegistration: false });
        await a.iot.registry.createPolicy(
          t.id,
          'telemetry',
          { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:*', Resource: '*' }] },
          'test',
        );
      }
    });
    after(async () => {
      for (const n of nodes) await n.dispose();
      await disposeDb?.();
    });

    /** An ACTIVE certificate in `scope` with the telemetry policy, connected to `node`. */
    async function device(scope: string, node: TestServer, cn: string) {
      const reg = nodes[0]!.services.iot;
      const leaf = makeLeaf(root, cn);
      const c = await reg.cas.registerCertificate(scopes[scope]!, {
        certificatePem: certificatePem(leaf.cert),
        caName: 'root',
        status: 'ACTIVE',
        by: 'test',
      });
      await reg.registry.attachPolicy(scopes[scope]!, 'telemetry', c.certificateId);
      ids.set(cn, c.certificateId);
      return mqtt.connectAsync(`mqtts://127.0.0.1:${node.mqttPort}`, {
        clientId: cn,
        ca: certificatePem(node.devPki.root.certificate),
        cert: certificatePem(leaf.cert),
        key: exportPrivateKeyPem(leaf.key),
        reconnectPeriod: 0,
        servername: `${scope}.iot.example.test`,
        ...({ checkServerIdentity: () => undefined } as object),
      });
    }

    it('delivers a message published on one node to a subscriber on the other, and only within its scope', async () => {
      const sub = await device('nodes-one', nodes[1]!, 'sub-on-b');
      const stranger = await device('nodes-two', nodes[1]!, 'stranger-on-b');
      const got: string[] = [];
      const strangerGot: string[] = [];
      sub.on('message', (topic, payload) => got.push(`${topic}:${payload}`));
      stranger.on('message', (topic, payload) => strangerGot.push(`${topic}:${payload}`));
      await sub.subscribeAsync('telemetry/#', { qos: 1 });
      await stranger.subscribeAsync('telemetry/#', { qos: 1 });
      const pub = await device('nodes-one', nodes[0]!, 'pub-on-a');
      await sleep(300);
      await pub.publishAsync('telemetry/line-1', 'across nodes', { qos: 1 });
      for (let i = 0; i < 50 && got.length === 0; i++) await sleep(100);
      assert.deepEqual(got, ['telemetry/line-1:across nodes']);
      await sleep(300);
      assert.deepEqual(strangerGot, []);
      // A policy change made on node A reaches the subscriber's session on node B.
      const reg = nodes[0]!.services.iot.registry;
      await reg.createPolicy(
        scopes['nodes-one']!,
        'no-receive',
        { Version: '2012-10-17', Statement: [{ Effect: 'Deny', Action: 'iot:Receive', Resource: '*' }] },
        'test',
      );
      await reg.attachPolicy(scopes['nodes-one']!, 'no-receive', ids.get('sub-on-b')!);
      await sleep(300);
      await pub.publishAsync('telemetry/line-1', 'after the change', { qos: 1 });
      await sleep(500);
      assert.deepEqual(got, ['telemetry/line-1:across nodes']);
      await Promise.all([sub.endAsync(), stranger.endAsync(), pub.endAsync()]);
    });

    it('reaches a builtin-hub device connected to the other node with desired changes, direct methods and messages', async () => {
      const a = nodes[0]!;
      const fx = await dpsFixture(a, 'nodeshub');
      const api = adminClient(a);
      assert.equal(
        (await api('PUT', `/v1/tenants/${fx.idScope}/hubs/localhost`, { kind: 'builtin' })).status,
        200,
      );
      const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/line`, {
        enrollmentGroupId: 'line',
        attestation: {
          type: 'x509',
          x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
        },
        iotHubs: ['localhost'],
      });
      assert.equal(g.status, 200, JSON.stringify(g.body));
      const dev = makeDevice(fx.intermediate, 'roaming-01');
      const ca = certificatePem(a.devPki.root.certificate);
      const state = await sdkRegisterMqtt(a.mqttPort, ca, fx.idScope, dev);
      const b = nodes[1]!;
      const client = deviceSdk.Client.fromConnectionString(
        `HostName=localhost:${b.mqttPort};DeviceId=${state.deviceId};x509=true`,
        deviceMqtt.Mqtt,
      );
      await client.setOptions({
        cert: dev.chainPem,
        key: dev.keyPem,
        ca: certificatePem(b.devPki.root.certificate),
      } as never);
      await client.open();
      try {
        const twin = await client.getTwin();
        const desired: Array<Record<string, unknown>> = [];
        twin.on('properties.desired', (d: Record<string, unknown>) => desired.push(d));
        client.onDeviceMethod(
          'ping',
          (_req: unknown, res: { send: (s: number, p: unknown, cb: () => void) => void }) =>
            res.send(200, { pong: true }, () => undefined),
        );
        await sleep(500);
        const tenant = await a.services.tenants.getTenant(fx.idScope);
        // Both calls are made on node A; the device is connected to node B.
        await a.services.builtinHub.patchDesired(tenant.id, 'localhost', state.deviceId, { mode: 'eco' });
        for (let i = 0; i < 50 && !desired.some((d) => d.mode === 'eco'); i++) await sleep(100);
        assert.ok(
          desired.some((d) => d.mode === 'eco'),
          JSON.stringify(desired),
        );
        const r = await a.services.builtinHub.invokeMethod(
          tenant.id,
          'localhost',
          state.deviceId,
          'ping',
          {},
          10,
        );
        assert.deepEqual(r, { status: 200, payload: { pong: true } });
        const messages: string[] = [];
        client.on('message', (m: { data: Buffer }) => messages.push(m.data.toString()));
        await sleep(300);
        await a.services.builtinHub.sendMessage(tenant.id, 'localhost', state.deviceId, 'from node A');
        for (let i = 0; i < 50 && messages.length === 0; i++) await sleep(100);
        assert.deepEqual(messages, ['from node A']);
      } finally {
        await client.close();
      }
    });
  },
);
