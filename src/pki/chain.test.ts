import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type ErrorCode, isZtError } from '../errors.ts';
import { makeIntermediate, makeLeaf, makeRoot, openssl } from '../testing/pki.ts';
import { type Certificate, loadCertificate, parseCertificate } from './certificate.ts';
import { validateChain } from './chain.ts';
import { CertificateSigner } from './issue.ts';
import { generateKey, spkiDer } from './keys.ts';
import { OID } from './oids.ts';

function rejects(fn: () => unknown, code: ErrorCode, pattern: RegExp): void {
  assert.throws(fn, (e) => {
    assert.ok(isZtError(e), `expected ZtError, got ${e}`);
    assert.equal(e.code, code, e.message);
    assert.match(e.message, pattern);
    return true;
  });
}

describe('path validation', () => {
  const root = makeRoot('Chain Root');
  const inter = makeIntermediate(root, 'Chain Inter', { pathLen: 0 });
  const leaf = makeLeaf(inter, 'dev-01');

  it('accepts root -> intermediate -> leaf and returns the path', () => {
    const r = validateChain(leaf.cert, [inter.cert], [root.cert], { requiredEku: OID.clientAuth });
    assert.deepEqual(
      r.path.map((c) => c.commonName),
      ['dev-01', 'Chain Inter', 'Chain Root'],
    );
    assert.equal(r.anchor.sha256, root.cert.sha256);
  });

  it('accepts an intermediate as the trust anchor (DPS group on an intermediate)', () => {
    const r = validateChain(leaf.cert, [], [inter.cert]);
    assert.equal(r.path.length, 2);
  });

  it('rejects a wrong issuer: the chain does not reach a trusted CA', () => {
    const other = makeRoot('Other Root');
    rejects(
      () => validateChain(leaf.cert, [inter.cert], [other.cert]),
      'CHAIN_UNKNOWN_ISSUER',
      /does not reach a trusted CA|not a trusted CA/,
    );
    rejects(
      () => validateChain(leaf.cert, [], [other.cert]),
      'CHAIN_UNKNOWN_ISSUER',
      /issued by "CN=Chain Inter"/,
    );
    // The device is told what to send; only the operator learns which CAs are trusted.
    assert.throws(
      () => validateChain(leaf.cert, [], [other.cert]),
      (e) =>
        isZtError(e) &&
        !e.message.includes('Other Root') &&
        /trusted CAs: "CN=Other Root"/.test(e.operatorMessage!),
    );
  });

  it('rejects a CA with the same name but another key', () => {
    const impostor = makeRoot('Chain Root');
    rejects(
      () => validateChain(leaf.cert, [inter.cert], [impostor.cert]),
      'CHAIN_BAD_SIGNATURE',
      /different CA with the same name/,
    );
  });

  it('rejects an expired leaf and a not-yet-valid leaf, each by its own code', () => {
    const expired = makeLeaf(inter, 'old', {
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-01-01T00:00:00Z'),
    });
    rejects(
      () => validateChain(expired.cert, [inter.cert], [root.cert]),
      'CERT_EXPIRED',
      /expired on 2021-01-01/,
    );
    const future = makeLeaf(inter, 'future', {
      notBefore: new Date(Date.now() + 86400_000),
      validityDays: 10,
    });
    rejects(
      () => validateChain(future.cert, [inter.cert], [root.cert]),
      'CERT_NOT_YET_VALID',
      /not valid until/,
    );
  });

  it('rejects a non-CA certificate used as an intermediate', () => {
    const notCa = makeLeaf(root, 'not-a-ca');
    const signer = new CertificateSigner(notCa.key, notCa.cert);
    const k = generateKey('p256');
    const child = parseCertificate(
      signer.issue({ profile: 'device', subject: { CN: 'child' }, spki: spkiDer(k), validityDays: 5 }),
    );
    rejects(() => validateChain(child, [notCa.cert], [root.cert]), 'CHAIN_NOT_CA', /not a CA/);
  });

  it('rejects a chain longer than a pathLen allows', () => {
    const inter2 = makeIntermediate(inter, 'Chain Inter 2');
    const deep = makeLeaf(inter2, 'deep');
    rejects(
      () => validateChain(deep.cert, [inter2.cert, inter.cert], [root.cert]),
      'CHAIN_PATH_LEN_EXCEEDED',
      /pathLen 0/,
    );
  });

  it('rejects a broken signature', () => {
    const der = Buffer.from(leaf.cert.der);
    der[der.length - 3] ^= 0x01;
    const broken = parseCertificate(der);
    rejects(() => validateChain(broken, [inter.cert], [root.cert]), 'CHAIN_BAD_SIGNATURE', /does not verify/);
  });

  it('checks again a CA certificate whose bytes differ from one that verified before', () => {
    // Verified signatures are remembered by the exact certificate bytes: an altered copy of the
    // intermediate, after the real one verified, is checked anew and refused.
    validateChain(leaf.cert, [inter.cert], [root.cert]);
    const der = Buffer.from(inter.cert.der);
    der[der.length - 3] ^= 0x01;
    const altered = parseCertificate(der);
    rejects(() => validateChain(leaf.cert, [altered], [root.cert]), 'CHAIN_BAD_SIGNATURE', /does not verify/);
    validateChain(leaf.cert, [inter.cert], [root.cert]);
  });

  it('rejects an issuer whose keyUsage lacks keyCertSign', () => {
    const noSign = makeIntermediate(root, 'No Sign', { keyUsage: ['digitalSignature', 'cRLSign'] });
    const l = makeLeaf(noSign, 'x');
    rejects(() => validateChain(l.cert, [noSign.cert], [root.cert]), 'CHAIN_KEY_USAGE', /keyCertSign/);
  });

  it('rejects a leaf without the required EKU', () => {
    const server = makeLeaf(inter, 'srv', {
      profile: 'server',
      subjectAltNames: [{ type: 'dns', value: 'srv' }],
    });
    rejects(
      () => validateChain(server.cert, [inter.cert], [root.cert], { requiredEku: OID.clientAuth }),
      'CHAIN_EKU',
      /clientAuth/,
    );
  });

  it('rejects an unknown critical extension', () => {
    const pem = openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      '/dev/null',
      '-subj',
      '/CN=odd',
      '-days',
      '2',
      '-addext',
      '1.2.3.4=critical,ASN1:NULL',
    ]);
    const odd: Certificate = loadCertificate(pem);
    rejects(() => validateChain(odd, [], [odd]), 'CHAIN_CRITICAL_EXTENSION', /1\.2\.3\.4/);
  });
});
