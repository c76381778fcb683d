/** Signature algorithms: which one a key signs with, and verifying a signature named by its OID. */
import { type KeyObject, sign, verify } from 'node:crypto';
import { ZtError } from '../errors.ts';
import * as der from './der.ts';
import { OID } from './oids.ts';

export interface SignatureAlgorithm {
  oid: string;
  /** Digest for node:crypto, or null for Ed25519. */
  hash: string | null;
  /** Encoded AlgorithmIdentifier. */
  identifier: Buffer;
}

const ALGS: Record<string, { hash: string | null; params: boolean }> = {
  [OID.ecdsaWithSha256]: { hash: 'sha256', params: false },
  [OID.ecdsaWithSha384]: { hash: 'sha384', params: false },
  [OID.ecdsaWithSha512]: { hash: 'sha512', params: false },
  [OID.sha256WithRsa]: { hash: 'sha256', params: true },
  [OID.sha384WithRsa]: { hash: 'sha384', params: true },
  [OID.sha512WithRsa]: { hash: 'sha512', params: true },
  [OID.sha1WithRsa]: { hash: 'sha1', params: true },
  [OID.ed25519]: { hash: null, params: false },
};

function algorithm(oid: string): SignatureAlgorithm {
  const a = ALGS[oid];
  // RSA AlgorithmIdentifiers carry an explicit NULL; ECDSA and EdDSA carry none (RFC 5758, RFC 8410).
  return { oid, hash: a.hash, identifier: der.seq(der.oid(oid), ...(a.params ? [der.NULL] : [])) };
}

/** The algorithm a private key signs certificates with: ECDSA with the curve's hash, RSA PKCS#1 v1.5 SHA-256, Ed25519. */
export function signatureAlgorithmFor(key: KeyObject): SignatureAlgorithm {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      return algorithm(
        curve === 'secp384r1'
          ? OID.ecdsaWithSha384
          : curve === 'secp521r1'
            ? OID.ecdsaWithSha512
            : OID.ecdsaWithSha256,
      );
    }
    case 'rsa':
      return algorithm(OID.sha256WithRsa);
    case 'ed25519':
      return algorithm(OID.ed25519);
    default:
      throw new ZtError('KEY_UNSUPPORTED', `cannot sign with a ${key.asymmetricKeyType} key`);
  }
}

/** Signs `data` with the key's certificate signature algorithm. */
export function signWith(alg: SignatureAlgorithm, key: KeyObject, data: Buffer): Buffer {
  return sign(alg.hash, data, key);
}

/** Verifies a signature made with the algorithm named by `oid`; false when it does not verify. */
export function verifySignature(
  oid: string,
  data: Buffer,
  signature: Buffer,
  publicKey: KeyObject | { key: Buffer; format: 'der'; type: 'spki' },
): boolean {
  const a = ALGS[oid];
  if (!a) {
    throw new ZtError(
      'ALGORITHM_UNSUPPORTED',
      `signature algorithm ${oid} is not supported; use ECDSA with SHA-2, RSA PKCS#1 v1.5 with SHA-2 or Ed25519`,
    );
  }
  try {
    return verify(a.hash, data, publicKey, signature);
  } catch {
    // a key of the wrong type for the algorithm is a failed verification, not a crash
    return false;
  }
}
