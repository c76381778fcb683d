import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { certificatePem } from '../../pki/certificate.ts';
import * as der from '../../pki/der.ts';
import { encodeExtension } from '../../pki/extensions.ts';
import { exportPrivateKeyPem, generateKey } from '../../pki/keys.ts';
import { toPem } from '../../pki/pem.ts';
import { adminClient } from '../../testing/admin.ts';
import { type DeviceIdentity, dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { deviceRequest } from '../../testing/dps-client.ts';
import { forgeCertificate } from '../../testing/forge.ts';
import { makeIntermediate, makeRoot } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('device listener hardening', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let ca: string;
  let api: ReturnType<typeof adminClient>;
  const V = 'api-version=2025-07-01-preview';
  before(async () => {
    server = await startTestServer({
      logLevel: 'info',
      flags: { 'device.max_chain_certificates': 4, 'device.max_certificate_bytes': 4096 },
    });
    api = adminClient(server);
    fx = await dpsFixture(server, 'hard');
    ca = certificatePem(server.devPki.root.certificate);
    const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/line`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
  });
  after(async () => {
    await server?.dispose();
  });

  const put = (dev: DeviceIdentity | undefined, body: unknown, id = dev?.registrationId ?? 'x') =>
    deviceRequest(
      server.devicePort,
      ca,
      dev,
      'PUT',
      `/${fx.idScope}/registrations/${id}/register?${V}`,
      JSON.stringify(body),
    );

  it('reads a csr only after the chain matched an enrollment, and caps its length', async () => {
    const stranger = makeDevice(makeRoot('Stranger'), 'stranger-01');
    // Garbage that would take the CSR parser's time: the stranger never gets that far.
    const r = await put(stranger, { registrationId: 'stranger-01', csr: 'MIIB'.repeat(5000) });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.info.code, 'CHAIN_UNKNOWN_ISSUER');
    const long = await put(stranger, { registrationId: 'stranger-01', csr: 'A'.repeat(40_000) });
    assert.equal(long.status, 400);
    assert.match(long.json.message, /csr is longer than 32768 characters/);
  });

  it('answers a poll only to the certificate that registered', async () => {
    const dev = makeDevice(fx.intermediate, 'poller-01');
    const r = await put(dev, { registrationId: 'poller-01' });
    assert.equal(r.status, 202, r.text);
    const path = `/${fx.idScope}/registrations/poller-01/operations/${r.json.operationId}?${V}`;
    const anonymous = await deviceRequest(server.devicePort, ca, undefined, 'GET', path);
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json.info.code, 'CHAIN_EMPTY');
    const other = makeDevice(fx.intermediate, 'poller-01');
    const wrong = await deviceRequest(server.devicePort, ca, other, 'GET', path);
    assert.equal(wrong.status, 401);
    assert.match(wrong.json.message, /started with another certificate/);
    const own = await deviceRequest(server.devicePort, ca, dev, 'GET', path);
    assert.ok(own.status === 200 || own.status === 202, own.text);
  });

  it('refuses chains over device.max_chain_certificates and certificates over device.max_certificate_bytes before parsing them', async () => {
    let parent = fx.intermediate;
    const chain = [parent];
    for (let i = 0; i < 3; i++) {
      parent = makeIntermediate(parent, `Deep ${i}`);
      chain.unshift(parent);
    }
    const deep = makeDevice(parent, 'deep-01', chain.slice(1));
    const r = await put(deep, { registrationId: 'deep-01' });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.info.code, 'CHAIN_TOO_LONG');
    assert.match(r.json.message, /more than 4 certificates/);

    const key = generateKey('p256');
    const bigExt = encodeExtension('1.3.6.1.4.1.55555.1', false, der.octetString(Buffer.alloc(6000, 1)));
    const big = forgeCertificate(fx.intermediate, { parts: (p) => p.extensions!.push(bigExt) }, key);
    const dev: DeviceIdentity = {
      registrationId: 'dev-01',
      chainPem: toPem('CERTIFICATE', big) + certificatePem(fx.intermediate.cert),
      keyPem: exportPrivateKeyPem(key),
      sha256: '',
    };
    const b = await put(dev, { registrationId: 'dev-01' });
    assert.equal(b.status, 400, b.text);
    assert.equal(b.json.info.code, 'CERT_MALFORMED');
    assert.match(b.json.message, /larger than the 4096-byte limit/);
  });

  it('answers a bad percent escape in a CRL path with 400', async () => {
    const r = await deviceRequest(server.devicePort, ca, undefined, 'GET', `/crl/${fx.idScope}/%25zz.crl`);
    assert.equal(r.status, 400, r.text);
  });

  it('binds SAS tokens to this server and to a maximum lifetime', async () => {
    const p = await api('PUT', `/v1/tenants/${fx.idScope}/access-policies/svc`, {});
    assert.equal(p.status, 200, JSON.stringify(p.body));
    const key = p.body.primaryKey as string;
    const sas = (sr: string, se: number) => {
      const sig = createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64');
      return `SharedAccessSignature sr=${encodeURIComponent(sr)}&sig=${encodeURIComponent(sig)}&se=${se}&skn=svc`;
    };
    const now = Math.floor(Date.now() / 1000);
    const get = (auth: string) =>
      deviceRequest(
        server.devicePort,
        ca,
        undefined,
        'GET',
        '/enrollmentGroups/line?api-version=2021-10-01',
        undefined,
        undefined,
        {
          authorization: auth,
        },
      );
    assert.equal((await get(sas('localhost', now + 3600))).status, 200);
    const elsewhere = await get(sas('other-dps.example.com', now + 3600));
    assert.equal(elsewhere.status, 401);
    assert.match(elsewhere.json.message, /signed for "other-dps.example.com", not for this server/);
    const forever = await get(sas('localhost', now + 10 * 365 * 86400));
    assert.equal(forever.status, 401);
    assert.match(forever.json.message, /valid for longer than 86400 s/);
  });

  it('creates the SQLite files for their owner only', () => {
    for (const f of ['zerotouch.db', 'zerotouch.db-wal']) {
      assert.equal(statSync(join(server.config.dataDir, f)).mode & 0o777, 0o600, f);
    }
  });
});

describe('per-source limits on the device listeners', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let ca: string;
  before(async () => {
    server = await startTestServer({
      logLevel: 'info',
      flags: { 'device.auth_failures_per_minute': 5, 'device.max_connections_per_source': 3 },
    });
    fx = await dpsFixture(server, 'limits');
    ca = certificatePem(server.devPki.root.certificate);
  });
  after(async () => {
    await server?.dispose();
  });

  it('answers 429 with Retry-After, before any work, once a source spent its failed-authentication budget', async () => {
    const stranger = makeDevice(makeRoot('Limit Stranger'), 'limit-01');
    const path = `/${fx.idScope}/registrations/limit-01/register?api-version=2021-06-01`;
    const codes: number[] = [];
    for (let i = 0; i < 7; i++) {
      codes.push((await deviceRequest(server.devicePort, ca, stranger, 'PUT', path, '{}')).status);
    }
    assert.deepEqual(codes.slice(0, 5), [401, 401, 401, 401, 401]);
    const blocked = await deviceRequest(server.devicePort, ca, stranger, 'PUT', path, '{}');
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json.errorCode, 429001);
    assert.match(String(blocked.headers['retry-after']), /^\d+$/);
    // The same source's legitimate device waits too; health checks do not.
    const good = makeDevice(fx.intermediate, 'limit-good');
    const g = await deviceRequest(
      server.devicePort,
      ca,
      good,
      'PUT',
      path.replace('limit-01', 'limit-good'),
      '{}',
    );
    assert.equal(g.status, 429);
    assert.equal((await deviceRequest(server.devicePort, ca, undefined, 'GET', '/healthz')).status, 200);
    // The MQTT listener shares the budget: the same source gets CONNACK 3 (server unavailable).
    await assert.rejects(
      mqtt.connectAsync(`mqtts://localhost:${server.mqttPort}`, {
        clientId: 'limit-good',
        username: `${fx.idScope}/registrations/limit-good/api-version=2019-03-31`,
        ca,
        cert: good.chainPem,
        key: good.keyPem,
        reconnectPeriod: 0,
      }),
      /Server unavailable/i,
    );
    assert.ok(server.logs.some((l) => l.includes('too many failed authentications from this address')));
  });

  it('closes connections over device.max_connections_per_source before the handshake', async () => {
    const open = () =>
      new Promise<'open' | 'closed'>((resolve) => {
        const s = connect({ host: '127.0.0.1', port: server.devicePort, servername: 'localhost', ca });
        s.once('secureConnect', () => resolve('open'));
        s.once('error', () => resolve('closed'));
        s.once('close', () => resolve('closed'));
        sockets.push(s);
      });
    const sockets: ReturnType<typeof connect>[] = [];
    const results = [await open(), await open(), await open(), await open()];
    assert.deepEqual(results, ['open', 'open', 'open', 'closed']);
    for (const s of sockets) s.destroy();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await open(), 'open', 'closed connections free their slots');
    for (const s of sockets) s.destroy();
  });
});
