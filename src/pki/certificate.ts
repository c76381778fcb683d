/** X.509 certificates: parse from PEM/DER/base64, fields users look at, thumbprints, PEM output. */
import { createHash, type KeyObject } from 'node:crypto';
import { isZtError, ZtError } from '../errors.ts';
import * as der from './der.ts';
import {
  type BasicConstraints,
  decodeAuthorityKeyIdentifierFull,
  decodeBasicConstraints,
  decodeCrlDistributionPoints,
  decodeExtensions,
  decodeExtKeyUsage,
  decodeKeyUsage,
  decodeSubjectAltName,
  decodeInfoAccess,
  decodeNameConstraints,
  decodeSubjectKeyIdentifier,
  type Extension,
  type SubjectAltName,
  type NameConstraints,
} from './extensions.ts';
import { publicKeyFromSpki } from './keys.ts';
import {
  type DistinguishedName,
  decodeName,
  formatName,
  nameMatchKey,
  namesEqual,
  nameValue,
} from './names.ts';
import { type KeyUsage, OID } from './oids.ts';
import { decodeInput, toPem } from './pem.ts';

export interface Certificate {
  der: Buffer;
  /** The signed part, exactly as it appears in `der`. */
  tbs: Buffer;
  version: number;
  /** Serial number as uppercase hex (positive, minimal: one spelling per serial). */
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
  /** The issuer's serial named in the authorityKeyIdentifier (uppercase hex), when it names one. */
  authorityCertSerial?: string;
  crlDistributionPoints: string[];
  nameConstraints?: NameConstraints;
  commonName?: string;
  /** SHA-1 thumbprint, uppercase hex without separators (as Azure shows it). */
  sha1: string;
  /** SHA-256 thumbprint, uppercase hex without separators. */
  sha256: string;
  /**
   * SHA-256 of the signed TBSCertificate, uppercase hex: the same for every encoding of the
   * signature (an ECDSA (r, s) and (r, n-s) differ in thumbprint, not here).
   */
  tbsSha256: string;
}

/** Largest certificate parsed at all; device listeners cap lower (device.max_certificate_bytes). */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

/** Parses one DER certificate; failures are CERT_MALFORMED naming the field and the rule. */
export function parseCertificate(input: Buffer, maxBytes = MAX_CERTIFICATE_BYTES): Certificate {
  if (input.length > maxBytes) {
    throw new ZtError(
      'CERT_MALFORMED',
      `a certificate of ${input.length} bytes is larger than the ${maxBytes}-byte limit`,
      { rule: 'cert-too-large' },
    );
  }
  try {
    return parse(input);
  } catch (e) {
    if (isZtError(e)) {
      throw new ZtError('CERT_MALFORMED', `certificate could not be parsed: ${e.message}`, e.detail);
    }
    throw new ZtError('CERT_MALFORMED', `certificate could not be parsed: ${(e as Error).message}`, {
      rule: 'unexpected',
    });
  }
}

// Signature algorithms whose AlgorithmIdentifier has no parameters (RFC 5758 3.2, RFC 8410 3)
// and those whose parameters are NULL, present or absent (RFC 4055 5).
const SIG_NO_PARAMS = new Set<string>([
  OID.ecdsaWithSha256,
  OID.ecdsaWithSha384,
  OID.ecdsaWithSha512,
  OID.ed25519,
]);
const SIG_NULL_PARAMS = new Set<string>([
  OID.sha1WithRsa,
  OID.sha256WithRsa,
  OID.sha384WithRsa,
  OID.sha512WithRsa,
]);

/** Reads a signature AlgorithmIdentifier, holding its parameters to what the algorithm defines. */
export function readSignatureAlgorithm(node: der.Node, what: string): string {
  const parts = der.children(der.expect(node, der.TAG.SEQUENCE, what));
  const oid = der.readOid(der.expect(parts[0], der.TAG.OID, `${what} algorithm`));
  const params = parts[1];
  der.noMore(parts, params ? 2 : 1, what);
  if (params) {
    if (SIG_NO_PARAMS.has(oid))
      der.malformed('algorithm-parameters', `${what} ${oid} must have no parameters`);
    if (SIG_NULL_PARAMS.has(oid)) der.readNull(params, `${what} parameters`);
    else der.checkTree(params);
  }
  return oid;
}

/** Checks a SubjectPublicKeyInfo's shape and key parameters (RFC 3279, 5480, 8410); returns the key OID. */
export function readSpki(node: der.Node): string {
  const parts = der.children(der.expect(node, der.TAG.SEQUENCE, 'subjectPublicKeyInfo'));
  der.noMore(parts, 2, 'subjectPublicKeyInfo');
  const alg = der.children(der.expect(parts[0], der.TAG.SEQUENCE, 'public key algorithm'));
  const oid = der.readOid(der.expect(alg[0], der.TAG.OID, 'public key algorithm'));
  const params = alg[1];
  der.noMore(alg, params ? 2 : 1, 'public key algorithm');
  const key = der.readOctetBits(
    der.expect(parts[1], der.TAG.BIT_STRING, 'subjectPublicKey'),
    'subjectPublicKey',
  );
  switch (oid) {
    case OID.rsaEncryption:
      der.readNull(der.expect(params, der.TAG.NULL, 'RSA key parameters'), 'RSA key parameters');
      break;
    case OID.ecPublicKey:
      // namedCurve only: explicit curve parameters are refused (RFC 5480 2.1.1).
      der.readOid(der.expect(params, der.TAG.OID, 'EC key parameters (a named curve)'));
      break;
    case OID.ed25519:
      if (params) der.malformed('algorithm-parameters', 'an Ed25519 key must have no parameters');
      if (key.length !== 32) der.malformed('key-length', `an Ed25519 key is 32 bytes, not ${key.length}`);
      break;
    default:
      if (params) der.checkTree(params);
  }
  return oid;
}

/** Reads notBefore/notAfter: UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 4.1.2.5). */
function readValidityTime(node: der.Node | undefined, what: string): Date {
  if (!node) der.malformed('der-missing', `${what} is missing`);
  const d = der.readTime(node, what);
  if (node.tag === der.TAG.GENERALIZED_TIME && d.getUTCFullYear() < 2050) {
    der.malformed(
      'time-generalized-before-2050',
      `${what} is a GeneralizedTime before 2050; RFC 5280 uses UTCTime there`,
    );
  }
  return d;
}

const CRITICAL_FORBIDDEN = new Set<string>([
  OID.authorityKeyIdentifier,
  OID.subjectKeyIdentifier,
  OID.authorityInfoAccess,
]);

function parse(input: Buffer): Certificate {
  const root = der.read(input);
  const top = der.children(der.expect(root, der.TAG.SEQUENCE, 'certificate'));
  der.noMore(top, 3, 'certificate');
  const [tbsNode, sigAlgNode, sigNode] = top;
  const f = der.children(der.expect(tbsNode, der.TAG.SEQUENCE, 'tbsCertificate'));
  let i = 0;
  let version = 1;
  if (f[0]?.tag === 0xa0) {
    const v = der.children(f[0]);
    der.noMore(v, 1, 'version');
    const raw = der.readSmallInt(der.expect(v[0], der.TAG.INTEGER, 'version'), 'version');
    if (raw > 2) der.malformed('version-unknown', `version field ${raw} is not v1 (0), v2 (1) or v3 (2)`);
    // An explicit v1 ([0] INTEGER 0) is BER, not DER, but signed; OpenSSL and Go accept it too.
    version = raw + 1;
    i++;
  }
  const serialNode = der.expect(f[i++], der.TAG.INTEGER, 'serialNumber');
  if (der.isNegativeInteger(serialNode))
    der.malformed('serial-negative', 'serialNumber is negative (RFC 5280 4.1.2.2)');
  const serial = der.readIntegerBytes(serialNode, 'serialNumber');
  if (serial.length === 1 && serial[0] === 0)
    der.malformed('serial-zero', 'serialNumber is 0 (RFC 5280 4.1.2.2)');
  if (serial.length > 20)
    der.malformed('serial-too-long', `serialNumber has ${serial.length} octets; at most 20`);
  const innerAlg = der.expect(f[i++], der.TAG.SEQUENCE, 'signature');
  const issuer = decodeName(der.expect(f[i++], der.TAG.SEQUENCE, 'issuer'), 'issuer');
  if (issuer.rdns.length === 0) der.malformed('issuer-empty', 'the issuer name is empty (RFC 5280 4.1.2.4)');
  const validity = der.children(der.expect(f[i++], der.TAG.SEQUENCE, 'validity'));
  der.noMore(validity, 2, 'validity');
  const notBefore = readValidityTime(validity[0], 'notBefore');
  const notAfter = readValidityTime(validity[1], 'notAfter');
  if (notAfter < notBefore) der.malformed('validity-inverted', 'notAfter is before notBefore');
  const subject = decodeName(der.expect(f[i++], der.TAG.SEQUENCE, 'subject'), 'subject');
  const spkiNode = der.expect(f[i++], der.TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const publicKeyAlgorithm = readSpki(spkiNode);
  for (const [tag, name] of [
    [0x81, 'issuerUniqueID'],
    [0x82, 'subjectUniqueID'],
  ] as const) {
    if (f[i]?.tag !== tag) continue;
    if (version < 2) der.malformed('unique-id-version', `${name} needs version 2 or 3`);
    der.readBitString({ ...f[i++]!, tag: der.TAG.BIT_STRING }, name);
  }
  let extensions: Extension[] = [];
  if (f[i]?.tag === 0xa3) {
    if (version !== 3)
      der.malformed('extensions-version', `extensions need version 3; this is version ${version}`);
    const wrapped = der.children(f[i++]!);
    der.noMore(wrapped, 1, 'extensions');
    extensions = decodeExtensions(wrapped[0]!);
  }
  der.noMore(f, i, 'tbsCertificate');
  if (!innerAlg.raw.equals(sigAlgNode!.raw)) {
    der.malformed(
      'signature-algorithm-mismatch',
      'the signatureAlgorithm differs from the signature field inside tbsCertificate (RFC 5280 4.1.1.2)',
    );
  }
  const signatureAlgorithm = readSignatureAlgorithm(sigAlgNode!, 'signatureAlgorithm');
  const signature = der.readOctetBits(
    der.expect(sigNode, der.TAG.BIT_STRING, 'signatureValue'),
    'signatureValue',
  );

  const cert: Certificate = {
    der: root.raw,
    tbs: tbsNode!.raw,
    version,
    serialNumber: serial.toString('hex').toUpperCase(),
    signatureAlgorithm,
    signature,
    issuer,
    subject,
    notBefore,
    notAfter,
    spki: spkiNode.raw,
    publicKeyAlgorithm,
    extensions,
    subjectAltNames: [],
    crlDistributionPoints: [],
    commonName: nameValue(subject, 'CN'),
    sha1: createHash('sha1').update(root.raw).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(root.raw).digest('hex').toUpperCase(),
    tbsSha256: createHash('sha256').update(tbsNode!.raw).digest('hex').toUpperCase(),
  };
  for (const ext of extensions) {
    if (ext.critical && CRITICAL_FORBIDDEN.has(ext.oid)) {
      der.malformed(
        'extension-must-not-be-critical',
        `extension ${ext.name} must not be critical (RFC 5280 4.2)`,
      );
    }
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
        ({ keyId: cert.authorityKeyId, serial: cert.authorityCertSerial } = decodeAuthorityKeyIdentifierFull(
          ext.value,
        ));
        break;
      case OID.crlDistributionPoints:
        cert.crlDistributionPoints = decodeCrlDistributionPoints(ext.value);
        break;
      case OID.authorityInfoAccess:
        decodeInfoAccess(ext.value);
        break;
      case OID.nameConstraints:
        cert.nameConstraints = decodeNameConstraints(ext.value);
        break;
    }
  }
  return cert;
}

/** Every certificate in PEM text (a chain file), base64 DER or raw DER input, in order. */
export function loadCertificates(input: Buffer | string): Certificate[] {
  return decodeInput(input, ['CERTIFICATE', 'X509 CERTIFICATE', 'TRUSTED CERTIFICATE'], 'a certificate').map(
    (d) => parseCertificate(d),
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
// By SPKI bytes too: a device's intermediate arrives in every handshake, parsed anew each time.
const keysBySpki = new Map<string, KeyObject>();
const MAX_KEYS_BY_SPKI = 1000;

/** The certificate's public key (cached per parsed certificate and by its SPKI bytes). */
export function certificatePublicKey(cert: Certificate): KeyObject {
  let key = keyCache.get(cert);
  if (!key) {
    const spki = cert.spki.toString('base64');
    key = keysBySpki.get(spki);
    if (!key) {
      key = publicKeyFromSpki(cert.spki);
      if (keysBySpki.size >= MAX_KEYS_BY_SPKI) keysBySpki.clear();
      keysBySpki.set(spki, key);
    }
    keyCache.set(cert, key);
  }
  return key;
}

const provenKeys = new WeakSet<Certificate>();

/**
 * Records that the holder of this certificate's key proved it in a TLS handshake, which needs
 * the key to load: validation then need not load it again (it costs more than parsing).
 */
export function markKeyProven(cert: Certificate): void {
  provenKeys.add(cert);
}

/** True when the certificate's public key loads (or was already proven in a TLS handshake). */
export function publicKeyLoads(cert: Certificate): boolean {
  if (provenKeys.has(cert) || keyCache.has(cert)) return true;
  try {
    certificatePublicKey(cert);
    return true;
  } catch {
    return false;
  }
}

/** True when subject and issuer are the same name (roots and self-issued CA certificates). */
export function isSelfIssued(cert: Certificate): boolean {
  return namesEqual(cert.subject, cert.issuer);
}

const nameHashes = new WeakMap<DistinguishedName, string>();

/** SHA-256 of a name prepared for comparison (RFC 5280 7.1), uppercase hex; kept per parsed name. */
export function nameHash(name: DistinguishedName): string {
  let k = nameHashes.get(name);
  if (!k) {
    k = createHash('sha256').update(nameMatchKey(name)).digest('hex').toUpperCase();
    nameHashes.set(name, k);
  }
  return k;
}

/**
 * The issuer as revocation and identity records key it: the hash of the issuer name prepared for
 * comparison. With the serial it names one certificate, however its signature is encoded.
 */
export function issuerKey(cert: Certificate): string {
  return nameHash(cert.issuer);
}

/** True when the certificate is a CA (basicConstraints CA:TRUE). */
export function isCa(cert: Certificate): boolean {
  return cert.basicConstraints?.ca === true;
}

/** "CN=dev-01 (serial 1A2B..., SHA-256 AB12...)": how errors name a certificate. */
export function describeCertificate(cert: Certificate): string {
  return `"${formatName(cert.subject)}" (SHA-1 ${cert.sha1})`;
}
