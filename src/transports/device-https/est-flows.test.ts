import assert from 'node:assert/strict';
import { connect, type TLSSocket } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { type Certificate, certificatePem, parseCertificate } from '../../pki/certificate.ts';
import { createCsr } from '../../pki/csr.ts';
import * as der from '../../pki/der.ts';
import { exportPrivateKeyPem, generateKey } from '../../pki/keys.ts';
import { encodeName } from '../../pki/names.ts';
import { OID } from '../../pki/oids.ts';
import { base64Lines } from '../../pki/pem.ts';
import { signatureAlgorithmFor, signWith } from '../../pki/algorithms.ts';
import { spkiDer } from '../../pki/keys.ts';
import { decodeCertsOnly } from '../../pki/pkcs7.ts';
import { adminClient } from '../../testing/admin.ts';
import type { DeviceIdentity } from '../../testing/dps.ts';
import { deviceRequest, registerAndWait } from '../../testing/dps-client.ts';
import { aziotEnroll, type EstTarget, estRequest } from '../../testing/est-client.ts';
import { reencodeSignature } from '../../testing/forge.ts';
import { makeLeaf, makeRoot } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const identity = (chain: Certificate[], key: ReturnType<typeof generateKey>): DeviceIdentity => ({
  registrationId: chain[0]!.commonName!,
  chainPem: chain.map(certificatePem).join(''),
  keyPem: exportPrivateKeyPem(key),
  sha256: chain[0]!.sha256,
});

describe('EST clients and the EST + DPS seed flow', () => {
  let server: TestServer;
  let api: ReturnType<typeof adminClient>;
  let scope = '';
  let ca = '';
  let target: EstTarget;
  const basic = { user: 'edge', password: 'edge-password-1' };

  before(async () => {
    server = await startTestServer({ logLevel: 'warn' });
    api = adminClient(server);
    ca = certificatePem(server.devPki.root.certificate);
    scope = (await api('POST', '/v1/tenants', { name: 'est-flows' })).body.idScope;
    const ic = await api('POST', `/v1/tenants/${scope}/issuing-cas`, { name: 'edge-ca' });
    assert.equal(ic.status, 201, JSON.stringify(ic.body));
    assert.equal(ic.body.dpsCaCertificate, 'edge-ca', 'also a verified DPS CA');
    await api('PUT', `/v1/tenants/${scope}/hubs/hub-1.example.com`, { region: 'westeurope' });
    const l = await api('PUT', `/v1/tenants/${scope}/est-labels/edge`, { profile: 'device-1d' });
    assert.equal(l.status, 200, JSON.stringify(l.body));
    await api('PUT', `/v1/tenants/${scope}/est-labels/edge/users/${basic.user}`, {
      password: basic.password,
    });
    target = { port: server.devicePort, ca, path: '/.well-known/est/edge' };
  });
  after(async () => {
    await server?.dispose();
  });

  it('serves aziot-certd: concurrent cacerts + simpleenroll with pre-emptive Basic, renewal as simpleenroll with the issued leaf', async () => {
    const key = generateKey('p256');
    const first = await aziotEnroll(target, key, { CN: 'aziot-device' }, { basic });
    assert.equal(first.chain[0]!.commonName, 'aziot-device');
    assert.equal(first.chain.length, 2, 'leaf from simpleenroll, then the CA from cacerts');
    assert.ok(first.chain[0]!.issuer.der.equals(first.chain[1]!.subject.der));

    // renewal: no password, TLS client certificate = the leaf alone, a new key (rotate_key)
    const key2 = generateKey('p256');
    const renewed = await aziotEnroll(
      target,
      key2,
      { CN: 'aziot-device' },
      {
        cert: { certPem: certificatePem(first.chain[0]!), key },
      },
    );
    assert.notEqual(renewed.chain[0]!.serialNumber, first.chain[0]!.serialNumber);
    const list = await api('GET', `/v1/tenants/${scope}/certificates?subject=aziot-device`);
    assert.deepEqual(list.body.items.map((c: any) => [c.method, c.requester]).sort(), [
      ['est-simpleenroll', 'est-cert:CN=aziot-device'],
      ['est-simpleenroll', 'est-user:edge'],
    ]);
  });

  it('issues an EST identity to a bootstrap certificate, then device certificates to that identity', async () => {
    const maker = makeRoot('Manufacturer Root');
    const up = await api('POST', `/v1/tenants/${scope}/cas`, {
      name: 'manufacturer',
      certificate: certificatePem(maker.cert),
      verified: true,
    });
    assert.equal(up.status, 201);
    const l = await api('PUT', `/v1/tenants/${scope}/est-labels/bootstrap`, {
      basicAuth: false,
      bootstrapCas: ['manufacturer'],
      profile: 'device',
    });
    assert.equal(l.status, 200, JSON.stringify(l.body));
    const t = { ...target, path: '/.well-known/est/bootstrap' };
    const boot = makeLeaf(maker, 'idevid-77');
    // without a certificate: 401 without a Basic challenge (this label takes certificates only)
    const none = await estRequest(
      t,
      'POST',
      'simpleenroll',
      {},
      base64Lines(createCsr(generateKey('p256'), { CN: 'x' })),
    );
    assert.equal(none.status, 401);
    assert.equal(none.headers['www-authenticate'], undefined);
    assert.match(none.body.toString(), /needs a client certificate/);

    const estIdKey = generateKey('p256');
    const estId = await aziotEnroll(
      t,
      estIdKey,
      { CN: 'est-id-77' },
      { cert: { certPem: certificatePem(boot.cert), key: boot.key } },
    );
    const devKey = generateKey('p256');
    const dev = await aziotEnroll(
      t,
      devKey,
      { CN: 'device-77' },
      {
        cert: { certPem: certificatePem(estId.chain[0]!), key: estIdKey },
      },
    );
    assert.equal(dev.chain[0]!.commonName, 'device-77');

    // a certificate from an unknown CA is refused with the reason
    const stranger = makeLeaf(makeRoot('Stranger'), 'stranger');
    const r = await estRequest(
      t,
      'POST',
      'simpleenroll',
      { cert: { certPem: certificatePem(stranger.cert), key: stranger.key } },
      base64Lines(createCsr(generateKey('p256'), { CN: 'x' })),
    );
    assert.equal(r.status, 401);
    assert.match(r.body.toString(), /client certificate is not accepted/);
  });

  it('runs the seed flow: EST certificate for a day, DPS group enrollment on the issuing CA, renewal, registration with the new thumbprint, revocation', async () => {
    const g = await api('PUT', `/v1/tenants/${scope}/enrollment-groups/edge-fleet`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'edge-ca' } } },
      capabilities: { iotEdge: true },
      initialTwin: { tags: { environment: 'test' } },
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));

    const key = generateKey('p256');
    const est1 = await aziotEnroll(target, key, { CN: 'seed-device-01' }, { basic });
    const lifetime = est1.chain[0]!.notAfter.getTime() - est1.chain[0]!.notBefore.getTime();
    assert.ok(Math.abs(lifetime - 86400_000 - 60_000) < 5000, 'valid for one day');
    let op = await registerAndWait(server.devicePort, ca, scope, identity(est1.chain, key));
    assert.equal(op.status, 'assigned', JSON.stringify(op));
    assert.equal(op.registrationState.x509.enrollmentGroupId, 'edge-fleet');
    let dev = await api('GET', `/v1/tenants/${scope}/devices/hub-1.example.com/seed-device-01`);
    assert.equal(dev.body.certificate.sha256Thumbprint, est1.chain[0]!.sha256);

    // renewal with the current certificate and a new key, then the device registers again
    const key2 = generateKey('p256');
    const est2 = await aziotEnroll(
      target,
      key2,
      { CN: 'seed-device-01' },
      {
        cert: { certPem: certificatePem(est1.chain[0]!), key },
      },
    );
    op = await registerAndWait(server.devicePort, ca, scope, identity(est2.chain, key2));
    assert.equal(op.status, 'assigned');
    dev = await api('GET', `/v1/tenants/${scope}/devices/hub-1.example.com/seed-device-01`);
    assert.equal(
      dev.body.certificate.sha256Thumbprint,
      est2.chain[0]!.sha256,
      'the registry shows the new thumbprint',
    );
    assert.deepEqual(dev.body.twin.tags, { environment: 'test' });

    // revoked: DPS refuses it, diagnose says so
    const rev = await api(
      'POST',
      `/v1/tenants/${scope}/certificates/${est2.chain[0]!.serialNumber}/revoke`,
      {},
    );
    assert.equal(rev.status, 200);
    const put = await deviceRequest(
      server.devicePort,
      ca,
      identity(est2.chain, key2),
      'PUT',
      `/${scope}/registrations/seed-device-01/register?api-version=2021-06-01`,
      '{"registrationId":"seed-device-01"}',
    );
    assert.equal(put.status, 401);
    assert.equal(put.json.info.code, 'CERT_REVOKED');
    assert.match(put.json.message, /was revoked/);
    // Re-encoding the signature (r, n-s) gives a new thumbprint, not a way back in.
    const flipped = parseCertificate(reencodeSignature(est2.chain[0]!.der));
    assert.notEqual(flipped.sha256, est2.chain[0]!.sha256);
    const put2 = await deviceRequest(
      server.devicePort,
      ca,
      identity([flipped, ...est2.chain.slice(1)], key2),
      'PUT',
      `/${scope}/registrations/seed-device-01/register?api-version=2021-06-01`,
      '{"registrationId":"seed-device-01"}',
    );
    assert.equal(put2.status, 401);
    assert.equal(put2.json.info.code, 'CERT_REVOKED');
    const d = await api('POST', `/v1/tenants/${scope}/diagnose`, { chain: est2.pem });
    assert.equal(d.body.code, 'CERT_REVOKED');
  });

  it('issues a certificate from the csr of a DPS registration (api-version 2025-07-01-preview)', async () => {
    // a device with a manufacturer certificate asks for an operational certificate
    const root = makeRoot('CSR Maker');
    await api('POST', `/v1/tenants/${scope}/cas`, {
      name: 'csr-maker',
      certificate: certificatePem(root.cert),
      verified: true,
    });
    const g = await api('PUT', `/v1/tenants/${scope}/enrollment-groups/csr-fleet`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'csr-maker' } } },
      certificateIssuancePolicy: { validityDays: 7, issuingCa: 'edge-ca' },
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const boot = makeLeaf(root, 'csr-device-1');
    const dev: DeviceIdentity = {
      registrationId: 'csr-device-1',
      chainPem: certificatePem(boot.cert),
      keyPem: exportPrivateKeyPem(boot.key),
      sha256: boot.cert.sha256,
    };
    const opKey = generateKey('p256');
    const csr = createCsr(opKey, { CN: 'csr-device-1' }).toString('base64');
    const op = await registerAndWait(
      server.devicePort,
      ca,
      scope,
      dev,
      { csr },
      { apiVersion: '2025-07-01-preview' },
    );
    assert.equal(op.status, 'assigned', JSON.stringify(op));
    const chain: string[] = op.registrationState.issuedCertificateChain;
    assert.equal(chain.length, 2);
    const leaf = parseCertificate(Buffer.from(chain[0]!, 'base64'));
    assert.equal(leaf.commonName, 'csr-device-1');
    assert.ok(leaf.spki.equals(spkiDer(opKey)));
    assert.ok(Math.abs(leaf.notAfter.getTime() - leaf.notBefore.getTime() - 7 * 86400_000 - 60_000) < 5000);

    // older api-versions cannot carry a csr; a CN that is not the registration ID is refused
    const old = await deviceRequest(
      server.devicePort,
      ca,
      dev,
      'PUT',
      `/${scope}/registrations/csr-device-1/register?api-version=2021-06-01`,
      JSON.stringify({ registrationId: 'csr-device-1', csr }),
    );
    assert.equal(old.status, 400);
    assert.match(old.json.message, /csr needs api-version 2025-07-01-preview/);
    const wrongCn = createCsr(opKey, { CN: 'someone-else' }).toString('base64');
    const bad = await deviceRequest(
      server.devicePort,
      ca,
      dev,
      'PUT',
      `/${scope}/registrations/csr-device-1/register?api-version=2026-04-01`,
      JSON.stringify({ registrationId: 'csr-device-1', csr: wrongCn }),
    );
    assert.equal(bad.status, 400);
    assert.match(bad.json.message, /csr subject CN \(someone-else\) must be the registration ID/);
  });

  it('links the CSR to the TLS session with tls-unique when the label requires it (TLS 1.2)', async () => {
    const l = await api('PUT', `/v1/tenants/${scope}/est-labels/pop`, { requireTlsUnique: true });
    assert.equal(l.status, 200);
    await api('PUT', `/v1/tenants/${scope}/est-labels/pop/users/${basic.user}`, { password: basic.password });
    const attrs = await estRequest({ ...target, path: '/.well-known/est/pop' }, 'GET', 'csrattrs', {});
    const parsed = der.children(der.read(Buffer.from(attrs.body.toString(), 'base64')));
    assert.ok(
      parsed.some((n) => n.tag === der.TAG.OID && der.readOid(n) === OID.challengePassword),
      'csrattrs asks for it',
    );

    // A raw TLS 1.2 connection: the CSR carries base64(client Finished) in challengePassword.
    const key = generateKey('p256');
    const exchange = (password: (s: TLSSocket) => string) =>
      new Promise<string>((resolve, reject) => {
        const s = connect(
          { host: '127.0.0.1', port: server.devicePort, servername: 'localhost', ca, maxVersion: 'TLSv1.2' },
          () => {
            const csr = base64Lines(csrWithChallenge(key, 'pop-device', password(s)));
            const auth = Buffer.from(`${basic.user}:${basic.password}`).toString('base64');
            s.write(
              `POST /.well-known/est/pop/simpleenroll HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic ${auth}\r\n` +
                `Content-Type: application/pkcs10\r\nContent-Length: ${csr.length}\r\nConnection: close\r\n\r\n${csr}`,
            );
          },
        );
        let text = '';
        s.on('data', (d) => (text += d));
        s.on('end', () => resolve(text));
        s.on('error', reject);
      });
    const good = await exchange((s) => s.getFinished()!.toString('base64'));
    assert.match(good, /^HTTP\/1.1 200/);
    const bad = await exchange(() => 'AAAAAAAAAAAAAAAA');
    assert.match(bad, /^HTTP\/1.1 401/);
    assert.match(bad, /does not match the tls-unique value/);
    const missing = await estRequest(
      { ...target, path: '/.well-known/est/pop' },
      'POST',
      'simpleenroll',
      { basic },
      base64Lines(createCsr(key, { CN: 'pop-device' })),
    );
    assert.equal(missing.status, 401);
    assert.match(missing.body.toString(), /requires .*tls-unique/);
  });

  it('tells a client that a label whose profile was deleted cannot issue (503), and the operator why', async () => {
    assert.equal(
      (await api('PUT', `/v1/tenants/${scope}/profiles/short-lived`, { kind: 'device', validityDays: 1 }))
        .status,
      200,
    );
    assert.equal(
      (await api('PUT', `/v1/tenants/${scope}/est-labels/fragile`, { profile: 'short-lived' })).status,
      200,
    );
    await api('PUT', `/v1/tenants/${scope}/est-labels/fragile/users/${basic.user}`, {
      password: basic.password,
    });
    assert.equal((await api('DELETE', `/v1/tenants/${scope}/profiles/short-lived`)).status, 204);
    const csr = base64Lines(createCsr(generateKey('p256'), { CN: 'fragile-device' }));
    const r = await estRequest(
      { ...target, path: '/.well-known/est/fragile' },
      'POST',
      'simpleenroll',
      { basic },
      csr,
    );
    assert.equal(r.status, 503, r.body.toString());
    assert.equal(r.headers['retry-after'], '300');
    assert.match(r.body.toString(), /EST label "fragile" cannot issue right now/);
    assert.doesNotMatch(r.body.toString(), /short-lived/, 'the profile name stays with the operator');
    assert.ok(server.logs.some((l) => l.includes('certificate profile') && l.includes('short-lived')));
  });

  it('holds enrollments for manual approval: 202 with Retry-After, then 200 once approved', async () => {
    await api('PUT', `/v1/tenants/${scope}/est-labels/approve`, { manualApproval: true });
    await api('PUT', `/v1/tenants/${scope}/est-labels/approve/users/${basic.user}`, {
      password: basic.password,
    });
    const t = { ...target, path: '/.well-known/est/approve' };
    const key = generateKey('p256');
    const csr = base64Lines(createCsr(key, { CN: 'waiting-device' }));
    const first = await estRequest(t, 'POST', 'simpleenroll', { basic }, csr);
    assert.equal(first.status, 202);
    assert.equal(first.headers['retry-after'], '60');
    const pending = await api('GET', `/v1/tenants/${scope}/est-labels/approve/pending`);
    assert.equal(pending.body.length, 1);
    assert.equal(pending.body[0].subject, 'CN=waiting-device');
    assert.equal((await estRequest(t, 'POST', 'simpleenroll', { basic }, csr)).status, 202, 'still waiting');
    const ok = await api(
      'POST',
      `/v1/tenants/${scope}/est-labels/approve/pending/${pending.body[0].keyHash}/approve`,
    );
    assert.equal(ok.status, 204);
    const done = await estRequest(t, 'POST', 'simpleenroll', { basic }, csr);
    assert.equal(done.status, 200);
    assert.equal(decodeCertsOnly(Buffer.from(done.body.toString(), 'base64')).length, 1);
  });
});

/** A CSR with a challengePassword attribute (what estclient -z sends). */
function csrWithChallenge(key: ReturnType<typeof generateKey>, cn: string, password: string): Buffer {
  const attr = der.seq(der.oid(OID.challengePassword), der.setOf(der.utf8(password)));
  const info = der.seq(der.integer(0), encodeName({ CN: cn }), spkiDer(key), der.implicit(0, attr, true));
  const alg = signatureAlgorithmFor(key);
  return der.seq(info, alg.identifier, der.bitString(signWith(alg, key, info)));
}
