import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { mosquittoPub, mosquittoSub, opensslRoot, opensslSigned, withCa } from '../../testing/jitp.ts';
import { scratchDir } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const DG_TEMPLATE = readFileSync(
  join(import.meta.dirname, '..', '..', 'features', 'templates', 'testdata', 'dg-jitp-template.json'),
  'utf8',
);
// The JITP blog's template: thing named by the certificate Id, a country attribute, Publish on *.
const BLOG_TEMPLATE = JSON.stringify({
  Parameters: {
    'AWS::IoT::Certificate::Country': { Type: 'String' },
    'AWS::IoT::Certificate::Id': { Type: 'String' },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { Ref: 'AWS::IoT::Certificate::Id' },
        AttributePayload: { version: 'v1', country: { Ref: 'AWS::IoT::Certificate::Country' } },
      },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: {
        PolicyDocument:
          '{\"Version\": \"2012-10-17\",\"Statement\": [{\"Effect\":\"Allow\",\"Action\": [\"iot:Publish\"],\"Resource\": [\"*\"]}]}',
      },
    },
  },
});

describe('JITP and JITR on the MQTT device gateway', () => {
  let server: TestServer;
  let api: ReturnType<typeof adminClient>;
  const dir = scratchDir('zt-jitp-');
  const p = (f: string) => join(dir, f);
  let cafile: string;
  let tenantId: string;
  const scope = 'jitpscope';

  const registerCa = async (
    name: string,
    ca: { key: string; pem: string },
    extra: Record<string, unknown>,
  ) => {
    const up = await api('POST', `/v1/tenants/${scope}/cas`, {
      name,
      certificate: readFileSync(ca.pem, 'utf8'),
    });
    assert.equal(up.status, 201, JSON.stringify(up.body));
    const code = await server.services.iot.registry.registrationCode(tenantId);
    const verif = opensslSigned(dir, `${name}-verification`, `/CN=${code}`, ca);
    return server.services.iot.cas.register(tenantId, name, {
      verificationCertificate: readFileSync(verif.pem, 'utf8'),
      setAsActive: true,
      allowAutoRegistration: true,
      ...extra,
    });
  };
  const pub = (cert: string, key: string, topic: string, extra: string[] = []) =>
    mosquittoPub({
      port: server.mqttPort,
      cafile,
      cert,
      key,
      args: ['-q', '1', '-t', topic, '-I', 'anyclientID', '-m', 'Hello', ...extra],
    });

  before(async () => {
    server = await startTestServer();
    api = adminClient(server);
    cafile = p('server-ca.pem');
    writeFileSync(cafile, certificatePem(server.devPki.root.certificate));
    const t = await api('POST', '/v1/tenants', { name: 'JITP plant', idScope: scope });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    tenantId = t.body.id;
    await server.services.iot.registry.updateSettings(tenantId, {
      region: 'us-east-1',
      accountId: '123456789012',
    });
  });
  after(async () => {
    await server?.dispose();
  });

  it('provisions on the first connection with the DG template as pasted, and holds the device to its policy', async () => {
    const root = opensslRoot(dir, 'dg-root');
    await registerCa('dg-root', root, {
      registrationConfig: { templateBody: DG_TEMPLATE, roleArn: 'arn:aws:iam::123456789012:role/JITPRole' },
    });
    const reg = server.services.iot.registry;
    await reg.createNamed(tenantId, 'thing-type', 'lightBulb-versionA');
    await reg.createNamed(tenantId, 'thing-group', 'v1-lightbulbs');
    await reg.createNamed(tenantId, 'thing-group', 'US');
    const dev = opensslSigned(dir, 'bulb1', '/C=US/ST=WA/O=Example/CN=bulb-0001/serialNumber=SN0001', root);
    const chain = withCa(dir, dev, root, 'deviceCertAndCACert.crt');
    const first = await pub(chain, dev.key, 'foo/bar');
    assert.equal(first.code, 0, first.stderr);
    const thing = await reg.getThing(tenantId, 'bulb-0001');
    assert.deepEqual(thing.attributes, { version: 'v1', serialNumber: 'SN0001' });
    assert.equal(thing.thingTypeName, 'lightBulb-versionA');
    assert.deepEqual([...thing.thingGroups].sort(), ['US', 'v1-lightbulbs']);
    // The certificate ID is the SHA-256 of the DER, as AWS computes it.
    const derHash = createHash('sha256')
      .update(execFileSync('openssl', ['x509', '-in', dev.pem, '-outform', 'DER']))
      .digest('hex');
    const cert = await reg.getCertificate(tenantId, derHash);
    assert.match(cert.subject, /bulb-0001/);
    assert.equal(cert.status, 'ACTIVE');
    assert.deepEqual(await reg.thingsOf(tenantId, cert.certificateId), ['bulb-0001']);
    const policies = await reg.attachedPolicies(tenantId, cert.certificateId);
    assert.equal(policies.length, 1);
    assert.match(policies[0]!, /^[0-9A-F]{40}$/);
    // Another topic: the policy allows only foo/bar, so the gateway closes the connection.
    const denied = await pub(chain, dev.key, 'foo/other');
    assert.notEqual(denied.code, 0);
    assert.ok(server.logs.some((l) => l.includes('MQTT publish refused') && l.includes('topic/foo/other')));
    // The leaf alone (no CA in the chain) connects too.
    const leafOnly = await pub(dev.pem, dev.key, 'foo/bar');
    assert.equal(leafOnly.code, 0, leafOnly.stderr);
  });

  it('names the thing from the certificate Id with the blog template, and a subscriber with a permitted certificate receives', async () => {
    const root = opensslRoot(dir, 'blog-root');
    await registerCa('blog-root', root, { registrationConfig: { templateBody: BLOG_TEMPLATE } });
    const reg = server.services.iot.registry;
    const dev = opensslSigned(dir, 'blog1', '/C=DE/CN=sensor-1', root);
    const chain = withCa(dir, dev, root, 'blog1-chain.crt');
    // The subscriber: an operator-registered certificate with a policy to subscribe and receive.
    const subDev = opensslSigned(dir, 'listener', '/CN=listener', root);
    const subCert = (
      await reg.insertCertificate(
        tenantId,
        await reg.newCertificate(
          tenantId,
          (await import('../../pki/certificate.ts')).loadCertificate(readFileSync(subDev.pem)),
          {
            status: 'ACTIVE',
            mode: 'DEFAULT',
            caName: 'blog-root',
            by: 'test',
          },
        ),
        (await import('../../pki/certificate.ts')).loadCertificate(readFileSync(subDev.pem)),
      )
    ).certificate;
    await reg.createPolicy(
      tenantId,
      'listen',
      {
        Version: '2012-10-17',
        Statement: [
          {
            Effect: 'Allow',
            Action: ['iot:Subscribe', 'iot:Receive'],
            Resource: [
              'arn:aws:iot:us-east-1:123456789012:topicfilter/telemetry/*',
              'arn:aws:iot:us-east-1:123456789012:topic/telemetry/*',
            ],
          },
        ],
      },
      'test',
    );
    await reg.attachPolicy(tenantId, 'listen', subCert.certificateId);
    const sub = mosquittoSub({
      port: server.mqttPort,
      cafile,
      cert: subDev.pem,
      key: subDev.key,
      args: ['-t', 'telemetry/#', '-q', '1', '-i', 'listener'],
    });
    await sleep(1000);
    const sent = await pub(chain, dev.key, 'telemetry/room1');
    assert.equal(sent.code, 0, sent.stderr);
    for (let i = 0; i < 50 && sub.messages.length === 0; i++) await sleep(100);
    sub.stop();
    assert.deepEqual(sub.messages, ['Hello'], sub.stderr());
    const id = (await reg.listCertificates(tenantId, {})).items.find((c) =>
      c.subject.includes('sensor-1'),
    )!.certificateId;
    const thing = await reg.getThing(tenantId, id);
    assert.deepEqual(thing.attributes, { version: 'v1', country: 'DE' });
  });

  it('fails closed when the certificate lacks a declared subject field, and says which in the certificate record', async () => {
    const root = opensslRoot(dir, 'strict-root');
    await registerCa('strict-root', root, { registrationConfig: { templateBody: BLOG_TEMPLATE } });
    const dev = opensslSigned(dir, 'nocountry', '/CN=no-country', root);
    const r = await pub(dev.pem, dev.key, 'foo/bar');
    assert.notEqual(r.code, 0);
    const certs = await server.services.iot.registry.listCertificates(tenantId, { caName: 'strict-root' });
    const c = certs.items[0]!;
    assert.equal(c.status, 'PENDING_ACTIVATION');
    assert.equal(c.lastEvent?.outcome, 'provisioning-failed');
    assert.equal(c.lastEvent?.missingParameter, 'AWS::IoT::Certificate::Country');
    assert.match(c.lastEvent!.reason!, /no C \(country\) attribute/);
  });

  it('closes the first connection in aws-compatible mode; the second succeeds', async () => {
    const root = opensslRoot(dir, 'compat-root');
    await registerCa('compat-root', root, {
      registrationConfig: { templateBody: BLOG_TEMPLATE },
      firstConnection: 'aws-compatible',
    });
    const dev = opensslSigned(dir, 'compat1', '/C=FR/CN=compat-1', root);
    const first = await pub(dev.pem, dev.key, 'foo/bar');
    assert.notEqual(first.code, 0);
    const second = await pub(dev.pem, dev.key, 'foo/bar');
    assert.equal(second.code, 0, second.stderr);
  });

  it('registers a certificate as PENDING_ACTIVATION without a template (JITR), tells subscribers, and connects once activated', async () => {
    const root = opensslRoot(dir, 'jitr-root');
    const ca = await registerCa('jitr-root', root, {});
    const reg = server.services.iot.registry;
    const watcher = opensslSigned(dir, 'watcher', '/CN=watcher', root);
    const w = (await import('../../pki/certificate.ts')).loadCertificate(readFileSync(watcher.pem));
    const wc = (
      await reg.insertCertificate(
        tenantId,
        await reg.newCertificate(tenantId, w, {
          status: 'ACTIVE',
          mode: 'DEFAULT',
          caName: 'jitr-root',
          by: 'test',
        }),
        w,
      )
    ).certificate;
    await reg.createPolicy(
      tenantId,
      'events',
      {
        Version: '2012-10-17',
        Statement: [{ Effect: 'Allow', Action: ['iot:Subscribe', 'iot:Receive'], Resource: ['*'] }],
      },
      'test',
    );
    await reg.attachPolicy(tenantId, 'events', wc.certificateId);
    const client = await mqtt.connectAsync(`mqtts://localhost:${server.mqttPort}`, {
      clientId: 'event-watcher',
      ca: readFileSync(cafile),
      cert: readFileSync(watcher.pem),
      key: readFileSync(watcher.key),
      reconnectPeriod: 0,
    });
    const events: Array<{ topic: string; body: any }> = [];
    client.on('message', (topic, payload) => events.push({ topic, body: JSON.parse(payload.toString()) }));
    await client.subscribeAsync('$aws/events/#', { qos: 1 });
    // A webhook is told too, from the outbox.
    const hooked: Array<{ event: string; body: any }> = [];
    const hookServer = createServer((req, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        hooked.push({ event: String(req.headers['x-zerotouch-event']), body: JSON.parse(body) });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => hookServer.listen(0, '127.0.0.1', r));
    await reg.updateSettings(tenantId, {
      eventWebhooks: [{ url: `http://127.0.0.1:${(hookServer.address() as AddressInfo).port}/iot-events` }],
    });
    const dev = opensslSigned(dir, 'jitr1', '/CN=jitr-1', root);
    const first = await pub(dev.pem, dev.key, 'foo/bar');
    assert.notEqual(first.code, 0);
    for (let i = 0; i < 50 && !events.some((e) => e.topic.includes('/registered/')); i++) await sleep(100);
    const ev = events.find(
      (e) => e.topic === `$aws/events/certificates/registered/${ca.awsRegistration!.certificateId}`,
    );
    assert.ok(ev, JSON.stringify(events));
    assert.equal(ev.body.certificateStatus, 'PENDING_ACTIVATION');
    assert.equal(ev.body.awsAccountId, '123456789012');
    assert.equal(typeof ev.body.timestamp, 'number');
    const id = ev.body.certificateId as string;
    for (let i = 0; i < 50 && !hooked.some((h) => h.event === ev.topic); i++) await sleep(100);
    assert.deepEqual(hooked.find((h) => h.event === ev.topic)?.body.certificateId, id);
    hookServer.close();
    await reg.updateSettings(tenantId, { eventWebhooks: [] });
    assert.equal((await reg.getCertificate(tenantId, id)).status, 'PENDING_ACTIVATION');
    // The operator activates it and attaches a policy; the device's retry connects.
    await reg.setCertificateStatus(tenantId, id, 'ACTIVE');
    await reg.createPolicy(
      tenantId,
      'pub-any',
      { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: '*' }] },
      'test',
    );
    await reg.attachPolicy(tenantId, 'pub-any', id);
    const retry = await pub(dev.pem, dev.key, 'foo/bar');
    assert.equal(retry.code, 0, retry.stderr);
    for (let i = 0; i < 50 && !events.some((e) => e.topic.startsWith('$aws/events/presence/connected/')); i++)
      await sleep(100);
    assert.ok(
      events.some((e) => e.topic.startsWith('$aws/events/presence/connected/anyclientID')),
      JSON.stringify(events.map((e) => e.topic)),
    );
    // mosquitto_pub disconnects after its publish: the disconnected event follows.
    for (
      let i = 0;
      i < 50 && !events.some((e) => e.topic.startsWith('$aws/events/presence/disconnected/anyclientID'));
      i++
    )
      await sleep(100);
    const gone = events.find((e) => e.topic.startsWith('$aws/events/presence/disconnected/anyclientID'));
    assert.equal(gone?.body.eventType, 'disconnected');
    assert.equal(gone?.body.principalIdentifier, id);
    await client.endAsync();
  });

  it('answers an MQTT 5 client that the protocol version is not supported (the broker speaks 3.1 and 3.1.1)', async () => {
    const r = await pub(p('bulb1.crt'), p('bulb1.key'), 'foo/bar', ['-V', 'mqttv5']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /protocol/i);
  });

  it('refuses an INACTIVE or REVOKED certificate, with the reason in its record and the log', async () => {
    const reg = server.services.iot.registry;
    const id = createHash('sha256')
      .update(execFileSync('openssl', ['x509', '-in', p('bulb1.crt'), '-outform', 'DER']))
      .digest('hex');
    for (const status of ['INACTIVE', 'REVOKED'] as const) {
      await reg.setCertificateStatus(tenantId, id, status);
      const r = await pub(p('bulb1.crt'), p('bulb1.key'), 'foo/bar');
      assert.notEqual(r.code, 0);
      const c = await reg.getCertificate(tenantId, id);
      assert.equal(c.lastEvent?.outcome, 'refused');
      assert.match(c.lastEvent!.reason!, new RegExp(`is ${status}; only ACTIVE certificates connect`));
    }
    await assert.rejects(reg.setCertificateStatus(tenantId, id, 'ACTIVE'), /REVOKED/);
    // Both refusals are in the scope's audit trail too, as the MQTT face's.
    let rows: Array<{ code?: string; detail?: { face?: string } }> = [];
    for (let i = 0; i < 50 && rows.length < 2; i++) {
      rows = await server.services.audit.list(tenantId, {
        target: `iot-certificate/${id}`,
        action: 'device.refused',
      });
      if (rows.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    assert.deepEqual(
      rows.map((r) => [r.code, r.detail?.face]),
      [
        ['certificate INACTIVE', 'mqtt'],
        ['certificate REVOKED', 'mqtt'],
      ],
    );
  });

  it("counts provisionings with AWS's metric names and refusals by reason on /metrics", async () => {
    const res = await fetch(`${server.adminUrl}/metrics`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    assert.equal(res.status, 200);
    const text = await res.text();
    const value = (re: RegExp) => Number(re.exec(text)?.[1] ?? 'NaN');
    assert.ok(value(/zerotouch_ProvisionThing_total\{result="Success"\} (\d+)/) >= 3, text);
    assert.ok(value(/zerotouch_ProvisionThing_total\{result="ClientError"\} (\d+)/) >= 1);
    assert.ok(
      value(
        /zerotouch_gateway_connections_total\{outcome="refused",reason="certificate PENDING_ACTIVATION \(JITR\)"\} (\d+)/,
      ) >= 1,
    );
    assert.ok(value(/zerotouch_gateway_denied_total\{action="iot:Publish"\} (\d+)/) >= 1);
    assert.equal((await fetch(`${server.adminUrl}/metrics`)).status, 401);
  });
});
