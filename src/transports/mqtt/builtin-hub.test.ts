import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import deviceSdk from 'azure-iot-device';
import deviceMqtt from 'azure-iot-device-mqtt';
import { certificatePem, parseCertificate } from '../../pki/certificate.ts';
import { createCsr } from '../../pki/csr.ts';
import { exportPrivateKeyPem, generateKey } from '../../pki/keys.ts';
import { registerAndWait } from '../../testing/dps-client.ts';
import { adminClient } from '../../testing/admin.ts';
import { sdkRegisterMqtt, sdkRegisterMqttWs } from '../../testing/azure-sdk.ts';
import { cliRunner } from '../../testing/cli.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { makeLeaf, makeRoot, scratchDir } from '../../testing/pki.ts';
import { hasCommand, startTinyproxy, TunnelAgent } from '../../testing/proxy.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('the builtin hub: the Azure IoT device SDK after DPS', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  let ca: string;
  const dir = scratchDir('zt-hub-');
  const { ok } = cliRunner(() => server, dir);

  /** A device client as an application builds it; the host name carries the test port (the SDK dials 8883). */
  function deviceClient(deviceId: string, dev: { chainPem: string; keyPem: string }) {
    const client = deviceSdk.Client.fromConnectionString(
      `HostName=localhost:${server.mqttPort};DeviceId=${deviceId};x509=true`,
      deviceMqtt.Mqtt,
    );
    return client;
  }
  const open = async (client: ReturnType<typeof deviceClient>, dev: { chainPem: string; keyPem: string }) => {
    await client.setOptions({ cert: dev.chainPem, key: dev.keyPem, ca } as never);
    await client.open();
  };

  before(async () => {
    server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
    api = adminClient(server);
    fx = await dpsFixture(server, 'hubplant');
    ca = certificatePem(server.devPki.root.certificate);
    const hub = await api('PUT', `/v1/tenants/${fx.idScope}/hubs/localhost`, { kind: 'builtin' });
    assert.equal(hub.status, 200, JSON.stringify(hub.body));
    assert.equal(hub.body.kind, 'builtin');
    const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/builtin-line`, {
      enrollmentGroupId: 'builtin-line',
      attestation: {
        type: 'x509',
        x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
      },
      iotHubs: ['localhost'],
      initialTwin: { properties: { desired: { interval: 10 } } },
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
  });
  after(async () => {
    await server?.dispose();
  });

  it('connects after registering, reads the initial twin, reports, receives desired changes and direct methods from the CLI', async () => {
    const dev = makeDevice(fx.intermediate, 'hub-device-01');
    const state = await sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev);
    assert.equal(state.status, 'assigned');
    assert.equal(state.assignedHub, 'localhost');
    const client = deviceClient(state.deviceId, dev);
    await open(client, dev).catch((e) => {
      console.log(
        server.logs
          .filter((l) => /MQTT|IoT Hub/.test(l))
          .slice(-5)
          .join('\n'),
      );
      throw e;
    });
    try {
      const twin = await client.getTwin();
      assert.equal(twin.properties.desired.interval, 10);
      await new Promise<void>((resolve, reject) =>
        twin.properties.reported.update({ firmware: '1.2.3' }, (err?: Error) =>
          err ? reject(err) : resolve(),
        ),
      );
      const shown = await api('GET', `/v1/tenants/${fx.idScope}/devices/localhost/${state.deviceId}`);
      assert.equal(shown.body.twin.properties.reported.firmware, '1.2.3');
      // Nesting deeper than IoT Hub's 10 levels is refused, and the device is told why.
      let deep: Record<string, unknown> = { leaf: 1 };
      for (let i = 0; i < 12; i++) deep = { level: deep };
      await assert.rejects(
        new Promise<void>((resolve, reject) =>
          twin.properties.reported.update(deep, (err?: Error) => (err ? reject(err) : resolve())),
        ),
        /nest at most 10 levels/,
      );
      assert.equal(shown.body.connectionState, 'Connected');

      const desired: Array<Record<string, unknown>> = [];
      twin.on('properties.desired', (d: Record<string, unknown>) => desired.push(d));
      await sleep(300);
      await ok(
        'device',
        'twin-update',
        'localhost',
        state.deviceId,
        '--desired',
        '{"interval": 30}',
        '--scope',
        fx.idScope,
      );
      for (let i = 0; i < 50 && !desired.some((d) => d.interval === 30); i++) await sleep(100);
      assert.ok(
        desired.some((d) => d.interval === 30),
        JSON.stringify(desired),
      );

      client.onDeviceMethod(
        'reboot',
        (req: { payload: unknown }, res: { send: (s: number, p: unknown, cb: () => void) => void }) =>
          res.send(200, { rebooting: true, asked: req.payload }, () => undefined),
      );
      await sleep(300);
      const out = await ok(
        'device',
        'invoke',
        'localhost',
        state.deviceId,
        'reboot',
        '--payload',
        '{"delay": 1}',
        '--scope',
        fx.idScope,
      );
      assert.match(out, /^status 200/);
      assert.deepEqual(JSON.parse(out.slice(out.indexOf('\n') + 1)), {
        rebooting: true,
        asked: { delay: 1 },
      });

      // Cloud-to-device: a message with a property, sent with the CLI.
      const received: Array<{ data: string; color: unknown }> = [];
      client.on('message', (msg: { data: Buffer; properties: { getValue(k: string): unknown } }) =>
        received.push({ data: msg.data.toString(), color: msg.properties.getValue('color') }),
      );
      await sleep(300);
      await ok(
        'device',
        'send',
        'localhost',
        state.deviceId,
        'turn on',
        '--property',
        'color=red',
        '--scope',
        fx.idScope,
      );
      for (let i = 0; i < 50 && received.length === 0; i++) await sleep(100);
      assert.deepEqual(received, [{ data: 'turn on', color: 'red' }]);

      // Device-to-cloud: a message with a property reaches the scope's webhook.
      const hooked: Array<{ event: string; body: any }> = [];
      const hook = createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (d: string) => (body += d));
        req.on('end', () => {
          hooked.push({ event: String(req.headers['x-zerotouch-event']), body: JSON.parse(body) });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
      const tenant = await server.services.tenants.getTenant(fx.idScope);
      await server.services.iot.registry.updateSettings(tenant.id, {
        eventWebhooks: [{ url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/telemetry` }],
      });
      const m = new deviceSdk.Message(JSON.stringify({ temperature: 21.5 }));
      m.properties.add('alert', 'false');
      await client.sendEvent(m);
      for (let i = 0; i < 50 && hooked.length === 0; i++) await sleep(100);
      assert.equal(hooked[0]?.event, `devices/${state.deviceId}/messages/events`);
      assert.equal(hooked[0]?.body.properties.alert, 'false');
      assert.deepEqual(JSON.parse(Buffer.from(hooked[0]!.body.body, 'base64').toString()), {
        temperature: 21.5,
      });
      hook.close();
    } finally {
      await client.close();
    }
    for (let i = 0; i < 20; i++) {
      const d = await api('GET', `/v1/tenants/${fx.idScope}/devices/localhost/${state.deviceId}`);
      if (d.body.connectionState === 'Disconnected') break;
      await sleep(100);
    }
    const offline = await api(
      'POST',
      `/v1/tenants/${fx.idScope}/devices/localhost/${state.deviceId}/methods`,
      {
        methodName: 'reboot',
      },
    );
    assert.equal(offline.status, 404);
    assert.match(offline.body.message, /is not connected/);
  });

  it('refuses a certificate the device did not register with', async () => {
    const dev = makeDevice(fx.intermediate, 'hub-device-02');
    const state = await sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev);
    const other = makeDevice(fx.intermediate, 'hub-device-02');
    const client = deviceClient(state.deviceId, other);
    await assert.rejects(open(client, other));
    assert.ok(
      server.logs.some(
        (l) => l.includes('IoT Hub connect refused') && l.includes('registered with this certificate'),
      ),
    );
  });

  it('refuses a revoked certificate at connect even when its device was enabled again', async () => {
    await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'hub-issuer' });
    const bootRoot = makeRoot('Hub Bootstrap CA');
    await api('POST', `/v1/tenants/${fx.idScope}/cas`, {
      name: 'hub-bootstrap',
      certificate: certificatePem(bootRoot.cert),
      verified: true,
    });
    await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/hub-csr`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'hub-bootstrap' } } },
      iotHubs: ['localhost'],
      certificateIssuancePolicy: { validityDays: 7, issuingCa: 'hub-issuer' },
    });
    const boot = makeLeaf(bootRoot, 'hub-csr-1');
    const key = generateKey('p256');
    const op = await registerAndWait(
      server.devicePort,
      ca,
      fx.idScope,
      {
        registrationId: 'hub-csr-1',
        chainPem: certificatePem(boot.cert),
        keyPem: exportPrivateKeyPem(boot.key),
        sha256: boot.cert.sha256,
      },
      { csr: createCsr(key, { CN: 'hub-csr-1' }).toString('base64') },
      { apiVersion: '2025-07-01-preview' },
    );
    assert.equal(op.status, 'assigned', JSON.stringify(op));
    const chain = (op.registrationState.issuedCertificateChain as string[]).map((b) =>
      certificatePem(parseCertificate(Buffer.from(b, 'base64'))),
    );
    const dev = { chainPem: chain.join(''), keyPem: exportPrivateKeyPem(key) };
    // The issued certificate is the one the hub knows the device by.
    const first = deviceClient('hub-csr-1', dev);
    await open(first, dev);
    await first.close();
    const serial = parseCertificate(
      Buffer.from(op.registrationState.issuedCertificateChain[0], 'base64'),
    ).serialNumber;
    await ok('cert', 'revoke', serial, '--scope', fx.idScope);
    // An operator enables the device again by mistake: the revocation still holds.
    await ok('device', 'enable', 'localhost', 'hub-csr-1', '--scope', fx.idScope);
    await assert.rejects(open(deviceClient('hub-csr-1', dev), dev));
    assert.ok(server.logs.some((l) => l.includes('IoT Hub connect refused') && l.includes('was revoked')));
  });

  it('drops a connected device when it is disabled and refuses it until it is enabled again', async () => {
    const dev = makeDevice(fx.intermediate, 'hub-device-03');
    const state = await sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev);
    const client = deviceClient(state.deviceId, dev);
    await open(client, dev);
    await ok(
      'device',
      'disable',
      'localhost',
      state.deviceId,
      '--reason',
      'lost in transit',
      '--scope',
      fx.idScope,
    );
    // The hub closes the connection (the SDK's retries are then refused).
    let state2 = '';
    for (let i = 0; i < 50 && state2 !== 'Disconnected'; i++) {
      await sleep(100);
      state2 = (await api('GET', `/v1/tenants/${fx.idScope}/devices/localhost/${state.deviceId}`)).body
        .connectionState;
    }
    assert.equal(state2, 'Disconnected', 'the connection was closed by the hub');
    await client.close();
    const again = deviceClient(state.deviceId, dev);
    await assert.rejects(open(again, dev));
    assert.ok(server.logs.some((l) => l.includes('IoT Hub connect refused') && l.includes('is disabled')));
    const shown = await api('GET', `/v1/tenants/${fx.idScope}/devices/localhost/${state.deviceId}`);
    assert.equal(shown.body.statusReason, 'lost in transit');
    // Registering again does not undo the operator's decision.
    await sdkRegisterMqtt(server.mqttPort, ca, fx.idScope, dev);
    const still = await api('GET', `/v1/tenants/${fx.idScope}/devices/localhost/${state.deviceId}`);
    assert.equal(still.body.status, 'disabled');
    await ok('device', 'enable', 'localhost', state.deviceId, '--scope', fx.idScope);
    const back = deviceClient(state.deviceId, dev);
    await open(back, dev);
    await back.close();
  });

  it(
    'registers and connects with MqttWs through an HTTPS proxy with Basic auth, never touching the MQTT port',
    { skip: hasCommand('tinyproxy') ? false : 'tinyproxy is not installed' },
    async () => {
      const proxy = await startTinyproxy(dir, 'fleet', 'pr0xy-secret');
      try {
        const dev = makeDevice(fx.intermediate, 'hub-device-ws');
        // The SDKs dial wss://localhost:443; the tunnel's far end is the device HTTPS listener, 443's stand-in.
        const agent = new TunnelAgent(proxy.port, 'fleet', 'pr0xy-secret', () => server.devicePort);
        const state = await sdkRegisterMqttWs(agent, ca, fx.idScope, dev);
        assert.equal(state.assignedHub, 'localhost');
        const client = deviceSdk.Client.fromConnectionString(
          `HostName=localhost;DeviceId=${state.deviceId};x509=true`,
          deviceMqtt.MqttWs,
        );
        await client.setOptions({
          cert: dev.chainPem,
          key: dev.keyPem,
          ca,
          mqtt: { webSocketAgent: agent },
        } as never);
        await client.open();
        try {
          const twin = await client.getTwin();
          assert.equal(twin.properties.desired.interval, 10);
          await new Promise<void>((resolve, reject) =>
            twin.properties.reported.update({ transport: 'mqtt-ws' }, (err?: Error) =>
              err ? reject(err) : resolve(),
            ),
          );
        } finally {
          await client.close();
        }
        const shown = await api('GET', `/v1/tenants/${fx.idScope}/devices/localhost/${state.deviceId}`);
        assert.equal(shown.body.twin.properties.reported.transport, 'mqtt-ws');
        assert.match(proxy.log(), new RegExp(`CONNECT localhost:${server.devicePort}`));
        assert.doesNotMatch(proxy.log(), new RegExp(`CONNECT localhost:${server.mqttPort}`));
      } finally {
        proxy.stop();
      }
    },
  );
});
