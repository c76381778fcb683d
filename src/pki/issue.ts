/**
 * Certificate issuance: profiles and a signer that writes the TBSCertificate with the small DER
 * writer and signs it with node:crypto. Every flow that issues (toolkit, EST, DPS csr, dev CA)
 * goes through `CertificateSigner.issue`.
 */
import { createHash, type KeyObject, randomBytes } from 'node:crypto';
import { ZtError } from '../errors.ts';
import { type SignatureAlgorithm, signatureAlgorithmFor, signWith } from './algorithms.ts';
import { type Certificate, parseCertificate } from './certificate.ts';
import * as der from './der.ts';
import {
  encodeAuthorityKeyIdentifier,
  encodeBasicConstraints,
  encodeCrlDistributionPoints,
  encodeExtension,
  encodeExtKeyUsage,
  encodeKeyUsage,
  encodeSubjectAltName,
  encodeSubjectKeyIdentifier,
  type SubjectAltName,
} from './extensions.ts';
import { describeKey, spkiDer } from './keys.ts';
import { encodeName, type NameFields } from './names.ts';
import { type KeyUsage, OID } from './oids.ts';

export const PROFILES = ['root-ca', 'intermediate-ca', 'device', 'server', 'verification'] as const;
export type Profile = (typeof PROFILES)[number];

export interface IssueRequest {
  profile: Profile;
  /** Subject as fields, or an already-encoded Name (e.g. copied from a CSR). */
  subject: NameFields | Buffer;
  /** SubjectPublicKeyInfo DER of the key being certified. */
  spki: Buffer;
  subjectAltNames?: SubjectAltName[];
  /** Defaults to now minus `backdateSeconds`. */
  notBefore?: Date;
  /** Explicit end; otherwise `validityHours` or `validityDays` from notBefore's reference time. */
  notAfter?: Date;
  validityDays?: number;
  validityHours?: number;
  /** pathLenConstraint for CA profiles; omitted means unconstrained. */
  pathLen?: number;
  /** Overrides of the profile defaults. */
  keyUsage?: KeyUsage[];
  extKeyUsage?: string[];
  crlDistributionPoints?: string[];
  /** Serial bytes; default 16 random bytes. */
  serial?: Buffer;
}

/** Seconds of backdating so that devices with a slightly slow clock accept a fresh certificate. */
const BACKDATE_SECONDS = 60;

/** SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1). */
export function keyIdentifier(spki: Buffer): Buffer {
  const [, bits] = der.children(der.read(spki));
  return createHash('sha1').update(der.readBitString(bits).bytes).digest();
}

// Serials come from a pool: one randomBytes call per 256 certificates instead of one each.
const SERIAL_POOL_SIZE = 16 * 256;
let serialPool = Buffer.alloc(0);
let serialOffset = SERIAL_POOL_SIZE;

/** A fresh positive 128-bit serial number. */
export function randomSerial(): Buffer {
  if (serialOffset >= serialPool.length) {
    serialPool = randomBytes(SERIAL_POOL_SIZE);
    serialOffset = 0;
  }
  const b = Buffer.from(serialPool.subarray(serialOffset, serialOffset + 16));
  serialOffset += 16;
  if (b[0] === 0) b[0] = 1; // keep it 16 significant bytes
  return b;
}

function isCaProfile(p: Profile): boolean {
  return p === 'root-ca' || p === 'intermediate-ca';
}

function defaultKeyUsage(profile: Profile, spki: Buffer): KeyUsage[] {
  if (isCaProfile(profile)) return ['digitalSignature', 'keyCertSign', 'cRLSign'];
  // RSA TLS 1.2 key exchange needs keyEncipherment; EC and Ed25519 keys only sign.
  const rsa = der.readOid(der.children(der.children(der.read(spki))[0])[0]) === OID.rsaEncryption;
  return rsa ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
}

function defaultExtKeyUsage(profile: Profile): string[] {
  if (profile === 'device') return [OID.clientAuth];
  if (profile === 'server') return [OID.serverAuth];
  return [];
}

/** A CA key and certificate (or a key alone, for self-signing a root) that issues certificates. */
export class CertificateSigner {
  readonly key: KeyObject;
  readonly certificate: Certificate | undefined;
  private readonly alg: SignatureAlgorithm;
  private readonly issuerName: Buffer | undefined;
  private readonly akiExtension: Buffer | undefined;

  /**
   * A signer for `key`; with `certificate` it issues under that CA, without it only self-signs.
   * A public key is enough for issueWith/selfSignWith, where the token signs.
   */
  constructor(key: KeyObject, certificate?: Certificate) {
    describeKey(key);
    this.key = key;
    this.certificate = certificate;
    this.alg = signatureAlgorithmFor(key);
    if (certificate) {
      if (!spkiDer(key).equals(certificate.spki)) {
        throw new ZtError(
          'KEY_MISMATCH',
          `the CA private key does not belong to the CA certificate ${certificate.commonName ?? ''}`,
        );
      }
      this.issuerName = certificate.subject.der;
      const keyId = certificate.subjectKeyId ?? keyIdentifier(certificate.spki);
      this.akiExtension = encodeExtension(
        OID.authorityKeyIdentifier,
        false,
        encodeAuthorityKeyIdentifier(keyId),
      );
    }
  }

  /** Issues a certificate under this CA and returns its DER. */
  issue(req: IssueRequest): Buffer {
    return this.sign(this.issueTbs(req));
  }

  /**
   * Issues with a signature made elsewhere (a PKCS#11 token): `sign` gets the TBSCertificate and
   * returns the signature value for this signer's algorithm. The signer may hold a public key only.
   */
  async issueWith(req: IssueRequest, sign: (tbs: Buffer) => Promise<Buffer>): Promise<Buffer> {
    const tbs = this.issueTbs(req);
    return der.seq(tbs, this.alg.identifier, der.bitString(await sign(tbs)));
  }

  /** Self-signs a root with a signature made elsewhere (see issueWith). */
  async selfSignWith(
    req: Omit<IssueRequest, 'profile' | 'spki'>,
    sign: (tbs: Buffer) => Promise<Buffer>,
  ): Promise<Buffer> {
    const tbs = this.selfSignTbs(req);
    return der.seq(tbs, this.alg.identifier, der.bitString(await sign(tbs)));
  }

  /** The signature algorithm identifier this signer writes. */
  get algorithm(): SignatureAlgorithm {
    return this.alg;
  }

  private issueTbs(req: IssueRequest): Buffer {
    if (!this.issuerName || !this.akiExtension) {
      throw new ZtError('INTERNAL', 'this signer has no CA certificate; use selfSign for a root');
    }
    if (req.profile === 'root-ca') throw new ZtError('BAD_REQUEST', 'a root CA is self-signed; use selfSign');
    return this.build(req, this.issuerName, this.akiExtension);
  }

  /** Issues a self-signed root CA certificate for this signer's own key. */
  selfSign(req: Omit<IssueRequest, 'profile' | 'spki'>): Buffer {
    return this.sign(this.selfSignTbs(req));
  }

  private selfSignTbs(req: Omit<IssueRequest, 'profile' | 'spki'>): Buffer {
    const spki = spkiDer(this.key);
    const subject = Buffer.isBuffer(req.subject) ? req.subject : encodeName(req.subject);
    const aki = encodeExtension(
      OID.authorityKeyIdentifier,
      false,
      encodeAuthorityKeyIdentifier(keyIdentifier(spki)),
    );
    return this.build({ ...req, profile: 'root-ca', spki, subject }, subject, aki);
  }

  private sign(tbs: Buffer): Buffer {
    return der.seq(tbs, this.alg.identifier, der.bitString(signWith(this.alg, this.key, tbs)));
  }

  /** Builds the TBSCertificate. */
  private build(req: IssueRequest, issuerName: Buffer, aki: Buffer): Buffer {
    const subject = Buffer.isBuffer(req.subject) ? req.subject : encodeName(req.subject);
    const now = Date.now();
    const notBefore = req.notBefore ?? new Date(Math.floor(now / 1000 - BACKDATE_SECONDS) * 1000);
    const hours = req.validityHours ?? (req.validityDays ?? 365) * 24;
    let notAfter = req.notAfter ?? new Date(Math.floor(now / 1000 + hours * 3600) * 1000);
    if (this.certificate && notAfter > this.certificate.notAfter) {
      // A requested length is cut to the CA's end (what clients verifying the chain need anyway);
      // an explicit end date past it is a mistake worth telling.
      if (req.notAfter) {
        throw new ZtError(
          'BAD_REQUEST',
          `the certificate would outlive its CA (CA expires ${this.certificate.notAfter.toISOString()}); choose an earlier end`,
        );
      }
      notAfter = this.certificate.notAfter;
    }
    if (notAfter <= notBefore) throw new ZtError('BAD_REQUEST', 'validity must end after it starts');
    const sans = req.subjectAltNames ?? [];
    const subjectEmpty = subject.length <= 2;
    if (subjectEmpty && sans.length === 0)
      throw new ZtError('BAD_REQUEST', 'a certificate needs a subject or a SAN');
    if (req.profile === 'server' && sans.length === 0) {
      throw new ZtError(
        'BAD_REQUEST',
        'a server certificate needs at least one DNS or IP subject alternative name',
      );
    }

    const ca = isCaProfile(req.profile);
    const eku = req.extKeyUsage ?? defaultExtKeyUsage(req.profile);
    const exts: Buffer[] = [
      encodeExtension(
        OID.basicConstraints,
        true,
        encodeBasicConstraints({ ca, pathLen: ca ? req.pathLen : undefined }),
      ),
      encodeExtension(
        OID.keyUsage,
        true,
        encodeKeyUsage(req.keyUsage ?? defaultKeyUsage(req.profile, req.spki)),
      ),
    ];
    if (eku.length > 0) exts.push(encodeExtension(OID.extKeyUsage, false, encodeExtKeyUsage(eku)));
    exts.push(
      encodeExtension(OID.subjectKeyIdentifier, false, encodeSubjectKeyIdentifier(keyIdentifier(req.spki))),
    );
    exts.push(aki);
    // RFC 5280 4.2.1.6: SAN is critical when the subject is empty.
    if (sans.length > 0)
      exts.push(encodeExtension(OID.subjectAltName, subjectEmpty, encodeSubjectAltName(sans)));
    if (req.crlDistributionPoints?.length) {
      exts.push(
        encodeExtension(
          OID.crlDistributionPoints,
          false,
          encodeCrlDistributionPoints(req.crlDistributionPoints),
        ),
      );
    }

    const tbs = der.seq(
      der.explicit(0, der.integer(2)),
      der.integer(req.serial ?? randomSerial()),
      this.alg.identifier,
      issuerName,
      der.seq(der.time(notBefore), der.time(notAfter)),
      subject,
      req.spki,
      der.explicit(3, der.seq(...exts)),
    );
    return tbs;
  }
}

/** Convenience: issue and parse in one step (not for hot paths). */
export function issueCertificate(signer: CertificateSigner, req: IssueRequest): Certificate {
  return parseCertificate(signer.issue(req));
}
