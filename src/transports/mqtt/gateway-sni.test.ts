import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { certificatePem } from '../../pki/certificate.ts';
import { exportPrivateKeyPem } from '../../pki/keys.ts';
import { adminClient } from '../../testing/admin.ts';
import { makeLeaf, makeRoot, type TestCa } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const TEMPLATE = JSON.stringify({
  Parameters: {
    'AWS::IoT::Certificate::CommonName': { Type: 'String' },
    'AWS::IoT::Certificate::Id': { Type: 'String' },
    Line: { Type: 'String', Default: 'none' },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' },
        AttributePayload: { line: { Ref: 'Line' } },
      },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' } },
    },
  },
});

describe('the gateway: SNI picks the scope, a pre-provisioning hook decides', () => {
  let server: TestServer;
  let api: ReturnType<typeof adminClient>;
  let root: TestCa;
  before(async () => {
    server = await startTestServer();
    api = adminClient(server);
    root = makeRoot('Shared Root');
    for (const s of ['scopea', 'scopeb']) {
      assert.equal((await api('POST', '/v1/tenants', { name: s, idScope: s })).status, 201);
      const up = await api('POST', `/v1/tenants/${s}/cas`, {
        name: 'shared',
        certificate: certificatePem(root.cert),
        verified: true,
      });
      assert.equal(up.status, 201);
    }
  });
  after(async () => {
    await server?.dispose();
  });

  const connect = (dev: ReturnType<typeof makeLeaf>, clientId: string, servername?: string) =>
    mqtt.connectAsync(`mqtts://127.0.0.1:${server.mqttPort}`, {
      clientId,
      ca: certificatePem(server.devPki.root.certificate),
      cert: certificatePem(dev.cert),
      key: exportPrivateKeyPem(dev.key),
      reconnectPeriod: 0,
      ...(servername ? { servername } : {}),
      // The test server's certificate does not name the scope endpoints (a TLS option mqtt.js passes on).
      ...({ checkServerIdentity: () => undefined } as object),
    });

  it('lets a CA be in DEFAULT mode in one scope only, in SNI_ONLY in several, and SNI_ONLY needs an endpoint', async () => {
    const noEndpoint = await api('PUT', '/v1/tenants/scopea/iot/cas/shared', { certificateMode: 'SNI_ONLY' });
    assert.equal(noEndpoint.status, 400);
    assert.match(noEndpoint.body.message, /endpoint/);
    assert.equal(
      (await api('PUT', '/v1/tenants/scopea/iot/cas/shared', { allowAutoRegistration: true })).status,
      200,
    );
    const twice = await api('PUT', '/v1/tenants/scopeb/iot/cas/shared', { allowAutoRegistration: true });
    assert.equal(twice.status, 409);
    assert.match(twice.body.message, /DEFAULT mode in one scope only/);
    for (const s of ['scopea', 'scopeb']) {
      const set = await api('PATCH', `/v1/tenants/${s}/iot/settings`, { endpoint: `${s}.iot.example.test` });
      assert.equal(set.status, 200, JSON.stringify(set.body));
      const r = await api('PUT', `/v1/tenants/${s}/iot/cas/shared`, {
        certificateMode: 'SNI_ONLY',
        allowAutoRegistration: true,
        registrationConfig: { templateBody: TEMPLATE },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
    const taken = await api('PATCH', '/v1/tenants/scopeb/iot/settings', {
      endpoint: 'scopea.iot.example.test',
    });
    assert.equal(taken.status, 409);
  });

  it('provisions a device in the scope its SNI names, and refuses one without SNI when the CA is SNI_ONLY', async () => {
    const dev = makeLeaf(root, 'sni-device');
    const c = await connect(dev, 'sni-device', 'scopeb.iot.example.test');
    await c.endAsync();
    assert.equal((await api('GET', '/v1/tenants/scopeb/iot/things/sni-device')).status, 200);
    assert.equal((await api('GET', '/v1/tenants/scopea/iot/things/sni-device')).status, 404);
    await assert.rejects(connect(makeLeaf(root, 'no-sni'), 'no-sni'), /Not authorized/);
    assert.ok(
      server.logs.some((l) => l.includes('not signed by a CA registered for JITP/JITR in DEFAULT mode')),
    );
  });

  it('asks the pre-provisioning hook: its parameters are used, and a denial says why', async () => {
    const seen: any[] = [];
    const hook = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        const b = JSON.parse(body);
        seen.push(b);
        const allow = b.parameters['AWS::IoT::Certificate::CommonName'] !== 'blocked-device';
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(
            JSON.stringify(
              allow
                ? { allowProvisioning: true, parameterOverrides: { Line: 'line-7' } }
                : { allowProvisioning: false, reason: 'on the blocklist' },
            ),
          );
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/hook`;
    assert.equal(
      (await api('PATCH', '/v1/tenants/scopea/iot/cas/shared', { preProvisioningHook: { url } })).status,
      200,
    );
    // Secrets of hooks and webhooks are write-only: answers say one is set, never what it is.
    const withSecret = await api('PATCH', '/v1/tenants/scopeb/iot/cas/shared', {
      preProvisioningHook: { url, secret: 'a-hook-secret-of-some-length' },
    });
    assert.equal(withSecret.body.awsRegistration.preProvisioningHook.secret, '********');
    const settings = await api('PATCH', '/v1/tenants/scopeb/iot/settings', {
      eventWebhooks: [{ url, secret: 'a-webhook-secret-long-enough' }],
    });
    assert.deepEqual(settings.body.eventWebhooks, [{ url, secret: '********' }]);
    assert.doesNotMatch(JSON.stringify((await api('GET', '/v1/tenants/scopeb/cas')).body), /a-hook-secret/);
    const ok = await connect(makeLeaf(root, 'hooked-device'), 'hooked-device', 'scopea.iot.example.test');
    await ok.endAsync();
    const thing = await api('GET', '/v1/tenants/scopea/iot/things/hooked-device');
    assert.deepEqual(thing.body.attributes, { line: 'line-7' });
    assert.equal(seen[0].clientId, 'hooked-device');
    await assert.rejects(
      connect(makeLeaf(root, 'blocked-device'), 'blocked-device', 'scopea.iot.example.test'),
      /Not authorized/,
    );
    const certs = await api('GET', '/v1/tenants/scopea/iot/certificates?status=PENDING_ACTIVATION');
    const blocked = certs.body.items.find((x: { subject: string }) => x.subject.includes('blocked-device'));
    assert.match(blocked.lastEvent.reason, /pre-provisioning hook denied provisioning: on the blocklist/);
    hook.close();
    // A hook that answers without end is cut off at 64 KiB and provisioning is denied.
    const endless = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"allowProvisioning": true, "pad": "');
      const chunk = 'x'.repeat(16 * 1024);
      const timer = setInterval(() => res.write(chunk), 1);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((r) => endless.listen(0, '127.0.0.1', r));
    const endlessUrl = `http://127.0.0.1:${(endless.address() as AddressInfo).port}/hook`;
    assert.equal(
      (await api('PATCH', '/v1/tenants/scopea/iot/cas/shared', { preProvisioningHook: { url: endlessUrl } }))
        .status,
      200,
    );
    await assert.rejects(
      connect(makeLeaf(root, 'endless-device'), 'endless-device', 'scopea.iot.example.test'),
      /Not authorized/,
    );
    const after = await api('GET', '/v1/tenants/scopea/iot/certificates?status=PENDING_ACTIVATION');
    const cut = after.body.items.find((x: { subject: string }) => x.subject.includes('endless-device'));
    assert.match(cut.lastEvent.reason, /larger than 65536 bytes/);
    endless.closeAllConnections();
    endless.close();
  });
});
