import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZtError } from '../errors.ts';
import { makeIntermediate, makeLeaf, makeRoot, openssl, scratchDir, writePem } from '../testing/pki.ts';
import { certsOnlyPem, decodeCertsOnly, encodeCertsOnly } from './pkcs7.ts';

describe('certs-only PKCS#7', () => {
  const root = makeRoot('P7 Root');
  const inter = makeIntermediate(root, 'P7 Inter');
  const leaf = makeLeaf(inter, 'p7-dev');

  it('encodes leaf-first bundles that openssl reads in order', () => {
    const out = openssl(['pkcs7', '-print_certs', '-noout'], certsOnlyPem([leaf.cert.der, inter.cert.der]));
    assert.ok(out.indexOf('CN = p7-dev') < out.indexOf('CN = P7 Inter'));
    const der = encodeCertsOnly([leaf.cert.der]);
    openssl(['pkcs7', '-inform', 'DER', '-print_certs', '-noout'], der);
  });

  it('decodes PEM, base64 and DER, including bundles from openssl crl2pkcs7', () => {
    const dir = scratchDir();
    const chain = writePem(dir, 'chain.pem', [leaf.cert, inter.cert, root.cert]);
    const p7 = openssl(['crl2pkcs7', '-nocrl', '-certfile', chain]);
    const certs = decodeCertsOnly(p7);
    assert.equal(certs.length, 3);
    assert.ok(certs[0].equals(leaf.cert.der));
    const der = encodeCertsOnly([inter.cert.der]);
    assert.ok(decodeCertsOnly(der)[0].equals(inter.cert.der));
    assert.ok(decodeCertsOnly(der.toString('base64').replace(/(.{64})/g, '$1\n'))[0].equals(inter.cert.der));
  });

  it('never builds an empty bundle and rejects malformed input', () => {
    assert.throws(() => encodeCertsOnly([]));
    assert.throws(
      () => decodeCertsOnly(Buffer.from('300602012a0201ff', 'hex')),
      (e) => isZtError(e, 'PKCS7_MALFORMED'),
    );
    assert.throws(
      () => decodeCertsOnly('garbage'),
      (e) => isZtError(e, 'PEM_MALFORMED'),
    );
  });
});
