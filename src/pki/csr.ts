/** PKCS#10 certificate signing requests: parse, verify the self-signature, and create (for the toolkit and agent). */
import type { KeyObject } from 'node:crypto';
import { isZtError, ZtError } from '../errors.ts';
import { signatureAlgorithmFor, signWith, verifySignature } from './algorithms.ts';
import * as der from './der.ts';
import {
  decodeBasicConstraints,
  decodeExtensions,
  decodeExtKeyUsage,
  decodeKeyUsage,
  decodeSubjectAltName,
  type Extension,
  encodeExtension,
  encodeSubjectAltName,
  type SubjectAltName,
} from './extensions.ts';
import { readSignatureAlgorithm, readSpki } from './certificate.ts';
import { publicKeyFromSpki, spkiDer } from './keys.ts';
import { type DistinguishedName, decodeName, encodeName, type NameFields, nameValue } from './names.ts';
import { OID } from './oids.ts';
import { decodeInput, toPem } from './pem.ts';

export interface CertificationRequest {
  der: Buffer;
  /** CertificationRequestInfo, the signed part. */
  info: Buffer;
  subject: DistinguishedName;
  commonName?: string;
  spki: Buffer;
  signatureAlgorithm: string;
  signature: Buffer;
  /** Extensions requested through the PKCS#9 extensionRequest attribute. */
  extensions: Extension[];
  subjectAltNames: SubjectAltName[];
  challengePassword?: string;
  /** Set by verifyCsr once the signature verified: a CSR checked before issuance is not verified again. */
  signatureVerified?: true;
}

/** Parses a CSR from PEM, base64 (any line layout) or DER. Does not verify the signature. */
export function parseCsr(input: Buffer | string): CertificationRequest {
  const [bytes] = decodeInput(
    input,
    ['CERTIFICATE REQUEST', 'NEW CERTIFICATE REQUEST'],
    'a certificate signing request',
  );
  try {
    return parse(bytes);
  } catch (e) {
    const reason = isZtError(e) ? e.message : (e as Error).message;
    throw new ZtError(
      'CSR_MALFORMED',
      `certificate signing request could not be parsed: ${reason}`,
      isZtError(e) ? e.detail : { rule: 'unexpected' },
    );
  }
}

/** Largest CSR read at all. */
export const MAX_CSR_BYTES = 16 * 1024;

function parse(bytes: Buffer): CertificationRequest {
  if (bytes.length > MAX_CSR_BYTES) {
    der.malformed(
      'csr-too-large',
      `a CSR of ${bytes.length} bytes is larger than the ${MAX_CSR_BYTES}-byte limit`,
    );
  }
  const root = der.read(bytes);
  const top = der.children(der.expect(root, der.TAG.SEQUENCE, 'CertificationRequest'));
  der.noMore(top, 3, 'CertificationRequest');
  const [infoNode, algNode, sigNode] = top;
  const info = der.children(der.expect(infoNode, der.TAG.SEQUENCE, 'certificationRequestInfo'));
  // RFC 2986 4.1: version 0, and the attributes field is not OPTIONAL (A0 00 when empty).
  const version = der.readSmallInt(der.expect(info[0], der.TAG.INTEGER, 'version'), 'version');
  if (version !== 0) der.malformed('csr-version', `the CSR version is ${version}; PKCS#10 requires 0`);
  const subject = decodeName(der.expect(info[1], der.TAG.SEQUENCE, 'subject'), 'subject');
  const spkiNode = der.expect(info[2], der.TAG.SEQUENCE, 'subjectPublicKeyInfo');
  readSpki(spkiNode);
  const attrsNode = der.expect(info[3], 0xa0, 'attributes');
  der.noMore(info, 4, 'certificationRequestInfo');
  const signatureAlgorithm = readSignatureAlgorithm(algNode!, 'signatureAlgorithm');
  const csr: CertificationRequest = {
    der: root.raw,
    info: infoNode!.raw,
    subject,
    spki: spkiNode.raw,
    signatureAlgorithm,
    signature: der.readOctetBits(der.expect(sigNode, der.TAG.BIT_STRING, 'signature'), 'signature'),
    extensions: [],
    subjectAltNames: [],
  };
  csr.commonName = nameValue(csr.subject, 'CN');
  const seen = new Set<string>();
  for (const attr of der.children(attrsNode)) {
    const parts = der.children(der.expect(attr, der.TAG.SEQUENCE, 'attribute'));
    der.noMore(parts, 2, 'attribute');
    const type = der.readOid(der.expect(parts[0], der.TAG.OID, 'attribute type'));
    const values = der.children(der.expect(parts[1], der.TAG.SET, `attribute ${type} values`));
    if (values.length === 0) der.malformed('csr-attribute', `attribute ${type} has no value`);
    if (seen.has(type)) der.malformed('csr-attribute', `attribute ${type} appears more than once`);
    seen.add(type);
    if (type === OID.extensionRequest || type === OID.challengePassword) {
      // Both are SINGLE VALUE (RFC 2985 5.4.1, 5.4.2).
      if (values.length !== 1)
        der.malformed('csr-attribute', `attribute ${type} must have exactly one value`);
      if (type === OID.extensionRequest) csr.extensions = decodeExtensions(values[0]!);
      else {
        const pw = der.readString(values[0]!, 'challengePassword');
        if (pw.length > 255)
          der.malformed('csr-attribute', 'challengePassword is longer than 255 characters');
        csr.challengePassword = pw;
      }
    } else for (const v of values) der.checkTree(v);
  }
  const san = csr.extensions.find((e) => e.oid === OID.subjectAltName);
  if (san) csr.subjectAltNames = decodeSubjectAltName(san.value);
  for (const ext of csr.extensions) {
    // Read every requested extension the engine may look at, so a malformed one fails here.
    if (ext.oid === OID.basicConstraints) decodeBasicConstraints(ext.value);
    else if (ext.oid === OID.keyUsage) decodeKeyUsage(ext.value);
    else if (ext.oid === OID.extKeyUsage) decodeExtKeyUsage(ext.value);
  }
  return csr;
}

/** Throws CSR_BAD_SIGNATURE unless the CSR is signed by the key it carries (proof of possession). */
export function verifyCsr(csr: CertificationRequest): void {
  if (csr.signatureVerified) return;
  // The key goes to OpenSSL as DER: a KeyObject would cost as much again as the verification.
  const key = { key: csr.spki, format: 'der', type: 'spki' } as const;
  if (!verifySignature(csr.signatureAlgorithm, csr.info, csr.signature, key)) {
    publicKeyFromSpki(csr.spki); // a key that cannot be loaded at all says so (KEY_UNSUPPORTED)
    throw new ZtError(
      'CSR_BAD_SIGNATURE',
      'the CSR signature does not verify with its own public key; regenerate the CSR with the matching private key',
    );
  }
  csr.signatureVerified = true;
}

/** Creates a signed CSR for `key` with the given subject and optional SANs. */
export function createCsr(key: KeyObject, subject: NameFields, sans: SubjectAltName[] = []): Buffer {
  const attributes: Buffer[] = [];
  if (sans.length > 0) {
    const exts = der.seq(encodeExtension(OID.subjectAltName, false, encodeSubjectAltName(sans)));
    attributes.push(der.seq(der.oid(OID.extensionRequest), der.setOf(exts)));
  }
  const info = der.seq(
    der.integer(0),
    encodeName(subject),
    spkiDer(key),
    der.implicit(0, Buffer.concat(attributes), true),
  );
  const alg = signatureAlgorithmFor(key);
  return der.seq(info, alg.identifier, der.bitString(signWith(alg, key, info)));
}

/** The CSR as PEM. */
export function csrPem(csrDer: Buffer): string {
  return toPem('CERTIFICATE REQUEST', csrDer);
}
