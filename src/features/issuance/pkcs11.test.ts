import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../../pki/certificate.ts';
import { generateKey } from '../../pki/keys.ts';
import { adminClient } from '../../testing/admin.ts';
import { aziotEnroll } from '../../testing/est-client.ts';
import { openssl, scratchDir } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const MODULE = '/usr/lib/softhsm/libsofthsm2.so';
const tools = ['softhsm2-util', 'pkcs11-tool'].every((t) => {
  try {
    execFileSync('sh', ['-c', `command -v ${t}`]);
    return true;
  } catch {
    return false;
  }
});
const engine =
  existsSync('/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so') ||
  existsSync('/usr/lib/aarch64-linux-gnu/engines-3/pkcs11.so');
const skip =
  tools && engine ? false : 'needs softhsm2, opensc and libengine-pkcs11-openssl (.ci/run installs them)';

// An issuing CA whose key lives in a SoftHSM token: EST issues and the CRL is signed in the token.
describe('issuing CA key in a PKCS#11 token (SoftHSM)', { skip }, () => {
  let server: TestServer;
  let api: ReturnType<typeof adminClient>;
  const dir = scratchDir('zt-pkcs11-');
  const savedConf = process.env.SOFTHSM2_CONF;
  let scope = '';
  const uri = 'pkcs11:token=zerotouch-test;object=issuing;pin-value=1234';

  before(async () => {
    writeFileSync(
      join(dir, 'softhsm2.conf'),
      `directories.tokendir = ${dir}\nobjectstore.backend = file\nlog.level = ERROR\n`,
    );
    process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf');
    execFileSync('softhsm2-util', [
      '--init-token',
      '--free',
      '--label',
      'zerotouch-test',
      '--pin',
      '1234',
      '--so-pin',
      '123456',
    ]);
    execFileSync(
      'pkcs11-tool',
      [
        '--module',
        MODULE,
        '--token-label',
        'zerotouch-test',
        '--login',
        '--pin',
        '1234',
        '--keypairgen',
        '--key-type',
        'EC:prime256v1',
        '--label',
        'issuing',
        '--id',
        '01',
      ],
      { stdio: 'ignore' },
    );
    server = await startTestServer({ logLevel: 'warn' });
    api = adminClient(server);
    scope = (await api('POST', '/v1/tenants', { name: 'hsm' })).body.idScope;
  });
  after(async () => {
    await server?.dispose();
    if (savedConf === undefined) delete process.env.SOFTHSM2_CONF;
    else process.env.SOFTHSM2_CONF = savedConf;
  });

  it('creates the CA certificate with the token key, issues over EST and signs the CRL in the token', async () => {
    const ca = await api('POST', `/v1/tenants/${scope}/issuing-cas`, {
      name: 'hsm-ca',
      subject: '/CN=HSM Issuing CA',
      keyUri: uri,
    });
    assert.equal(ca.status, 201, JSON.stringify(ca.body));
    assert.equal(ca.body.keyStorage, 'pkcs11');
    assert.doesNotMatch(JSON.stringify(ca.body), /1234/, 'the PIN is not shown');
    await api('PUT', `/v1/tenants/${scope}/est-labels/hsm`, { profile: 'device' });
    await api('PUT', `/v1/tenants/${scope}/est-labels/hsm/users/u`, { password: 'hsm-password-1' });

    const key = generateKey('p256');
    const { chain } = await aziotEnroll(
      {
        port: server.devicePort,
        ca: certificatePem(server.devPki.root.certificate),
        path: '/.well-known/est/hsm',
      },
      key,
      { CN: 'hsm-device' },
      { basic: { user: 'u', password: 'hsm-password-1' } },
    );
    writeFileSync(join(dir, 'ca.pem'), certificatePem(chain[1]!));
    writeFileSync(join(dir, 'leaf.pem'), certificatePem(chain[0]!));
    assert.match(openssl(['verify', '-CAfile', join(dir, 'ca.pem'), join(dir, 'leaf.pem')]), /OK/);

    await api('POST', `/v1/tenants/${scope}/certificates/${chain[0]!.serialNumber}/revoke`, {
      reason: 'superseded',
    });
    const crl = await fetch(`${server.adminUrl}/v1/tenants/${scope}/issuing-cas/hsm-ca/crl`, {
      headers: { authorization: `Bearer ${server.adminToken}` },
    });
    writeFileSync(join(dir, 'crl.pem'), await crl.text());
    const text = openssl([
      'crl',
      '-in',
      join(dir, 'crl.pem'),
      '-noout',
      '-text',
      '-CAfile',
      join(dir, 'ca.pem'),
    ]);
    assert.match(text, new RegExp(`Serial Number: ${chain[0]!.serialNumber}`));
  });

  it('explains a URI that names no key, without showing the PIN', async () => {
    const r = await api('POST', `/v1/tenants/${scope}/issuing-cas`, {
      name: 'missing',
      keyUri: 'pkcs11:token=zerotouch-test;object=nope;pin-value=1234',
    });
    assert.equal(r.status, 400);
    assert.equal(r.body.code, 'CONFIG_INVALID');
    assert.match(r.body.message, /pkcs11:token=zerotouch-test;object=nope;pin-value=\*\*\* cannot be used/);
    assert.doesNotMatch(r.body.message, /1234/);
  });
});
