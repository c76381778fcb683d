/**
 * CA certificates of a tenant: upload (verified on upload or not), verification codes, proof of
 * possession with a certificate whose CN is the code and which the CA signed, and the trust
 * anchors DPS groups, EST bootstrap and issuance take from them.
 */
import { randomBytes } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import {
  type Certificate,
  certificatePem,
  loadCertificate,
  loadCertificates,
} from '../../pki/certificate.ts';
import { verifySignature } from '../../pki/algorithms.ts';
import { publicKeyFromSpki } from '../../pki/keys.ts';
import { newEtag } from '../etag.ts';
import { type CaStore, certificateDetails } from './store.ts';
import type { CaRegistration } from '../iot/types.ts';
import type { CaCertificate } from './types.ts';

/** How long a node keeps the JITP/JITR-registered CAs of a subject before reading them again. */
const REGISTERED_TTL_MS = 5000;
/** How long a verification code stays usable. */
const CODE_LIFETIME_MS = 60 * 60 * 1000;

// Parsed CA certificates by PEM: CAs are read on every registration, parsed once.
const parsedCas = new Map<string, Certificate>();
function parsed(pem: string): Certificate {
  let c = parsedCas.get(pem);
  if (!c) {
    if (parsedCas.size > 1000) parsedCas.clear();
    c = loadCertificates(pem)[0]!;
    parsedCas.set(pem, c);
  }
  return c;
}

/**
 * Proof of possession: `certificate` has CN = `code`, the CA's key signed it, and it is valid
 * now; CA_VERIFICATION_FAILED saying which, and how to make a good one.
 */
function checkPossession(ca: CaCertificate, certificate: string, code: string, howTo: string): void {
  const fail = (why: string) => new ZtError('CA_VERIFICATION_FAILED', why);
  const proof = loadCertificates(certificate)[0]!;
  if (proof.commonName !== code) {
    throw fail(
      `the verification certificate's CN is "${proof.commonName ?? ''}" but must be the code ${code}; make it with: ${howTo}`,
    );
  }
  const caCert = parsed(ca.certificate);
  const signedByCa =
    proof.issuer.der.equals(caCert.subject.der) &&
    verifySignature(proof.signatureAlgorithm, proof.tbs, proof.signature, publicKeyFromSpki(caCert.spki));
  if (!signedByCa) {
    throw fail(
      `the verification certificate was not signed by the private key of "${ca.name}"; sign it with that CA's key`,
    );
  }
  const now = Date.now();
  if (proof.notBefore.getTime() > now || proof.notAfter.getTime() < now) {
    throw fail('the verification certificate is not valid now; check its validity dates and the clock');
  }
}

/** Manages the CA certificates of tenants. */
export class CaService {
  private readonly store: CaStore;
  private readonly registered = new Map<
    string,
    { at: number; cas: Array<{ tenantId: string; ca: CaCertificate; cert: Certificate }> }
  >();

  constructor(store: CaStore) {
    this.store = store;
  }

  /** When each scope's CA certificates expire (at most 10,000 CAs). */
  async expiries(): Promise<Array<{ tenantId: string; name: string; notAfter: Date }>> {
    return (await this.store.allCertificates(10_000)).map((r) => ({
      tenantId: r.tenantId,
      name: r.name,
      notAfter: loadCertificate(r.certificate).notAfter,
    }));
  }

  /** Every CA of the tenant with its parsed certificate (parsed once per PEM and kept). */
  async withCertificates(tenantId: string): Promise<Array<{ ca: CaCertificate; cert: Certificate }>> {
    return (await this.store.listCas(tenantId)).map((ca) => ({ ca, cert: parsed(ca.certificate) }));
  }

  /** The certificates of the named CAs that are verified: trust anchors (EST bootstrap). */
  async verifiedAnchors(tenantId: string, names: string[]): Promise<Certificate[]> {
    const out: Certificate[] = [];
    for (const name of names) {
      const ca = await this.store.findCa(tenantId, name);
      if (ca?.isVerified) out.push(parsed(ca.certificate));
    }
    return out;
  }

  /** Uploads a CA certificate (PEM or base64 DER); `verified` skips proof of possession. */
  async upload(
    tenantId: string,
    name: string,
    certificate: string,
    verified = false,
  ): Promise<CaCertificate> {
    const certs = loadCertificates(certificate);
    if (certs.length !== 1) {
      throw new ZtError(
        'BAD_REQUEST',
        `upload one CA certificate per name, not ${certs.length}; split the full chain and upload the root and intermediates separately`,
      );
    }
    const cert = certs[0];
    if (!cert.basicConstraints?.ca) {
      throw new ZtError(
        'BAD_REQUEST',
        `${cert.commonName ?? 'this certificate'} is not a CA (basicConstraints cA is not set); upload the root or intermediate that signs your devices, not a device certificate`,
      );
    }
    if (cert.notAfter.getTime() < Date.now()) {
      throw new ZtError(
        'CERT_EXPIRED',
        `the CA certificate expired on ${cert.notAfter.toISOString()}; upload a current one`,
      );
    }
    const now = new Date().toISOString();
    const ca: CaCertificate = {
      name,
      certificate: certificatePem(cert),
      ...certificateDetails(cert),
      isVerified: verified,
      etag: newEtag(),
      createdDateTimeUtc: now,
      lastUpdatedDateTimeUtc: now,
    };
    await this.store.insertCa(tenantId, ca);
    return ca;
  }

  /** Sets or clears the CA's JITP/JITR registration. */
  async setRegistration(
    tenantId: string,
    name: string,
    registration: CaRegistration | undefined,
  ): Promise<void> {
    await this.store.setRegistration(tenantId, name, registration);
    this.registered.clear();
  }

  /** CAs registered for JITP/JITR, in any scope, whose subject is `subject` (hash), with their certificates. */
  async registeredBySubject(
    subjectKey: string,
  ): Promise<Array<{ tenantId: string; ca: CaCertificate; cert: Certificate }>> {
    // Read on every gateway connection: kept a few seconds (another node's change shows within that).
    const hit = this.registered.get(subjectKey);
    if (hit && Date.now() - hit.at < REGISTERED_TTL_MS) return hit.cas;
    const cas = (await this.store.registeredBySubject(subjectKey)).map((r) => ({
      ...r,
      cert: parsed(r.ca.certificate),
    }));
    if (this.registered.size > 10_000) this.registered.clear();
    this.registered.set(subjectKey, { at: Date.now(), cas });
    return cas;
  }

  /** The parsed certificate of a CA record (parsed once per PEM). */
  certificateOf(ca: CaCertificate): Certificate {
    return parsed(ca.certificate);
  }

  /** The named CA, or undefined. */
  find(tenantId: string, name: string): Promise<CaCertificate | undefined> {
    return this.store.findCa(tenantId, name);
  }

  /** The named CA, or NOT_FOUND. */
  async get(tenantId: string, name: string): Promise<CaCertificate> {
    const ca = await this.store.findCa(tenantId, name);
    if (!ca)
      throw new ZtError('NOT_FOUND', `no CA named "${name}" in this scope; list them with GET .../cas`);
    return ca;
  }

  list(tenantId: string): Promise<CaCertificate[]> {
    return this.store.listCas(tenantId);
  }

  async delete(tenantId: string, name: string): Promise<void> {
    this.registered.clear();
    if (!(await this.store.deleteCa(tenantId, name))) {
      throw new ZtError('NOT_FOUND', `no CA named "${name}" in this scope`);
    }
  }

  /** Issues a fresh verification code for the CA, valid for an hour. */
  async generateVerificationCode(tenantId: string, name: string): Promise<CaCertificate> {
    const ca = await this.get(tenantId, name);
    ca.verificationCode = randomBytes(24).toString('hex').toUpperCase();
    ca.verificationCodeExpiresUtc = new Date(Date.now() + CODE_LIFETIME_MS).toISOString();
    ca.etag = newEtag();
    ca.lastUpdatedDateTimeUtc = new Date().toISOString();
    await this.store.updateCa(tenantId, ca);
    return ca;
  }

  /**
   * Marks a CA verified by a certificate whose CN is the scope's JITP registration code and
   * which the CA signed (AWS's RegisterCACertificate proof). Returns the CA.
   */
  async verifyWithRegistrationCode(
    tenantId: string,
    name: string,
    certificate: string,
    code: string,
  ): Promise<CaCertificate> {
    const ca = await this.get(tenantId, name);
    checkPossession(
      ca,
      certificate,
      code,
      `zerotouch pki verification-cert --code ${code} --ca <ca cert> --ca-key <ca key> (the code is the scope's registration code: zerotouch iot registration-code)`,
    );
    if (!ca.isVerified) {
      ca.isVerified = true;
      ca.etag = newEtag();
      ca.lastUpdatedDateTimeUtc = new Date().toISOString();
      await this.store.updateCa(tenantId, ca);
    }
    return ca;
  }

  /** Verifies proof of possession: `certificate` must have CN = the current code and be signed by the CA. */
  async verify(tenantId: string, name: string, certificate: string): Promise<CaCertificate> {
    const ca = await this.get(tenantId, name);
    const fail = (why: string) => new ZtError('CA_VERIFICATION_FAILED', why);
    if (!ca.verificationCode) {
      throw fail(`request a verification code for "${name}" first (POST .../cas/${name}/verification-code)`);
    }
    if (Date.parse(ca.verificationCodeExpiresUtc!) < Date.now()) {
      throw fail(
        'the verification code has expired; request a new one and sign a new verification certificate',
      );
    }
    checkPossession(
      ca,
      certificate,
      ca.verificationCode,
      `zerotouch pki verification-cert --code ${ca.verificationCode} --ca <ca cert> --ca-key <ca key>`,
    );
    const now = Date.now();
    ca.isVerified = true;
    ca.verificationCode = undefined;
    ca.verificationCodeExpiresUtc = undefined;
    ca.etag = newEtag();
    ca.lastUpdatedDateTimeUtc = new Date(now).toISOString();
    await this.store.updateCa(tenantId, ca);
    return ca;
  }
}
