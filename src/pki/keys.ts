/** Private and public keys: generate, import in the formats users have (PEM/DER, PKCS#8, SEC1, PKCS#1), export. */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
} from 'node:crypto';
import { ZtError } from '../errors.ts';
import * as der from './der.ts';
import { OID } from './oids.ts';
import { isPem, parsePem, toPem } from './pem.ts';

export const KEY_TYPES = ['p256', 'p384', 'rsa2048', 'rsa3072', 'rsa4096', 'ed25519'] as const;
export type KeyType = (typeof KEY_TYPES)[number];

/** True when `s` names a supported key type. */
export function isKeyType(s: string): s is KeyType {
  return (KEY_TYPES as readonly string[]).includes(s);
}

/** Generates a private key of the given type. */
export function generateKey(type: KeyType): KeyObject {
  switch (type) {
    case 'p256':
      return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey;
    case 'p384':
      return generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey;
    case 'rsa2048':
    case 'rsa3072':
    case 'rsa4096':
      return generateKeyPairSync('rsa', { modulusLength: Number(type.slice(3)) }).privateKey;
    case 'ed25519':
      return generateKeyPairSync('ed25519').privateKey;
  }
}

/** A new private key of `type`, generated on libuv's thread pool (several at once use several cores). */
export function generateKeyAsync(type: KeyType): Promise<KeyObject> {
  const done =
    (resolve: (k: KeyObject) => void, reject: (e: Error) => void) =>
    (err: Error | null, _pub: KeyObject, key: KeyObject) => (err ? reject(err) : resolve(key));
  return new Promise((resolve, reject) => {
    switch (type) {
      case 'p256':
        return generateKeyPair('ec', { namedCurve: 'prime256v1' }, done(resolve, reject));
      case 'p384':
        return generateKeyPair('ec', { namedCurve: 'secp384r1' }, done(resolve, reject));
      case 'rsa2048':
      case 'rsa3072':
      case 'rsa4096':
        return generateKeyPair('rsa', { modulusLength: Number(type.slice(3)) }, done(resolve, reject));
      case 'ed25519':
        return generateKeyPair('ed25519', undefined, done(resolve, reject));
    }
  });
}

/** Human description: "EC P-256", "RSA 2048", "Ed25519". Throws KEY_UNSUPPORTED for anything else. */
export function describeKey(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case 'ec':
      if (d.namedCurve === 'prime256v1') return 'EC P-256';
      if (d.namedCurve === 'secp384r1') return 'EC P-384';
      if (d.namedCurve === 'secp521r1') return 'EC P-521';
      break;
    case 'rsa':
      if ((d.modulusLength ?? 0) >= 2048) return `RSA ${d.modulusLength}`;
      throw new ZtError(
        'KEY_UNSUPPORTED',
        `RSA keys must have at least 2048 bits; this one has ${d.modulusLength}`,
      );
    case 'ed25519':
      return 'Ed25519';
  }
  throw new ZtError(
    'KEY_UNSUPPORTED',
    `key type ${key.asymmetricKeyType} ${d.namedCurve ?? ''} is not supported; use EC P-256/P-384, RSA 2048-4096 or Ed25519`,
  );
}

const PEM_KEY_LABELS = ['PRIVATE KEY', 'EC PRIVATE KEY', 'RSA PRIVATE KEY', 'ENCRYPTED PRIVATE KEY'];

/** Imports a private key from PEM (PKCS#8, SEC1, PKCS#1, encrypted PKCS#8) or DER (PKCS#8, SEC1, PKCS#1). */
export function importPrivateKey(input: Buffer | string, passphrase?: string): KeyObject {
  let key: KeyObject | undefined;
  if (isPem(input)) {
    const text = typeof input === 'string' ? input : input.toString('latin1');
    const block = parsePem(text).find((b) => PEM_KEY_LABELS.includes(b.label));
    if (!block) {
      throw new ZtError(
        'KEY_MALFORMED',
        `no private key PEM block found; expected one of: ${PEM_KEY_LABELS.join(', ')}`,
      );
    }
    if (block.label === 'ENCRYPTED PRIVATE KEY' && !passphrase) {
      throw new ZtError('KEY_MALFORMED', 'the private key is encrypted; give its passphrase');
    }
    try {
      key = createPrivateKey({ key: text, format: 'pem', passphrase });
    } catch (e) {
      throw new ZtError('KEY_MALFORMED', `private key could not be read: ${(e as Error).message}`);
    }
  } else {
    const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
    for (const type of ['pkcs8', 'sec1', 'pkcs1'] as const) {
      try {
        key = createPrivateKey({ key: buf, format: 'der', type, passphrase });
        break;
      } catch {
        // try the next container format
      }
    }
    if (!key) throw new ZtError('KEY_MALFORMED', 'private key is not PEM, nor DER in PKCS#8, SEC1 or PKCS#1');
  }
  describeKey(key);
  return key;
}

/** Exports a private key as unencrypted PKCS#8 PEM. */
export function exportPrivateKeyPem(key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }) as string;
}

/** SubjectPublicKeyInfo DER of a private or public key. */
export function spkiDer(key: KeyObject): Buffer {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  return pub.export({ format: 'der', type: 'spki' });
}

/** Public key from SubjectPublicKeyInfo DER. */
export function publicKeyFromSpki(spki: Buffer): KeyObject {
  try {
    return createPublicKey({ key: spki, format: 'der', type: 'spki' });
  } catch (e) {
    throw new ZtError('KEY_UNSUPPORTED', `public key could not be loaded: ${(e as Error).message}`);
  }
}

/** Public key as SPKI PEM. */
export function publicKeyPem(key: KeyObject): string {
  return toPem('PUBLIC KEY', spkiDer(key));
}

/**
 * The KeyType of SubjectPublicKeyInfo DER, from its algorithm, curve and RSA modulus size, without
 * loading the key (that costs as much as verifying a signature); undefined for anything else,
 * e.g. RSA 1024. For keys already checked: a CSR's after verifyCsr, or one this server made.
 */
export function spkiKeyType(spki: Buffer): KeyType | undefined {
  const [alg, key] = der.children(der.expect(der.read(spki), der.TAG.SEQUENCE, 'subjectPublicKeyInfo'));
  const [oid, params] = der.children(der.expect(alg, der.TAG.SEQUENCE, 'public key algorithm'));
  switch (der.readOid(der.expect(oid, der.TAG.OID, 'public key algorithm'))) {
    case OID.ecPublicKey: {
      const curve = params?.tag === der.TAG.OID ? der.readOid(params) : undefined;
      return curve === OID.prime256v1 ? 'p256' : curve === OID.secp384r1 ? 'p384' : undefined;
    }
    case OID.rsaEncryption: {
      const rsaKey = der.read(der.readOctetBits(der.expect(key, der.TAG.BIT_STRING, 'RSA key'), 'RSA key'));
      const [modulus] = der.children(der.expect(rsaKey, der.TAG.SEQUENCE, 'RSA key'));
      const n = der.readIntegerBytes(der.expect(modulus, der.TAG.INTEGER, 'RSA modulus'), 'RSA modulus');
      const t = `rsa${(n.length - 1) * 8 + (32 - Math.clz32(n[0]!))}`;
      return isKeyType(t) ? t : undefined;
    }
    case OID.ed25519:
      return 'ed25519';
    default:
      return undefined;
  }
}
