import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCertificate } from './certificate.ts';
import { generateKey, spkiDer } from './keys.ts';
import { makeIntermediate, makeRoot } from '../testing/pki.ts';

describe('issuance validity', () => {
  const root = makeRoot('Validity Root', 'p256', { validityDays: 10 });
  const spki = spkiDer(generateKey('p256'));

  it('cuts a requested length to the end of the issuing CA', () => {
    const cert = parseCertificate(
      root.signer.issue({ profile: 'device', subject: { CN: 'long' }, spki, validityDays: 365 }),
    );
    assert.equal(cert.notAfter.getTime(), root.cert.notAfter.getTime());
    const inter = makeIntermediate(root, 'Inter', { validityDays: 1000 });
    assert.equal(inter.cert.notAfter.getTime(), root.cert.notAfter.getTime());
  });

  it('refuses an explicit end date after the CA expires, naming the CA expiry', () => {
    const notAfter = new Date(root.cert.notAfter.getTime() + 86400_000);
    assert.throws(
      () => root.signer.issue({ profile: 'device', subject: { CN: 'x' }, spki, notAfter }),
      /outlive its CA \(CA expires/,
    );
  });

  it('backdates the start a minute for devices whose clock runs slow', () => {
    const cert = parseCertificate(
      root.signer.issue({ profile: 'device', subject: { CN: 'now' }, spki, validityDays: 1 }),
    );
    const lag = Date.now() - cert.notBefore.getTime();
    assert.ok(lag >= 59_000 && lag < 120_000, `notBefore lags now by ${lag} ms`);
  });
});
