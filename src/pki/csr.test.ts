import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZtError } from '../errors.ts';
import { openssl } from '../testing/pki.ts';
import { createCsr, csrPem, parseCsr, verifyCsr } from './csr.ts';
import { generateKey, spkiDer } from './keys.ts';

describe('CSRs', () => {
  it('creates CSRs that openssl verifies, for every key type', () => {
    for (const t of ['p256', 'p384', 'rsa2048', 'ed25519'] as const) {
      const key = generateKey(t);
      const csr = createCsr(key, { CN: `dev-${t}` }, [{ type: 'dns', value: 'dev.example' }]);
      const out = openssl(['req', '-verify', '-noout', '-text'], csrPem(csr));
      assert.match(out, new RegExp(`CN ?= ?dev-${t}`));
      assert.match(out, /DNS:dev\.example/);
      const parsed = parseCsr(csr);
      verifyCsr(parsed);
      assert.ok(parsed.spki.equals(spkiDer(key)));
    }
  });

  it('parses and verifies CSRs made by openssl, with SANs and a challenge password', () => {
    const pem = openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      '/dev/null',
      '-subj',
      '/CN=ossl-dev/O=Acme',
      '-addext',
      'subjectAltName=DNS:x.example,IP:192.0.2.1',
    ]);
    const csr = parseCsr(pem);
    verifyCsr(csr);
    assert.equal(csr.commonName, 'ossl-dev');
    assert.deepEqual(csr.subjectAltNames, [
      { type: 'dns', value: 'x.example' },
      { type: 'ip', value: '192.0.2.1' },
    ]);
  });

  it('accepts bare base64 in 64-column lines (the EST wire form)', () => {
    const der = createCsr(generateKey('p256'), { CN: 'est-dev' });
    const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n') + '\n';
    assert.equal(parseCsr(b64).commonName, 'est-dev');
  });

  it('refuses a CSR whose signature does not match its key', () => {
    const der = Buffer.from(createCsr(generateKey('p256'), { CN: 'tampered' }));
    const i = der.indexOf(Buffer.from('tampered'));
    der.write('tempered', i, 'ascii');
    assert.throws(
      () => verifyCsr(parseCsr(der)),
      (e) => isZtError(e, 'CSR_BAD_SIGNATURE'),
    );
  });

  it('refuses garbage with CSR_MALFORMED or PEM_MALFORMED', () => {
    assert.throws(
      () => parseCsr(Buffer.from('3003020101', 'hex')),
      (e) => isZtError(e, 'CSR_MALFORMED'),
    );
    assert.throws(
      () => parseCsr('nonsense'),
      (e) => isZtError(e, 'PEM_MALFORMED'),
    );
  });
});
