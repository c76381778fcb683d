/**
 * Builds certificates with chosen defects and signs them properly, so a test (or the fuzz and
 * differential suites) can tell the parser's and validator's rules apart from a bad signature.
 * Defaults make a valid P-256 device certificate under the given CA.
 */
import { createHash, type KeyObject, sign } from 'node:crypto';
import type { Certificate } from '../pki/certificate.ts';
import * as der from '../pki/der.ts';
import {
  encodeAuthorityKeyIdentifier,
  encodeBasicConstraints,
  encodeExtension,
  encodeExtKeyUsage,
  encodeKeyUsage,
  encodeSubjectKeyIdentifier,
} from '../pki/extensions.ts';
import { keyIdentifier } from '../pki/issue.ts';
import { generateKey, spkiDer } from '../pki/keys.ts';
import { encodeName, type NameFields } from '../pki/names.ts';
import { OID } from '../pki/oids.ts';

/** The encoded parts of a TBSCertificate, each replaceable before signing. */
export interface TbsParts {
  version: Buffer | null;
  serial: Buffer;
  signature: Buffer;
  issuer: Buffer;
  validity: Buffer;
  subject: Buffer;
  spki: Buffer;
  /** issuerUniqueID / subjectUniqueID, as written. */
  uniqueIds: Buffer[];
  /** Encoded Extension elements; null leaves the [3] field out. */
  extensions: Buffer[] | null;
  /** Anything appended inside the TBS SEQUENCE. */
  trailing: Buffer[];
}

export interface ForgeOptions {
  /** Changes the parts before the TBS is assembled. */
  parts?: (p: TbsParts) => void;
  /** Rewrites the assembled TBS bytes (still signed afterwards). */
  tbs?: (tbs: Buffer) => Buffer;
  /** The outer signatureAlgorithm; default the same bytes as the inner one. */
  outerAlgorithm?: (inner: Buffer) => Buffer;
  /** Rewrites the signature value bytes (e.g. to high-S). */
  signature?: (sig: Buffer) => Buffer;
  /** Rewrites the whole certificate DER (after signing). */
  outer?: (cert: Buffer) => Buffer;
}

export interface ForgeIssuer {
  key: KeyObject;
  cert: Certificate;
}

export const ECDSA_SHA256 = der.seq(der.oid(OID.ecdsaWithSha256));

/** The default parts of a device certificate issued by `issuer` for `subjectKey`. */
export function deviceParts(
  issuer: ForgeIssuer,
  subjectKey: KeyObject,
  subject: NameFields = { CN: 'dev-01' },
): TbsParts {
  const now = Date.now();
  const spki = spkiDer(subjectKey);
  return {
    version: der.explicit(0, der.integer(2)),
    serial: der.integer(
      Buffer.from(createHash('sha256').update(spki).digest().subarray(0, 16)).fill(0x11, 0, 1),
    ),
    signature: ECDSA_SHA256,
    issuer: issuer.cert.subject.der,
    validity: der.seq(der.time(new Date(now - 3600_000)), der.time(new Date(now + 30 * 86400_000))),
    subject: encodeName(subject),
    spki,
    uniqueIds: [],
    extensions: [
      encodeExtension(OID.basicConstraints, true, encodeBasicConstraints({ ca: false })),
      encodeExtension(OID.keyUsage, true, encodeKeyUsage(['digitalSignature'])),
      encodeExtension(OID.extKeyUsage, false, encodeExtKeyUsage([OID.clientAuth])),
      encodeExtension(OID.subjectKeyIdentifier, false, encodeSubjectKeyIdentifier(keyIdentifier(spki))),
      encodeExtension(
        OID.authorityKeyIdentifier,
        false,
        encodeAuthorityKeyIdentifier(issuer.cert.subjectKeyId ?? keyIdentifier(issuer.cert.spki)),
      ),
    ],
    trailing: [],
  };
}

/** Assembles a TBSCertificate from its parts. */
export function assembleTbs(p: TbsParts): Buffer {
  return der.seq(
    ...(p.version ? [p.version] : []),
    p.serial,
    p.signature,
    p.issuer,
    p.validity,
    p.subject,
    p.spki,
    ...p.uniqueIds,
    ...(p.extensions ? [der.explicit(3, der.seq(...p.extensions))] : []),
    ...p.trailing,
  );
}

/** Signs a TBS with ECDSA-SHA256 (the issuer key must be P-256) and wraps it as a certificate. */
export function signTbs(
  issuerKey: KeyObject,
  tbs: Buffer,
  o: ForgeOptions = {},
  inner = ECDSA_SHA256,
): Buffer {
  let sig: Buffer = sign('sha256', tbs, issuerKey);
  if (o.signature) sig = o.signature(sig);
  const alg = o.outerAlgorithm ? o.outerAlgorithm(inner) : inner;
  const cert = der.seq(tbs, alg, der.bitString(sig));
  return o.outer ? o.outer(cert) : cert;
}

/** A device certificate under `issuer` with the defects `o` asks for. */
export function forgeCertificate(
  issuer: ForgeIssuer,
  o: ForgeOptions = {},
  subjectKey = generateKey('p256'),
): Buffer {
  const parts = deviceParts(issuer, subjectKey);
  o.parts?.(parts);
  let tbs = assembleTbs(parts);
  if (o.tbs) tbs = o.tbs(tbs);
  return signTbs(issuer.key, tbs, o, parts.signature);
}

const CURVE_ORDER: Record<string, bigint> = {
  [OID.ecdsaWithSha256]: BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
  [OID.ecdsaWithSha384]: BigInt(
    '0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
  ),
};

/** Re-encodes an ECDSA signature (r, s) as (r, n - s): still valid, other bytes (P-256 by default). */
export function flipEcdsaS(sig: Buffer, alg: string = OID.ecdsaWithSha256): Buffer {
  const [r, s] = der.children(der.read(sig));
  const sv = BigInt('0x' + der.readIntegerBytes(s!).toString('hex'));
  return der.seq(r!.raw, der.integer(CURVE_ORDER[alg]! - sv));
}

/**
 * The same certificate with its ECDSA signature re-encoded (P-256 with SHA-256, P-384 with
 * SHA-384, as zerotouch signs): what anyone holding the certificate can make, no key needed.
 */
export function reencodeSignature(certDer: Buffer): Buffer {
  const [tbs, alg, sig] = der.children(der.read(certDer));
  const oid = der.readOid(der.children(alg!)[0]!);
  return der.seq(tbs!.raw, alg!.raw, der.bitString(flipEcdsaS(der.readOctetBits(sig!, 'signature'), oid)));
}

/** Replaces the first occurrence of `find` in `buf` by `replace`. */
export function replaceBytes(buf: Buffer, find: Buffer, replace: Buffer): Buffer {
  const i = buf.indexOf(find);
  if (i < 0) throw new Error(`bytes ${find.toString('hex')} not found`);
  return Buffer.concat([buf.subarray(0, i), replace, buf.subarray(i + find.length)]);
}
