import assert from 'node:assert/strict';
import type { KeyObject } from 'node:crypto';
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { certificatePem } from '../../pki/certificate.ts';
import * as der from '../../pki/der.ts';
import { exportPrivateKeyPem, generateKey } from '../../pki/keys.ts';
import { toPem } from '../../pki/pem.ts';
import { forgeCertificate } from '../../testing/forge.ts';
import { adminClient } from '../../testing/admin.ts';
import { sdkRegister, sdkRegisterMqtt } from '../../testing/azure-sdk.ts';
import { dpsFixture, type DpsFixture, makeDevice, type DeviceIdentity } from '../../testing/dps.ts';
import { makeRoot } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('DPS over MQTT (port device.mqtt_port)', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  let ca: string;
  before(async () => {
    server = await startTestServer({
      flags: { 'dps.retry_after_seconds': 1, 'device.max_body_bytes': 65536 },
    });
    api = adminClient(server);
    fx = await dpsFixture(server, 'mqttplant');
    ca = certificatePem(server.devPki.root.certificate);
    const put = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/mqtt-line`, {
      enrollmentGroupId: 'mqtt-line',
      attestation: {
        type: 'x509',
        x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
      },
      initialTwin: { tags: { transport: 'mqtt' } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
  });
  after(async () => {
    await server?.dispose();
  });

  /** A raw MQTT client (mqtt.js) speaking the DPS topics, for what the SDK does not expose. */
  async function rawClient(
    dev: DeviceIdentity | undefined,
    opts: { clientId?: string; username?: string } = {},
  ) {
    const id = dev?.registrationId ?? 'nobody';
    const client = await mqtt.connectAsync(`mqtts://localhost:${server.mqttPort}`, {
      clientId: opts.clientId ?? id,
      username: opts.username ?? `${fx.idScope}/registrations/${id}/api-version=2019-03-31`,
      protocolVersion: 4,
      ca,
      cert: dev?.chainPem,
      key: dev?.keyPem,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
    });
    return client;
  }

  function nextAnswer(
    client: mqtt.MqttClient,
  ): Promise<{ status: number; query: URLSearchParams; body: any }> {
    return new Promise((resolve) => {
      client.once('message', (topic, payload) => {
        const m = /^\$dps\/registrations\/res\/(\d+)\/\?(.*)$/.exec(topic)!;
        resolve({
          status: Number(m[1]),
          query: new URLSearchParams(m[2]),
          body: JSON.parse(payload.toString()),
        });
      });
    });
  }

  it('registers a device with the Azure SDK MQTT transport, the same as over HTTPS', async () => {
    const dev = makeDevice(fx.intermediate, 'mqtt-sensor-01');
    const state = await sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev, { model: 'thermo' });
    assert.equal(state.status, 'assigned');
    assert.ok(fx.hubs.includes(state.assignedHub));
    assert.equal(state.deviceId, 'mqtt-sensor-01');
    assert.equal(state.substatus, 'initialAssignment');
    assert.deepEqual(state.x509, { enrollmentGroupId: 'mqtt-line' });
    const device = await api('GET', `/v1/tenants/${fx.idScope}/devices/${state.assignedHub}/mqtt-sensor-01`);
    assert.equal(device.status, 200);
    assert.deepEqual(device.body.twin.tags, { transport: 'mqtt' });
    // The same device over HTTPS lands on the same hub: one registration pipeline.
    const again = await sdkRegister(server.devicePort, ca, fx.idScope, dev);
    assert.equal(again.assignedHub, state.assignedHub);
    assert.equal(again.registrationId, 'mqtt-sensor-01');
  });

  it('answers on the asking client only, with retry-after while assigning', async () => {
    const a = makeDevice(fx.intermediate, 'mqtt-sensor-a');
    const b = makeDevice(fx.intermediate, 'mqtt-sensor-b');
    const ca1 = await rawClient(a);
    const cb1 = await rawClient(b);
    try {
      await ca1.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
      await cb1.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
      const heardByB: string[] = [];
      cb1.on('message', (t) => heardByB.push(t));
      const first = nextAnswer(ca1);
      await ca1.publishAsync(
        '$dps/registrations/PUT/iotdps-register/?$rid=7',
        JSON.stringify({ registrationId: 'mqtt-sensor-a' }),
        { qos: 1 },
      );
      const put = await first;
      assert.equal(put.status, 202);
      assert.equal(put.query.get('$rid'), '7');
      assert.equal(put.query.get('retry-after'), '1');
      assert.equal(put.body.status, 'assigning');
      let op: { status: number; query: URLSearchParams; body: any };
      let rid = 8;
      do {
        await new Promise((r) => setTimeout(r, 200));
        const next = nextAnswer(ca1);
        await ca1.publishAsync(
          `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid}&operationId=${encodeURIComponent(put.body.operationId)}`,
          ' ',
          { qos: 1 },
        );
        op = await next;
        assert.equal(op.query.get('$rid'), String(rid++));
      } while (op.status === 202);
      assert.equal(op.status, 200);
      assert.equal(op.body.status, 'assigned');
      assert.equal(op.body.registrationState.deviceId, 'mqtt-sensor-a');
      assert.deepEqual(heardByB, [], 'another device must not hear the answers');
    } finally {
      await ca1.endAsync();
      await cb1.endAsync();
    }
  });

  it('refuses a chain that does not reach a verified CA with 401002 and the reason', async () => {
    const dev = makeDevice(makeRoot('MQTT Stranger CA'), 'mqtt-intruder');
    const c = await rawClient(dev);
    try {
      await c.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
      const ans = nextAnswer(c);
      await c.publishAsync(
        '$dps/registrations/PUT/iotdps-register/?$rid=1',
        '{"registrationId":"mqtt-intruder"}',
        { qos: 1 },
      );
      const r = await ans;
      assert.equal(r.status, 401);
      assert.equal(r.body.errorCode, 401002);
      assert.match(r.body.message, /does not reach a CA this ID scope trusts/);
    } finally {
      await c.endAsync();
    }
    await assert.rejects(sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev), (e: Error) => {
      assert.equal(e.name, 'UnauthorizedError');
      return true;
    });
  });

  it('says what is wrong with a malformed request and keeps the connection', async () => {
    const dev = makeDevice(fx.intermediate, 'mqtt-sensor-bad');
    const c = await rawClient(dev);
    try {
      // mqtt.js rejects a SUBACK with a refused filter; the packet still shows what was granted.
      const refused = await c.subscribeAsync(['$dps/registrations/res/#', 'devices/#'], { qos: 1 }).then(
        () => undefined,
        (e: { packet?: { granted: number[] } }) => e,
      );
      assert.deepEqual(refused?.packet?.granted, [1, 128], 'only the DPS response filter is granted');
      let ans = nextAnswer(c);
      await c.publishAsync('$dps/registrations/PUT/iotdps-register/?$rid=1', '{not json', { qos: 1 });
      let r = await ans;
      assert.equal(r.status, 400);
      assert.match(r.body.message, /not valid JSON/);
      ans = nextAnswer(c);
      await c.publishAsync('$dps/registrations/GET/iotdps-get-operationstatus/?$rid=2', ' ', { qos: 1 });
      r = await ans;
      assert.equal(r.status, 400);
      assert.match(r.body.message, /operationId/);
      assert.equal(r.body.errorCode, 400001);
      ans = nextAnswer(c);
      await c.publishAsync(
        '$dps/registrations/GET/iotdps-get-operationstatus/?$rid=3&operationId=4.0000',
        ' ',
        { qos: 1 },
      );
      r = await ans;
      assert.equal(r.status, 404);
      assert.equal(r.body.info.code, 'NOT_FOUND');
      // Too many register requests: 429 with errorCode 429001 and retry-after in the topic.
      const answers: Array<{ status: number; query: URLSearchParams; body: any }> = [];
      c.on('message', (topic, payload) => {
        const m = /^\$dps\/registrations\/res\/(\d+)\/\?(.*)$/.exec(topic)!;
        answers.push({
          status: Number(m[1]),
          query: new URLSearchParams(m[2]),
          body: JSON.parse(payload.toString()),
        });
      });
      for (let i = 0; i < 14; i++)
        await c.publishAsync(`$dps/registrations/PUT/iotdps-register/?$rid=t${i}`, '{}', { qos: 1 });
      while (answers.length < 14) await new Promise((res) => setTimeout(res, 50));
      const throttled = answers.find((a) => a.status === 429);
      assert.ok(throttled, `some answers are 429: ${answers.map((a) => a.status).join(',')}`);
      assert.equal(throttled.body.errorCode, 429001);
      assert.match(throttled.query.get('retry-after') ?? '', /^\d+$/);
    } finally {
      await c.endAsync();
    }
  });

  it('refuses connections without a certificate, with a client id that is not the registration id, or a bad user name', async () => {
    const dev = makeDevice(fx.intermediate, 'mqtt-sensor-id');
    await assert.rejects(rawClient(undefined), /Not authorized/i);
    await assert.rejects(rawClient(dev, { clientId: 'someone-else' }), /Identifier rejected/i);
    // A user name that is not a DPS path makes the client a device of the gateway, where a
    // certificate no JITP-registered CA signed is not authorised.
    await assert.rejects(rawClient(dev, { username: 'just-a-name' }), /Not authorized/i);
    assert.ok(server.logs.some((l) => l.includes('the client id must be the registration id')));
    assert.ok(server.logs.some((l) => l.includes('is not signed by a CA registered for JITP/JITR')));
  });

  it('closes a connection that sends a packet above device.max_body_bytes before buffering it, and keeps serving', async () => {
    const dev = makeDevice(fx.intermediate, 'mqtt-sensor-big');
    const s = tlsConnect({
      host: '127.0.0.1',
      port: server.mqttPort,
      servername: 'localhost',
      ca,
      cert: dev.chainPem,
      key: dev.keyPem,
    });
    await once(s, 'secureConnect');
    // A PUBLISH header announcing 100 MB; only the header is sent.
    s.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x30]));
    await once(s, 'close');
    assert.ok(
      server.logs.some((l) => /MQTT packet of \d+ bytes or more is larger than the 65536-byte limit/.test(l)),
    );
    const ok = await sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev);
    assert.equal(ok.status, 'assigned');
  });

  it('disconnects a client that publishes outside the DPS request topics', async () => {
    const dev = makeDevice(fx.intermediate, 'mqtt-sensor-pub');
    const c = await rawClient(dev);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish('devices/mqtt-sensor-pub/messages/events/', 'hello', { qos: 1 });
    await closed;
    c.end(true);
    assert.ok(server.logs.some((l) => l.includes('MQTT publish refused: not a DPS request topic')));
  });
  it('refuses certificates OpenSSL accepts and zerotouch does not with CONNACK 5, and keeps serving (this crashed the server)', async () => {
    const root = makeRoot('MQTT Crash Root');
    const identity = (der: Buffer, key: KeyObject, id: string): DeviceIdentity => ({
      registrationId: id,
      chainPem: toPem('CERTIFICATE', der),
      keyPem: exportPrivateKeyPem(key),
      sha256: '',
    });
    const key = generateKey('p256');
    const mismatch = forgeCertificate(
      root,
      {
        outerAlgorithm: (inner) => {
          const b = Buffer.from(inner);
          b[b.length - 1]! ^= 1;
          return b;
        },
      },
      key,
    );
    const offset = forgeCertificate(
      root,
      {
        parts: (p) =>
          (p.validity = der.seq(
            der.tlv(der.TAG.UTC_TIME, Buffer.from('2601011200+0100')),
            der.tlv(der.TAG.UTC_TIME, Buffer.from('491231235959Z')),
          )),
      },
      key,
    );
    for (const [name, cert] of [
      ['mismatch', mismatch],
      ['offset', offset],
    ] as const) {
      await assert.rejects(rawClient(identity(cert, key, 'dev-01')), /Not authorized/i, name);
      // Any client id, no user name: the probe's form.
      await assert.rejects(
        mqtt.connectAsync(`mqtts://localhost:${server.mqttPort}`, {
          clientId: `probe-${name}`,
          ca,
          cert: identity(cert, key, 'x').chainPem,
          key: exportPrivateKeyPem(key),
          reconnectPeriod: 0,
        }),
        /Not authorized/i,
      );
    }
    assert.ok(
      server.logs.some(
        (l) => l.includes('signature-algorithm-mismatch') || l.includes('differs from the signature field'),
      ),
    );
    // An explicit v1 version field is valid: the device gets as far as DPS, which does not know it.
    const v1 = forgeCertificate(
      root,
      { parts: (p) => ((p.version = der.explicit(0, der.integer(0))), (p.extensions = null)) },
      key,
    );
    const c = await rawClient(identity(v1, key, 'dev-01'));
    await c.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    const ans = nextAnswer(c);
    await c.publishAsync('$dps/registrations/PUT/iotdps-register/?$rid=1', '{}', { qos: 1 });
    assert.equal((await ans).status, 401);
    await c.endAsync();
    // Both listeners still serve.
    const dev = makeDevice(fx.intermediate, 'mqtt-after-crash');
    assert.equal((await sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev)).status, 'assigned');
    assert.equal((await fetch(`${server.adminUrl}/healthz`)).status, 200);
  });

  it('keeps nothing a client sends beyond its connection: no retained messages, wills or sessions', async () => {
    const dev = makeDevice(fx.intermediate, 'mqtt-sensor-keep');
    const c = await rawClient(dev);
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    c.publish('$dps/registrations/PUT/iotdps-register/?$rid=1', 'x'.repeat(1000), { qos: 1, retain: true });
    await closed;
    c.end(true);
    assert.ok(server.logs.some((l) => l.includes('DPS keeps no retained messages')));
    const base = {
      clientId: dev.registrationId,
      username: `${fx.idScope}/registrations/${dev.registrationId}/api-version=2019-03-31`,
      ca,
      cert: dev.chainPem,
      key: dev.keyPem,
      reconnectPeriod: 0,
    };
    await assert.rejects(
      mqtt.connectAsync(`mqtts://localhost:${server.mqttPort}`, {
        ...base,
        will: {
          topic: '$dps/registrations/PUT/iotdps-register/?$rid=w',
          payload: Buffer.from('{}'),
          qos: 1,
          retain: true,
        },
      }),
      /Not authorized/i,
    );
    await assert.rejects(
      mqtt.connectAsync(`mqtts://localhost:${server.mqttPort}`, { ...base, clean: false }),
      /Not authorized/i,
    );
    assert.ok(server.logs.some((l) => l.includes('may not set a will message')));
    assert.ok(server.logs.some((l) => l.includes('connect with a clean session')));
  });
});
