import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../pki/certificate.ts';
import { cliRunner } from '../testing/cli.ts';
import { openssl, opensslCsr, scratchDir } from '../testing/pki.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';

// The commands of docs/est-seed-scenario.md, against a real server.
describe('zerotouch issuance and EST commands (CLI)', () => {
  let server: TestServer;
  const dir = scratchDir('zt-cli-est-');
  const p = (f: string) => join(dir, f);
  const { zt, ok } = cliRunner(() => server, dir);
  let scope = '';

  before(async () => {
    server = await startTestServer({ logLevel: 'warn' });
    writeFileSync(p('server-root.pem'), certificatePem(server.devPki.root.certificate));
  });
  after(async () => {
    await server?.dispose();
  });

  it('sets up an issuing CA, a profile, a label and a user, then lists, exports and revokes what EST issued', async () => {
    scope = /ID scope (\S+)/.exec(await ok('tenant', 'create', 'EST plant'))![1]!;
    const created = await ok(
      'issuing-ca',
      'create',
      'devices',
      '--subject',
      '/O=Acme/CN=Acme EST CA',
      '--scope',
      scope,
    );
    assert.match(created, /created issuing CA devices: O=Acme, CN=Acme EST CA/);
    assert.match(created, /also a verified DPS CA certificate "devices"/);
    assert.match(
      await ok('profile', 'set', 'short', '--hours', '24', '--key-type', 'p256', '--scope', scope),
      /profile short saved/,
    );
    assert.match(await ok('profile', 'list', '--scope', scope), /short\s+device\s+24h\s+copy\s+p256/);
    await ok('est', 'label', 'set', 'devices', '--profile', 'short', '--default', '--scope', scope);
    writeFileSync(p('pw'), 'est-password-1\n');
    await ok('est', 'user', 'set', 'devices', 'estuser', '--password-file', p('pw'), '--scope', scope);
    assert.match(
      await ok('est', 'label', 'list', '--scope', scope),
      /devices\s+short\s+true\s+true\s+true\s+estuser/,
    );

    opensslCsr(p('d'), '/CN=cli-device');
    // async: the server runs in this process, a blocking call would starve it
    await promisify(execFile)('curl', [
      '-sf',
      '--cacert',
      p('server-root.pem'),
      '-u',
      'estuser:est-password-1',
      '-H',
      'Content-Type: application/pkcs10',
      '--data-binary',
      `@${p('d.csr.b64')}`,
      '-o',
      p('d.p7.b64'),
      `https://localhost:${server.devicePort}/.well-known/est/simpleenroll`,
    ]);
    const list = await ok('cert', 'list', '--scope', scope);
    const serial = /^([0-9A-F]{32})\s+CN=cli-device\s+valid/m.exec(list)![1]!;
    assert.match(list, /est-simpleenroll\s+est-user:estuser/);

    await ok('cert', 'export', serial, '-o', 'exported.pem', '--scope', scope);
    assert.match(openssl(['x509', '-noout', '-subject', '-in', p('exported.pem')]), /CN = cli-device/);
    assert.match(
      await ok('cert', 'revoke', serial, '--reason', 'keyCompromise', '--scope', scope),
      new RegExp(`revoked ${serial}`),
    );
    assert.match(await ok('cert', 'list', '--status', 'revoked', '--scope', scope), new RegExp(serial));
    await ok('issuing-ca', 'crl', 'devices', '-o', 'devices.crl.pem', '--scope', scope);
    assert.match(
      openssl(['crl', '-noout', '-text', '-in', p('devices.crl.pem')]),
      new RegExp(`Serial Number: ${serial}`),
    );

    // issue from a CSR file through the API, as the PKI toolkit's online use
    await ok(
      'cert',
      'issue',
      '--csr',
      'd.csr.der',
      '--profile',
      'short',
      '-o',
      'api-chain.pem',
      '--scope',
      scope,
    );
    assert.match(readFileSync(p('api-chain.pem'), 'utf8'), /BEGIN CERTIFICATE[\s\S]+BEGIN CERTIFICATE/);
  });

  it('says what is wrong', async () => {
    let r = await zt('est', 'label', 'set', 'cacerts', '--scope', scope);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is the name of an EST operation/);
    r = await zt('est', 'label', 'set', 'x', '--issuing-ca', 'nope', '--scope', scope);
    assert.match(r.stderr, /error \[NOT_FOUND\]: issuing CA "nope" does not exist/);
    r = await zt('cert', 'revoke', 'ABCDEF', '--scope', scope);
    assert.match(r.stderr, /error \[NOT_FOUND\]/);
    r = await zt('profile', 'set', 'p', '--key-type', 'dsa', '--scope', scope);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /must be one of p256/);
    r = await zt('est', 'user', 'set', 'devices', 'u2', '--scope', scope);
    assert.match(r.stderr, /give --password-file/);
  });
});
