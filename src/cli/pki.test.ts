import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { connect, createServer } from 'node:tls';
import { promisify } from 'node:util';
import { loadCertificates } from '../pki/certificate.ts';
import { openssl, scratchDir } from '../testing/pki.ts';

const main = join(import.meta.dirname, 'main.ts');

/** Runs the real CLI in a child process; resolves with its exit code and output. */
async function cli(
  cwd: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args], { cwd });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

describe('zerotouch pki (CLI)', () => {
  const dir = scratchDir('zt-cli-pki-');
  const p = (...parts: string[]) => join(dir, ...parts);

  it('builds a root, an intermediate, a device certificate and a verification certificate that openssl accepts', async () => {
    let r = await cli(dir, 'pki', 'create-root', '--cn', 'Acme Root');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /subject:\s+CN=Acme Root/);
    r = await cli(
      dir,
      'pki',
      'create-intermediate',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/root.key.pem',
      '--cn',
      'Acme Issuing',
    );
    assert.equal(r.code, 0, r.stderr);
    r = await cli(
      dir,
      'pki',
      'issue',
      '--ca',
      'certs/intermediate.cert.pem',
      '--ca-key',
      'private/intermediate.key.pem',
      '--name',
      'dev-01',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /full chain:\s+\S*dev-01-full-chain\.cert\.pem/);

    const verify = openssl([
      'verify',
      '-CAfile',
      p('certs/root.cert.pem'),
      '-untrusted',
      p('certs/intermediate.cert.pem'),
      p('certs/dev-01.cert.pem'),
    ]);
    assert.match(verify, /OK/);
    assert.match(openssl(['x509', '-noout', '-subject', '-in', p('certs/dev-01.cert.pem')]), /CN ?= ?dev-01/);
    assert.match(
      openssl(['x509', '-noout', '-ext', 'extendedKeyUsage', '-in', p('certs/dev-01.cert.pem')]),
      /TLS Web Client Authentication/,
    );
    // The full chain is leaf first, then the intermediate: what a device presents in its handshake.
    const chain = readFileSync(p('certs/dev-01-full-chain.cert.pem'), 'utf8');
    assert.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2);
    assert.ok(chain.startsWith(readFileSync(p('certs/dev-01.cert.pem'), 'utf8').trim()));
    for (const k of ['root', 'intermediate', 'dev-01'])
      assert.equal(statSync(p(`private/${k}.key.pem`)).mode & 0o777, 0o600);
    assert.match(
      openssl(['pkey', '-noout', '-text', '-in', p('private/dev-01.key.pem')]),
      /prime256v1|P-256/,
    );

    r = await cli(
      dir,
      'pki',
      'verification-cert',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/root.key.pem',
      '--code',
      '4C9A2B7E9F0D1A3B5C7E9F0D1A3B5C7E',
    );
    assert.equal(r.code, 0, r.stderr);
    const vfile = r.stdout.match(/certificate: (\S+)/)![1];
    assert.match(
      openssl(['x509', '-noout', '-subject', '-in', join(dir, vfile)]),
      /CN ?= ?4C9A2B7E9F0D1A3B5C7E9F0D1A3B5C7E/,
    );
    assert.match(openssl(['verify', '-CAfile', p('certs/root.cert.pem'), join(dir, vfile)]), /OK/);
  });

  it('issues server certificates that Node TLS accepts for mutual TLS with the device certificate', async () => {
    const r = await cli(
      dir,
      'pki',
      'issue',
      '--server',
      '--ca',
      'certs/intermediate.cert.pem',
      '--ca-key',
      'private/intermediate.key.pem',
      '--name',
      'srv',
      '--cn',
      'localhost',
      '--san',
      'DNS:localhost',
      'IP:127.0.0.1',
      '--key-type',
      'rsa2048',
    );
    assert.equal(r.code, 0, r.stderr);
    const root = readFileSync(p('certs/root.cert.pem'));
    const server = createServer(
      {
        cert: readFileSync(p('certs/srv-full-chain.cert.pem')),
        key: readFileSync(p('private/srv.key.pem')),
        ca: root,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (s) => {
        s.end(`hello ${s.getPeerCertificate().subject.CN}`);
      },
    );
    await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
    try {
      const port = (server.address() as { port: number }).port;
      const got = await new Promise<string>((resolve, reject) => {
        const s = connect({
          host: '127.0.0.1',
          port,
          servername: 'localhost',
          ca: root,
          cert: readFileSync(p('certs/dev-01-full-chain.cert.pem')),
          key: readFileSync(p('private/dev-01.key.pem')),
        });
        let data = '';
        s.on('data', (d) => {
          data += d;
        });
        s.on('end', () => resolve(data));
        s.on('error', reject);
      });
      assert.equal(got, 'hello dev-01');
    } finally {
      server.close();
    }
  });

  it('inspects a chain: OK against the right root, exit 2 against another', async () => {
    let r = await cli(
      dir,
      'pki',
      'inspect',
      'certs/dev-01-full-chain.cert.pem',
      '--ca-file',
      'certs/root.cert.pem',
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /dev-01/);
    assert.match(r.stdout, /OK/);
    const other = scratchDir('zt-cli-other-');
    assert.equal((await cli(other, 'pki', 'create-root', '--cn', 'Other Root')).code, 0);
    r = await cli(
      dir,
      'pki',
      'inspect',
      'certs/dev-01-full-chain.cert.pem',
      '--ca-file',
      join(other, 'certs/root.cert.pem'),
    );
    assert.equal(r.code, 2);
    assert.match(r.stdout, /FAILED/);
    r = await cli(dir, 'pki', 'inspect', 'certs/dev-01.cert.pem', '--json');
    assert.equal(JSON.parse(r.stdout).certificates[0].subject, 'CN=dev-01');
  });

  it('reads DER, base64 and PKCS#7 (as EST cacerts serves it) and shows a chain without failing it', async () => {
    // A full chain without its root: shown as the chain it is, exit 0; checked only with --verify.
    let r = await cli(dir, 'pki', 'inspect', 'certs/dev-01-full-chain.cert.pem');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /As given \(leaf first\):\n  1\. CN=dev-01  <- issued by the next/);
    assert.match(r.stdout, /add --verify/);
    r = await cli(dir, 'pki', 'inspect', 'certs/dev-01-full-chain.cert.pem', '--verify');
    assert.equal(r.code, 2);
    assert.match(r.stdout, /Chain: FAILED/);
    const der = join(dir, 'dev-01.der');
    writeFileSync(der, loadCertificates(readFileSync(join(dir, 'certs/dev-01.cert.pem')))[0]!.der);
    r = await cli(dir, 'pki', 'inspect', der);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Read as DER certificate/);
    const p7 = join(dir, 'cacerts.p7');
    execFileSync('openssl', [
      'crl2pkcs7',
      '-nocrl',
      '-certfile',
      join(dir, 'certs/dev-01-full-chain.cert.pem'),
      '-outform',
      'DER',
      '-out',
      p7,
    ]);
    // EST's /cacerts answer: base64 of the DER PKCS#7, in 64-column lines.
    const b64 = join(dir, 'cacerts.b64');
    writeFileSync(b64, readFileSync(p7).toString('base64').replace(/.{64}/g, '$&\r\n'));
    for (const [file, format] of [
      [p7, 'DER PKCS#7'],
      [b64, 'base64 PKCS#7'],
    ]) {
      r = await cli(dir, 'pki', 'inspect', file!);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`Read as ${format}`));
      assert.match(r.stdout, /Certificate 1 of \d/);
    }
    writeFileSync(join(dir, 'junk.bin'), Buffer.from([0x30, 0x03, 0x02, 0x01]));
    r = await cli(dir, 'pki', 'inspect', 'junk.bin');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a certificate, a PKCS#7 bundle or a CSR in PEM, DER or base64/);
  });

  it('refuses to overwrite without --force and explains bad input in one line', async () => {
    let r = await cli(dir, 'pki', 'create-root', '--cn', 'Again');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--force/);
    r = await cli(
      dir,
      'pki',
      'issue',
      '--ca',
      'certs/dev-01.cert.pem',
      '--ca-key',
      'private/dev-01.key.pem',
      '--name',
      'x',
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not a CA/i);
    r = await cli(
      dir,
      'pki',
      'issue',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/intermediate.key.pem',
      '--name',
      'y',
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not the private key/);
    r = await cli(dir, 'pki', 'inspect', 'private/../certs/missing.pem');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /file not found/);
    r = await cli(dir, 'pki', 'create-root', '--key-type', 'dsa');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /p256/);
    assert.doesNotMatch(r.stderr + r.stdout, /at .*\.ts:\d+/);
  });
});
