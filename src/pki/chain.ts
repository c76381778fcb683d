/**
 * Chain building and path validation (RFC 5280 section 6, the parts devices exercise): issuer
 * names compared as 7.1 says, key identifiers, signatures, validity windows, basicConstraints CA
 * and pathLen, keyUsage keyCertSign, name constraints, EKU and keyUsage on the leaf, unknown
 * critical extensions. Every failure says which certificate failed and why; the names of the
 * trusted CAs appear only in the operator's message. This is the one implementation; every flow
 * calls it.
 */
import { type ErrorCode, ZtError } from '../errors.ts';
import { verifySignature } from './algorithms.ts';
import {
  type Certificate,
  certificatePublicKey,
  describeCertificate,
  isSelfIssued,
  publicKeyLoads,
} from './certificate.ts';
import { nameConstraintViolation } from './name-constraints.ts';
import { formatName, namesEqual } from './names.ts';
import { ekuName, OID } from './oids.ts';

export interface ValidationOptions {
  /** Time to validate at; default now. */
  at?: Date;
  /**
   * EKU OID the leaf must allow (when it has an EKU extension at all). For clientAuth the leaf's
   * keyUsage, when present, must also allow digitalSignature or keyAgreement.
   */
  requiredEku?: string;
  /** Most certificates in a path, anchor included. */
  maxLength?: number;
}

export interface ValidatedPath {
  /** Leaf first, trust anchor last. */
  path: Certificate[];
  anchor: Certificate;
}

/**
 * Extensions whose meaning this validator applies. The policy extensions are deliberately not
 * here: policies are not processed, so a critical one refuses the chain (RFC 5280 4.2).
 */
const UNDERSTOOD_EXTENSIONS = new Set<string>([
  OID.basicConstraints,
  OID.keyUsage,
  OID.extKeyUsage,
  OID.subjectAltName,
  OID.subjectKeyIdentifier,
  OID.authorityKeyIdentifier,
  OID.crlDistributionPoints,
  OID.authorityInfoAccess,
  OID.nameConstraints,
]);

/** Most signature verifications one chain may cost (Go stops at 100). */
const MAX_SIGNATURE_CHECKS = 32;

function fail(
  code: ErrorCode,
  message: string,
  cert: Certificate,
  index: number,
  operatorMessage?: string,
): never {
  throw new ZtError(
    code,
    message,
    { certificate: formatName(cert.subject), sha1: cert.sha1, index },
    operatorMessage,
  );
}

/** True when the certificate's authorityKeyIdentifier names another CA than `issuer` (key id or serial). */
function keyIdsConflict(cert: Certificate, issuer: Certificate): boolean {
  if (cert.authorityKeyId && issuer.subjectKeyId && !cert.authorityKeyId.equals(issuer.subjectKeyId))
    return true;
  return cert.authorityCertSerial !== undefined && cert.authorityCertSerial !== issuer.serialNumber;
}

function listAnchors(anchors: Certificate[]): string {
  if (anchors.length === 0) return 'none configured';
  const names = anchors.slice(0, 5).map((a) => `"${formatName(a.subject)}"`);
  return names.join(', ') + (anchors.length > 5 ? ` and ${anchors.length - 5} more` : '');
}

// Signatures that verified, by the SHA-256 of the whole certificate and of its issuer (exact
// bytes, so a re-encoded signature is a new entry): a fleet's intermediate arrives in every
// handshake and its signature need not be checked again. Only successes are kept, bounded.
const verifiedEdges = new Set<string>();
const MAX_VERIFIED_EDGES = 10_000;

/** True when `issuer`'s key verifies `cert`'s signature (remembered per exact pair of certificates). */
function verifiedBy(cert: Certificate, issuer: Certificate): boolean {
  const edge = `${cert.sha256}/${issuer.sha256}`;
  if (verifiedEdges.has(edge)) return true;
  if (!verifySignature(cert.signatureAlgorithm, cert.tbs, cert.signature, certificatePublicKey(issuer))) {
    return false;
  }
  if (verifiedEdges.size >= MAX_VERIFIED_EDGES) verifiedEdges.clear();
  verifiedEdges.add(edge);
  return true;
}

/** Builds the path from `leaf` through `untrusted` to one of `anchors` (signatures checked on the way). */
export function buildPath(
  leaf: Certificate,
  untrusted: Certificate[],
  anchors: Certificate[],
  maxLength = 10,
): ValidatedPath {
  // Identity is the signed content: a re-encoded signature does not make another certificate.
  const isAnchor = (c: Certificate) => anchors.some((a) => a.tbsSha256 === c.tbsSha256);
  let checks = 0;
  const signedBy = (cert: Certificate, issuer: Certificate, index: number) => {
    if (++checks > MAX_SIGNATURE_CHECKS) {
      fail(
        'CHAIN_TOO_LONG',
        `building the chain of ${describeCertificate(cert)} needed more than ${MAX_SIGNATURE_CHECKS} signature checks; send only the certificates of its chain`,
        cert,
        index,
      );
    }
    return verifiedBy(cert, issuer);
  };
  const path: Certificate[] = [leaf];
  let current = leaf;
  while (!isAnchor(current)) {
    const index = path.length - 1;
    if (path.length >= maxLength) {
      fail(
        'CHAIN_TOO_LONG',
        `chain is longer than ${maxLength} certificates without reaching a trusted CA`,
        current,
        index,
      );
    }
    const cur = current;
    const sameName = (c: Certificate) => c.tbsSha256 !== cur.tbsSha256 && namesEqual(c.subject, cur.issuer);
    const candidates = [...anchors.filter(sameName), ...untrusted.filter(sameName)];
    const issuer = candidates.find((c) => !keyIdsConflict(cur, c) && signedBy(cur, c, index));
    if (issuer) {
      path.push(issuer);
      current = issuer;
      continue;
    }
    if (candidates.length > 0) {
      const trustedMatch = candidates.some(isAnchor);
      const message =
        `the signature of ${describeCertificate(current)} does not verify with the key of its issuer ` +
        `"${formatName(current.issuer)}": it was signed by a different CA with the same name, or it was altered. ` +
        'Present the chain of the CA that really issued it.';
      fail(
        'CHAIN_BAD_SIGNATURE',
        message,
        current,
        index,
        message.replace('its issuer', trustedMatch ? 'trusted CA' : 'presented CA'),
      );
    }
    if (isSelfIssued(current) && signedBy(current, current, index)) {
      fail(
        'CHAIN_UNKNOWN_ISSUER',
        `the chain ends at self-signed ${describeCertificate(current)}, which is not a trusted CA here. ` +
          'Present a chain that reaches the CA this device was enrolled with.',
        current,
        index,
        `the chain ends at self-signed ${describeCertificate(current)}, which is not a trusted CA here; ` +
          `trusted CAs: ${listAnchors(anchors)}. Upload and verify that CA, or present a chain that reaches a trusted one.`,
      );
    }
    fail(
      'CHAIN_UNKNOWN_ISSUER',
      `chain does not reach a trusted CA: ${describeCertificate(current)} was issued by "${formatName(current.issuer)}", ` +
        'which is not in the presented chain nor trusted here. Send the full chain (leaf and intermediates).',
      current,
      index,
      `chain does not reach a trusted CA: ${describeCertificate(current)} was issued by "${formatName(current.issuer)}", ` +
        `which is neither a trusted CA nor in the presented chain; trusted CAs: ${listAnchors(anchors)}. ` +
        'Send the full chain (leaf and intermediates) or upload and verify the issuing CA.',
    );
  }
  return { path, anchor: current };
}

/** Validates the path from `leaf` to a trusted anchor; throws a ZtError with the precise reason. */
export function validateChain(
  leaf: Certificate,
  untrusted: Certificate[],
  anchors: Certificate[],
  options: ValidationOptions = {},
): ValidatedPath {
  const at = options.at ?? new Date();
  const result = buildPath(leaf, untrusted, anchors, options.maxLength);
  const { path } = result;

  for (let i = 0; i < path.length; i++) {
    const cert = path[i]!;
    const role = i === 0 ? 'certificate' : i === path.length - 1 ? 'trusted CA' : 'intermediate CA';
    if (at < cert.notBefore) {
      fail(
        'CERT_NOT_YET_VALID',
        `${role} ${describeCertificate(cert)} is not valid until ${cert.notBefore.toISOString()} (now ${at.toISOString()}); ` +
          'check the clock of the device and of the server, or reissue it with an earlier start.',
        cert,
        i,
      );
    }
    if (at > cert.notAfter) {
      fail(
        'CERT_EXPIRED',
        `${role} ${describeCertificate(cert)} expired on ${cert.notAfter.toISOString()}; renew it.`,
        cert,
        i,
      );
    }
    for (const ext of cert.extensions) {
      if (ext.critical && !UNDERSTOOD_EXTENSIONS.has(ext.oid)) {
        fail(
          'CHAIN_CRITICAL_EXTENSION',
          `${role} ${describeCertificate(cert)} has critical extension ${ext.name}, which zerotouch does not process; ` +
            'reissue it without that extension or mark it non-critical.',
          cert,
          i,
        );
      }
    }
    if (i === 0) continue;

    // cert issues path[i-1]: it must be a CA allowed to sign certificates (6.1.4 (k), (n)).
    const v1Anchor = i === path.length - 1 && cert.version === 1;
    if (!v1Anchor && cert.basicConstraints?.ca !== true) {
      fail(
        'CHAIN_NOT_CA',
        `${role} ${describeCertificate(cert)} signed ${describeCertificate(path[i - 1]!)} but is not a CA ` +
          '(basicConstraints CA:TRUE is missing); issue the chain from a CA certificate.',
        cert,
        i,
      );
    }
    if (cert.keyUsage && !cert.keyUsage.includes('keyCertSign')) {
      fail(
        'CHAIN_KEY_USAGE',
        `${role} ${describeCertificate(cert)} has keyUsage ${cert.keyUsage.join(', ')} without keyCertSign, so it may not sign certificates.`,
        cert,
        i,
      );
    }
    const pathLen = cert.basicConstraints?.pathLen;
    if (pathLen !== undefined) {
      // Intermediates below this CA, not counting the leaf and self-issued ones (RFC 5280 6.1.4 (l)).
      const below = path.slice(1, i).filter((c) => !isSelfIssued(c)).length;
      if (below > pathLen) {
        fail(
          'CHAIN_PATH_LEN_EXCEEDED',
          `${role} ${describeCertificate(cert)} allows ${pathLen} intermediate CA(s) below it (pathLen ${pathLen}) ` +
            `but the chain has ${below}; shorten the chain or reissue the CA with a larger pathLen.`,
          cert,
          i,
        );
      }
    }
    if (cert.nameConstraints) {
      const critical = cert.extensions.some((e) => e.oid === OID.nameConstraints && e.critical);
      // Applies to every certificate below, except self-issued intermediates (6.1.3 (b)).
      for (let j = i - 1; j >= 0; j--) {
        const below = path[j]!;
        if (j > 0 && isSelfIssued(below)) continue;
        const why = nameConstraintViolation(cert.nameConstraints, critical, below);
        if (why) {
          fail(
            'CHAIN_NAME_CONSTRAINTS',
            `${describeCertificate(below)} is not allowed by the name constraints of ${role} ${describeCertificate(cert)}: ${why}. ` +
              'Reissue it with names the CA may certify.',
            below,
            j,
          );
        }
      }
    }
  }

  // The leaf's key is what its holder proves possession of: one that cannot be loaded (an
  // unknown algorithm, a point off the curve) makes a certificate nobody can use.
  if (!publicKeyLoads(leaf)) {
    fail(
      'KEY_UNSUPPORTED',
      `${describeCertificate(leaf)} holds a public key of algorithm ${leaf.publicKeyAlgorithm} that cannot be used; use EC P-256/P-384, RSA or Ed25519`,
      leaf,
      0,
    );
  }
  const eku = options.requiredEku;
  // The usage must be named: RFC 5280 4.2.1.12 lets an application refuse anyExtendedKeyUsage
  // alone, and OpenSSL's TLS client purpose does.
  if (eku && leaf.extKeyUsage && !leaf.extKeyUsage.includes(eku)) {
    fail(
      'CHAIN_EKU',
      `${describeCertificate(leaf)} has extended key usage ${leaf.extKeyUsage.map(ekuName).join(', ')}; ` +
        `this use needs ${ekuName(eku)}. Reissue it with that usage.`,
      leaf,
      0,
    );
  }
  // A TLS client proves its key by signing (or, with fixed ECDH, agreeing); OpenSSL's sslclient
  // purpose allows either bit.
  if (
    eku === OID.clientAuth &&
    leaf.keyUsage &&
    !leaf.keyUsage.includes('digitalSignature') &&
    !leaf.keyUsage.includes('keyAgreement')
  ) {
    fail(
      'CHAIN_KEY_USAGE',
      `${describeCertificate(leaf)} has keyUsage ${leaf.keyUsage.join(', ')}; a TLS client certificate needs digitalSignature (or keyAgreement). Reissue it with that usage.`,
      leaf,
      0,
    );
  }
  return result;
}
