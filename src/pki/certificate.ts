/** X.509 certificates: parse from PEM/DER/base64, fields users look at, thumbprints, PEM output. */
import { createHash, type KeyObject } from 'node:crypto';
import { isZtError, ZtError } from '../errors.ts';
import * as der from './der.ts';
import {
  type BasicConstraints,
  decodeAuthorityKeyIdentifier,
  decodeBasicConstraints,
  decodeCrlDistributionPoints,
  decodeExtensions,
  decodeExtKeyUsage,
  decodeKeyUsage,
  decodeSubjectAltName,
  decodeSubjectKeyIdentifier,
  type Extension,
  type SubjectAltName,
} from './extensions.ts';
import { publicKeyFromSpki } from './keys.ts';
import { type DistinguishedName, decodeName, formatName, nameValue } from './names.ts';
import { type KeyUsage, OID } from './oids.ts';
import { decodeInput, toPem } from './pem.ts';

export interface Certificate {
  der: Buffer;
  /** The signed part, exactly as it appears in `der`. */
  tbs: Buffer;
  version: number;
  /** Serial number as uppercase hex. */
  serialNumber: string;
  signatureAlgorithm: string;
  signature: Buffer;
  issuer: DistinguishedName;
  subject: DistinguishedName;
  notBefore: Date;
  notAfter: Date;
  /** SubjectPublicKeyInfo DER. */
  spki: Buffer;
  publicKeyAlgorithm: string;
  extensions: Extension[];
  basicConstraints?: BasicConstraints;
  keyUsage?: KeyUsage[];
  extKeyUsage?: string[];
  subjectAltNames: SubjectAltName[];
  subjectKeyId?: Buffer;
  authorityKeyId?: Buffer;
  crlDistributionPoints: string[];
  commonName?: string;
  /** SHA-1 thumbprint, uppercase hex without separators (as Azure shows it). */
  sha1: string;
  /** SHA-256 thumbprint, uppercase hex without separators. */
  sha256: string;
}

/** Parses one DER certificate; failures are CERT_MALFORMED with the decoding reason. */
export function parseCertificate(input: Buffer): Certificate {
  try {
    return parse(input);
  } catch (e) {
    if (isZtError(e)) throw new ZtError('CERT_MALFORMED', `certificate could not be parsed: ${e.message}`);
    throw new ZtError('CERT_MALFORMED', `certificate could not be parsed: ${(e as Error).message}`);
  }
}

function parse(input: Buffer): Certificate {
  const root = der.read(input);
  const [tbsNode, sigAlgNode, sigNode] = der.children(der.expect(root, der.TAG.SEQUENCE, 'certificate'));
  der.expect(tbsNode, der.TAG.SEQUENCE, 'tbsCertificate');
  const fields = der.children(tbsNode);
  let i = 0;
  let version = 1;
  if (fields[0]?.tag === 0xa0) {
    version = der.readSmallInt(der.children(fields[0])[0]) + 1;
    i++;
  }
  const serial = der.readIntegerBytes(fields[i++]);
  i++; // inner signature AlgorithmIdentifier; must match the outer one, checked below
  const issuer = decodeName(fields[i++]);
  const [nb, na] = der.children(der.expect(fields[i++], der.TAG.SEQUENCE, 'validity'));
  const subject = decodeName(fields[i++]);
  const spkiNode = der.expect(fields[i++], der.TAG.SEQUENCE, 'subjectPublicKeyInfo');
  let extensions: Extension[] = [];
  for (; i < fields.length; i++) {
    if (fields[i].tag === 0xa3) extensions = decodeExtensions(der.children(fields[i])[0]);
  }
  const signatureAlgorithm = der.readOid(der.children(sigAlgNode)[0]);
  const innerAlg = der.readOid(der.children(fields[version === 1 ? 1 : 2])[0]);
  if (innerAlg !== signatureAlgorithm) {
    throw new ZtError('CERT_MALFORMED', 'inner and outer signature algorithms differ');
  }
  const cert: Certificate = {
    der: root.raw,
    tbs: tbsNode.raw,
    version,
    serialNumber: serial.toString('hex').toUpperCase(),
    signatureAlgorithm,
    signature: der.readBitString(sigNode).bytes,
    issuer,
    subject,
    notBefore: der.readTime(nb),
    notAfter: der.readTime(na),
    spki: spkiNode.raw,
    publicKeyAlgorithm: der.readOid(der.children(der.children(spkiNode)[0])[0]),
    extensions,
    subjectAltNames: [],
    crlDistributionPoints: [],
    commonName: nameValue(subject, 'CN'),
    sha1: createHash('sha1').update(root.raw).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(root.raw).digest('hex').toUpperCase(),
  };
  for (const ext of extensions) {
    switch (ext.oid) {
      case OID.basicConstraints:
        cert.basicConstraints = decodeBasicConstraints(ext.value);
        break;
      case OID.keyUsage:
        cert.keyUsage = decodeKeyUsage(ext.value);
        break;
      case OID.extKeyUsage:
        cert.extKeyUsage = decodeExtKeyUsage(ext.value);
        break;
      case OID.subjectAltName:
        cert.subjectAltNames = decodeSubjectAltName(ext.value);
        break;
      case OID.subjectKeyIdentifier:
        cert.subjectKeyId = decodeSubjectKeyIdentifier(ext.value);
        break;
      case OID.authorityKeyIdentifier:
        cert.authorityKeyId = decodeAuthorityKeyIdentifier(ext.value);
        break;
      case OID.crlDistributionPoints:
        cert.crlDistributionPoints = decodeCrlDistributionPoints(ext.value);
        break;
    }
  }
  return cert;
}

/** Every certificate in PEM text (a chain file), base64 DER or raw DER input, in order. */
export function loadCertificates(input: Buffer | string): Certificate[] {
  return decodeInput(input, ['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE'], 'a certificate').map(
    parseCertificate,
  );
}

/** Exactly one certificate (the first, when given a chain file). */
export function loadCertificate(input: Buffer | string): Certificate {
  return loadCertificates(input)[0];
}

/** The certificate as PEM. */
export function certificatePem(cert: Certificate): string {
  return toPem('CERTIFICATE', cert.der);
}

const keyCache = new WeakMap<Certificate, KeyObject>();

/** The certificate's public key (cached per parsed certificate). */
export function certificatePublicKey(cert: Certificate): KeyObject {
  let key = keyCache.get(cert);
  if (!key) {
    key = publicKeyFromSpki(cert.spki);
    keyCache.set(cert, key);
  }
  return key;
}

/** True when subject and issuer are the same name (roots and self-issued CA certificates). */
export function isSelfIssued(cert: Certificate): boolean {
  return cert.subject.der.equals(cert.issuer.der);
}

/** True when the certificate is a CA (basicConstraints CA:TRUE). */
export function isCa(cert: Certificate): boolean {
  return cert.basicConstraints?.ca === true;
}

/** "CN=dev-01 (serial 1A2B..., SHA-256 AB12...)": how errors name a certificate. */
export function describeCertificate(cert: Certificate): string {
  return `"${formatName(cert.subject)}" (SHA-1 ${cert.sha1})`;
}
