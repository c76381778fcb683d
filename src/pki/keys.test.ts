import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { isZtError } from '../errors.ts';
import {
  describeKey,
  exportPrivateKeyPem,
  generateKey,
  importPrivateKey,
  KEY_TYPES,
  spkiDer,
  spkiKeyType,
} from './keys.ts';

describe('keys', () => {
  it('reads the key type from SubjectPublicKeyInfo DER, and none for keys outside the list', () => {
    for (const t of KEY_TYPES) assert.equal(spkiKeyType(spkiDer(generateKey(t))), t);
    const outside = {
      'RSA 1024': generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey,
      'RSA 2056': generateKeyPairSync('rsa', { modulusLength: 2056 }).publicKey,
      'EC P-521': generateKeyPairSync('ec', { namedCurve: 'secp521r1' }).publicKey,
      'EC secp256k1': generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).publicKey,
      Ed448: generateKeyPairSync('ed448').publicKey,
      X25519: generateKeyPairSync('x25519').publicKey,
    };
    for (const [name, k] of Object.entries(outside)) assert.equal(spkiKeyType(spkiDer(k)), undefined, name);
  });

  it('generates every supported type and re-imports it from PKCS#8 PEM and DER', () => {
    const expected = {
      p256: 'EC P-256',
      p384: 'EC P-384',
      rsa2048: 'RSA 2048',
      rsa3072: 'RSA 3072',
      rsa4096: 'RSA 4096',
      ed25519: 'Ed25519',
    };
    for (const t of KEY_TYPES) {
      const key = generateKey(t);
      assert.equal(describeKey(key), expected[t]);
      const fromPem = importPrivateKey(exportPrivateKeyPem(key));
      assert.ok(spkiDer(fromPem).equals(spkiDer(key)));
      const fromDer = importPrivateKey(key.export({ format: 'der', type: 'pkcs8' }));
      assert.ok(spkiDer(fromDer).equals(spkiDer(key)));
    }
  });

  it('imports SEC1 and PKCS#1 keys in PEM and DER', () => {
    const ec = generateKey('p256');
    const rsa = generateKey('rsa2048');
    for (const [key, type] of [
      [ec, 'sec1'],
      [rsa, 'pkcs1'],
    ] as const) {
      const pem = key.export({ format: 'pem', type }) as string;
      assert.match(pem, type === 'sec1' ? /EC PRIVATE KEY/ : /RSA PRIVATE KEY/);
      assert.ok(spkiDer(importPrivateKey(pem)).equals(spkiDer(key)));
      assert.ok(spkiDer(importPrivateKey(key.export({ format: 'der', type }))).equals(spkiDer(key)));
    }
  });

  it('imports an encrypted PKCS#8 key with its passphrase and explains when it is missing', () => {
    const key = generateKey('p256');
    const pem = key.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: 'aes-256-cbc',
      passphrase: 'secret',
    }) as string;
    assert.ok(spkiDer(importPrivateKey(pem, 'secret')).equals(spkiDer(key)));
    assert.throws(
      () => importPrivateKey(pem),
      (e) => isZtError(e, 'KEY_MALFORMED') && /passphrase/.test(e.message),
    );
    assert.throws(
      () => importPrivateKey(pem, 'wrong'),
      (e) => isZtError(e, 'KEY_MALFORMED'),
    );
  });

  it('rejects garbage and weak keys with a reason', () => {
    assert.throws(
      () => importPrivateKey('not a key'),
      (e) => isZtError(e, 'KEY_MALFORMED'),
    );
    assert.throws(
      () => importPrivateKey('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      (e) => isZtError(e, 'KEY_MALFORMED'),
    );
    const weak = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
    assert.throws(
      () => importPrivateKey(exportPrivateKeyPem(weak)),
      (e) => isZtError(e, 'KEY_UNSUPPORTED') && /2048/.test(e.message),
    );
  });
});
