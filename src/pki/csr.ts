/** PKCS#10 certificate signing requests: parse, verify the self-signature, and create (for the toolkit and agent). */
import type { KeyObject } from 'node:crypto';
import { isZtError, ZtError } from '../errors.ts';
import { signatureAlgorithmFor, signWith, verifySignature } from './algorithms.ts';
import * as der from './der.ts';
import {
  decodeExtensions,
  decodeSubjectAltName,
  type Extension,
  encodeExtension,
  encodeSubjectAltName,
  type SubjectAltName,
} from './extensions.ts';
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
    throw new ZtError('CSR_MALFORMED', `certificate signing request could not be parsed: ${reason}`);
  }
}

function parse(bytes: Buffer): CertificationRequest {
  const root = der.read(bytes);
  const [infoNode, algNode, sigNode] = der.children(
    der.expect(root, der.TAG.SEQUENCE, 'CertificationRequest'),
  );
  const [, subjectNode, spkiNode, attrsNode] = der.children(
    der.expect(infoNode, der.TAG.SEQUENCE, 'requestInfo'),
  );
  const csr: CertificationRequest = {
    der: root.raw,
    info: infoNode.raw,
    subject: decodeName(subjectNode),
    spki: der.expect(spkiNode, der.TAG.SEQUENCE, 'subjectPublicKeyInfo').raw,
    signatureAlgorithm: der.readOid(der.children(algNode)[0]),
    signature: der.readBitString(sigNode).bytes,
    extensions: [],
    subjectAltNames: [],
  };
  csr.commonName = nameValue(csr.subject, 'CN');
  if (attrsNode && attrsNode.tag === 0xa0) {
    for (const attr of der.children(attrsNode)) {
      const [typeNode, valuesNode] = der.children(attr);
      const type = der.readOid(typeNode);
      const first = der.children(valuesNode)[0];
      if (!first) continue;
      if (type === OID.extensionRequest) csr.extensions = decodeExtensions(first);
      else if (type === OID.challengePassword) csr.challengePassword = der.readString(first);
    }
  }
  const san = csr.extensions.find((e) => e.oid === OID.subjectAltName);
  if (san) csr.subjectAltNames = decodeSubjectAltName(san.value);
  return csr;
}

/** Throws CSR_BAD_SIGNATURE unless the CSR is signed by the key it carries (proof of possession). */
export function verifyCsr(csr: CertificationRequest): void {
  const key = publicKeyFromSpki(csr.spki);
  if (!verifySignature(csr.signatureAlgorithm, csr.info, csr.signature, key)) {
    throw new ZtError(
      'CSR_BAD_SIGNATURE',
      'the CSR signature does not verify with its own public key; regenerate the CSR with the matching private key',
    );
  }
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
