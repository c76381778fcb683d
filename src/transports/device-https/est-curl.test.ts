import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { certificatePem, loadCertificate } from '../../pki/certificate.ts';
import { reencodeSignature } from '../../testing/forge.ts';
import { adminClient } from '../../testing/admin.ts';
import { openssl, opensslCsr, scratchDir } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

interface CurlResult {
  status: number;
  headers: string;
  body: Buffer;
}

// The EST seed flow with nothing but curl and openssl, as an operator would try it.
describe('EST with curl and openssl', () => {
  let server: TestServer;
  let api: ReturnType<typeof adminClient>;
  const dir = scratchDir('zt-est-curl-');
  const p = (f: string) => join(dir, f);
  let scope = '';
  let base = '';

  async function curl(path: string, ...args: string[]): Promise<CurlResult> {
    const { stdout } = await promisify(execFile)('curl', [
      '-s',
      '--cacert',
      p('server-root.pem'),
      '-D',
      p('headers.txt'),
      '-o',
      p('body.bin'),
      '-w',
      '%{http_code}',
      ...args,
      `${base}${path}`,
    ]);
    return {
      status: Number(stdout),
      headers: readFileSync(p('headers.txt'), 'latin1'),
      body: readFileSync(p('body.bin')),
    };
  }
  let n = 0;
  /** Decodes base64 with openssl into a DER file; returns its path. */
  const b64decode = (body: Buffer) => {
    const out = p(`decoded-${n++}.der`);
    writeFileSync(`${out}.b64`, body);
    openssl(['base64', '-d', '-in', `${out}.b64`, '-out', out]);
    return out;
  };
  const printCerts = (derFile: string) =>
    openssl(['pkcs7', '-inform', 'DER', '-in', derFile, '-print_certs']);
  const newCsr = (name: string, cn: string) => opensslCsr(p(name), `/CN=${cn}`);
  const enrollArgs = (name: string) => [
    '-H',
    'Content-Type: application/pkcs10',
    '--data-binary',
    `@${p(`${name}.csr.b64`)}`,
  ];

  before(async () => {
    server = await startTestServer({ logLevel: 'warn' });
    api = adminClient(server);
    writeFileSync(p('server-root.pem'), certificatePem(server.devPki.root.certificate));
    base = `https://localhost:${server.devicePort}`;
    scope = (await api('POST', '/v1/tenants', { name: 'est-curl' })).body.idScope;
    const ca = await api('POST', `/v1/tenants/${scope}/issuing-cas`, {
      name: 'devices',
      subject: '/O=Acme/CN=Acme EST CA',
    });
    assert.equal(ca.status, 201, JSON.stringify(ca.body));
    const l = await api('PUT', `/v1/tenants/${scope}/est-labels/devices`, {
      profile: 'device-1d',
      default: true,
    });
    assert.equal(l.status, 200, JSON.stringify(l.body));
    assert.equal(
      (
        await api('PUT', `/v1/tenants/${scope}/est-labels/devices/users/estuser`, {
          password: 'est-password-1',
        })
      ).status,
      204,
    );
  });
  after(async () => {
    await server?.dispose();
  });

  it('serves cacerts as a PKCS#7 that openssl pkcs7 -print_certs reads', async () => {
    for (const path of ['/.well-known/est/devices/cacerts', '/.well-known/est/cacerts']) {
      const r = await curl(path);
      assert.equal(r.status, 200);
      assert.match(r.headers, /^Content-Type: application\/pkcs7-mime\r$/m);
      assert.match(r.headers, /^Content-Length: \d+\r$/m);
      assert.doesNotMatch(r.headers, /chunked/i);
      const lines = r.body.toString('latin1').split('\n');
      assert.equal(lines.at(-1), '', 'ends with a newline');
      assert.ok(
        lines.slice(0, -2).every((x) => x.length === 64),
        '64-column lines',
      );
      assert.match(printCerts(b64decode(r.body)), /subject=O = Acme, CN = Acme EST CA/);
    }
    // credentials are not needed here, but wrong ones offered (aziot sends them) are refused
    assert.equal(
      (await curl('/.well-known/est/devices/cacerts', '-u', 'estuser:est-password-1')).status,
      200,
    );
    const wrong = await curl('/.well-known/est/devices/cacerts', '-u', 'estuser:nope');
    assert.equal(wrong.status, 401);
    assert.match(wrong.headers, /^WWW-Authenticate: Basic realm=/m);
  });

  it('enrolls with Basic auth, refuses a wrong password with a challenge, re-enrolls with the issued certificate', async () => {
    newCsr('dev', 'est-device-01');
    let r = await curl(
      '/.well-known/est/devices/simpleenroll',
      '-u',
      'estuser:wrong-password',
      ...enrollArgs('dev'),
    );
    assert.equal(r.status, 401);
    assert.match(r.headers, /^WWW-Authenticate: Basic realm="zerotouch EST devices"\r$/m);
    r = await curl('/.well-known/est/devices/simpleenroll', ...enrollArgs('dev'));
    assert.equal(r.status, 401);
    assert.match(r.headers, /^WWW-Authenticate: Basic realm=/m);

    r = await curl(
      '/.well-known/est/devices/simpleenroll',
      '-u',
      'estuser:est-password-1',
      ...enrollArgs('dev'),
    );
    assert.equal(r.status, 200, r.body.toString());
    assert.match(r.headers, /^Content-Type: application\/pkcs7-mime; smime-type=certs-only\r$/m);
    assert.match(r.headers, /^Content-Transfer-Encoding: base64\r$/m);
    const pem = printCerts(b64decode(r.body));
    writeFileSync(p('dev.pem'), pem);
    const text = openssl(['x509', '-noout', '-text', '-in', p('dev.pem')]);
    assert.match(text, /Subject: CN = est-device-01/);
    assert.match(text, /Issuer: O = Acme, CN = Acme EST CA/);
    assert.match(text, /TLS Web Client Authentication/);
    assert.match(text, new RegExp(`URI:https://localhost:${server.devicePort}/crl/${scope}/devices.crl`));
    const dates = openssl(['x509', '-noout', '-startdate', '-enddate', '-in', p('dev.pem')]);
    const start = Date.parse(/notBefore=(.*)/.exec(dates)![1]!);
    const end = Date.parse(/notAfter=(.*)/.exec(dates)![1]!);
    assert.ok(Math.abs(end - start - 86400_000 - 60_000) < 5000, 'one day (plus the minute of backdating)');

    // re-enroll: same subject, authenticated by the certificate just issued
    newCsr('dev2', 'est-device-01');
    r = await curl(
      '/.well-known/est/devices/simplereenroll',
      '--cert',
      p('dev.pem'),
      '--key',
      p('dev.key'),
      ...enrollArgs('dev2'),
    );
    assert.equal(r.status, 200, r.body.toString());
    writeFileSync(p('dev-renewed.pem'), printCerts(b64decode(r.body)));
    const renewed = openssl(['x509', '-noout', '-serial', '-subject', '-in', p('dev-renewed.pem')]);
    assert.match(renewed, /subject=CN = est-device-01/);
    assert.notEqual(
      /serial=(\w+)/.exec(renewed)![1],
      /serial=(\w+)/.exec(openssl(['x509', '-noout', '-serial', '-in', p('dev.pem')]))![1],
    );

    // re-enroll asking for another subject is refused, saying why
    newCsr('other', 'someone-else');
    r = await curl(
      '/.well-known/est/devices/simplereenroll',
      '--cert',
      p('dev.pem'),
      '--key',
      p('dev.key'),
      ...enrollArgs('other'),
    );
    assert.equal(r.status, 403);
    assert.match(
      r.body.toString(),
      /re-enroll must keep the subject: the certificate has "CN=est-device-01" but the CSR asks for "CN=someone-else"/,
    );

    // re-enroll with a password only is refused: it renews a certificate
    r = await curl(
      '/.well-known/est/devices/simplereenroll',
      '-u',
      'estuser:est-password-1',
      ...enrollArgs('dev2'),
    );
    assert.equal(r.status, 403);
    assert.match(r.body.toString(), /authenticate with that certificate/);
  });

  it('issues IoT Edge CA certificates (CA:TRUE, pathlen 0) only where the profile honours CA requests', async () => {
    const l = await api('PUT', `/v1/tenants/${scope}/est-labels/edge`, { profile: 'iot-edge' });
    assert.equal(l.status, 200);
    await api('PUT', `/v1/tenants/${scope}/est-labels/edge/users/estuser`, { password: 'est-password-1' });
    opensslCsr(p('edgeca'), '/CN=edge-device-01 Edge CA', [
      '-addext',
      'basicConstraints=critical,CA:TRUE,pathlen:0',
      '-addext',
      'keyUsage=critical,digitalSignature,keyCertSign',
    ]);
    let r = await curl(
      '/.well-known/est/edge/simpleenroll',
      '-u',
      'estuser:est-password-1',
      ...enrollArgs('edgeca'),
    );
    assert.equal(r.status, 200, r.body.toString());
    writeFileSync(p('edgeca.pem'), printCerts(b64decode(r.body)));
    const text = openssl(['x509', '-noout', '-text', '-in', p('edgeca.pem')]);
    assert.match(text, /CA:TRUE, pathlen:0/);
    assert.match(text, /Certificate Sign/);
    // the device label's profile issues client certificates only, and says so
    r = await curl(
      '/.well-known/est/devices/simpleenroll',
      '-u',
      'estuser:est-password-1',
      ...enrollArgs('edgeca'),
    );
    assert.equal(r.status, 400);
    assert.match(
      r.body.toString(),
      /asks for a CA certificate .* profile "device-1d" issues device certificates/,
    );
  });

  it('answers csrattrs with DER attributes openssl can parse', async () => {
    const r = await curl('/.well-known/est/devices/csrattrs');
    assert.equal(r.status, 200);
    assert.match(r.headers, /^Content-Type: application\/csrattrs\r$/m);
    const parsed = openssl(['asn1parse', '-inform', 'DER', '-in', b64decode(r.body)]);
    assert.match(parsed, /ecdsa-with-SHA256/);
  });

  it('generates a key on the server (serverkeygen) and returns it with its certificate', async () => {
    newCsr('skg', 'est-device-02');
    const r = await curl(
      '/.well-known/est/devices/serverkeygen',
      '-u',
      'estuser:est-password-1',
      ...enrollArgs('skg'),
    );
    assert.equal(r.status, 200, r.body.toString());
    const boundary = /^Content-Type: multipart\/mixed; boundary=(\S+)\r$/m.exec(r.headers)![1]!;
    const parts = r.body.toString('latin1').split(`--${boundary}`).slice(1, -1);
    assert.equal(parts.length, 2);
    assert.match(parts[0]!, /Content-Type: application\/pkcs8\r\nContent-Transfer-Encoding: base64\r\n\r\n/);
    assert.match(parts[1]!, /Content-Type: application\/pkcs7-mime; smime-type=certs-only\r\n/);
    const body = (part: string) => part.split('\r\n\r\n')[1]!.trim();
    const keyDer = Buffer.from(body(parts[0]!), 'base64');
    writeFileSync(p('skg-server.key.der'), keyDer);
    const pub = openssl(['pkey', '-inform', 'DER', '-in', p('skg-server.key.der'), '-pubout']);
    writeFileSync(p('skg.p7.der'), Buffer.from(body(parts[1]!), 'base64'));
    const certPem = printCerts(p('skg.p7.der'));
    writeFileSync(p('skg.pem'), certPem);
    assert.equal(
      openssl(['x509', '-noout', '-pubkey', '-in', p('skg.pem')]),
      pub,
      'the certificate is for the key sent',
    );
    assert.match(certPem, /subject=CN = est-device-02/);
  });

  it('refuses revoked certificates on re-enroll and lists them in the CRL', async () => {
    const serial = /serial=(\w+)/.exec(
      openssl(['x509', '-noout', '-serial', '-in', p('dev-renewed.pem')]),
    )![1]!;
    const rev = await api('POST', `/v1/tenants/${scope}/certificates/${serial}/revoke`, {
      reason: 'keyCompromise',
    });
    assert.equal(rev.status, 200, JSON.stringify(rev.body));
    assert.equal(rev.body.status, 'revoked');

    newCsr('dev3', 'est-device-01');
    const r = await curl(
      '/.well-known/est/devices/simplereenroll',
      '--cert',
      p('dev-renewed.pem'),
      '--key',
      p('dev2.key'),
      ...enrollArgs('dev3'),
    );
    assert.equal(r.status, 403);
    assert.match(r.body.toString(), new RegExp(`serial ${serial}\\) was revoked`));

    // The same certificate with its ECDSA signature re-encoded as (r, n-s) has a new thumbprint
    // and still verifies; revocation is keyed on issuer and serial, so it stays revoked.
    const flipped = loadCertificate(
      reencodeSignature(loadCertificate(readFileSync(p('dev-renewed.pem'))).der),
    );
    writeFileSync(p('dev-renewed-high-s.pem'), certificatePem(flipped));
    assert.notEqual(flipped.sha256, loadCertificate(readFileSync(p('dev-renewed.pem'))).sha256);
    const again = await curl(
      '/.well-known/est/devices/simplereenroll',
      '--cert',
      p('dev-renewed-high-s.pem'),
      '--key',
      p('dev2.key'),
      ...enrollArgs('dev3'),
    );
    assert.equal(again.status, 403);
    assert.match(again.body.toString(), new RegExp(`serial ${serial}\\) was revoked`));

    // plain HTTP on the admin listener serves the same CRL, without credentials
    const plain = await fetch(`${server.adminUrl}/crl/${scope}/devices.crl`);
    assert.equal(plain.status, 200);
    assert.equal(plain.headers.get('content-type'), 'application/pkix-crl');
    const crl = await curl(`/crl/${scope}/devices.crl`);
    assert.ok(Buffer.from(await plain.arrayBuffer()).equals(crl.body));
    assert.equal(crl.status, 200);
    assert.match(crl.headers, /^Content-Type: application\/pkix-crl\r$/m);
    writeFileSync(p('devices.crl'), crl.body);
    const text = openssl(['crl', '-inform', 'DER', '-in', p('devices.crl'), '-noout', '-text']);
    assert.match(text, new RegExp(`Serial Number: ${serial}`));
    assert.match(text, /Key Compromise/);
    assert.match(text, /Issuer: O = Acme, CN = Acme EST CA/);
    // the CRL verifies with the CA from cacerts
    const ca = await curl('/.well-known/est/devices/cacerts');
    writeFileSync(p('est-ca.pem'), printCerts(b64decode(ca.body)));
    const v = spawnSync(
      'openssl',
      ['crl', '-inform', 'DER', '-in', p('devices.crl'), '-noout', '-CAfile', p('est-ca.pem')],
      {
        encoding: 'utf8',
      },
    );
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout + v.stderr, /verify OK/);
  });

  it('says what is wrong with bad requests', async () => {
    let r = await curl('/.well-known/est/nosuchlabel/cacerts');
    assert.equal(r.status, 404);
    assert.match(r.body.toString(), /EST label "nosuchlabel" is not configured/);
    r = await curl('/.well-known/est/cacerts/cacerts');
    assert.equal(r.status, 404);
    writeFileSync(p('garbage.b64'), 'bm90IGEgY3Ny\n');
    r = await curl(
      '/.well-known/est/devices/simpleenroll',
      '-u',
      'estuser:est-password-1',
      '-H',
      'Content-Type: application/pkcs10',
      '--data-binary',
      `@${p('garbage.b64')}`,
    );
    assert.equal(r.status, 400);
    assert.match(r.body.toString(), /expected a certificate signing request as PEM, base64 or DER/);
    r = await curl(
      '/.well-known/est/devices/simpleenroll',
      '-u',
      'estuser:est-password-1',
      '-H',
      'Content-Type: text/plain',
      '--data-binary',
      'x',
    );
    assert.equal(r.status, 400);
    assert.match(r.body.toString(), /application\/pkcs10/);
    r = await curl('/.well-known/est/devices/simpleenroll');
    assert.equal(r.status, 405);
  });
});
