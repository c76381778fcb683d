/**
 * The issuance engine: issuing CAs per tenant (created here or imported, keys encrypted at rest),
 * profiles, issuing from CSRs with a record of every certificate, revocation and CRLs. EST, the
 * DPS csr flow and the API all issue through `issue`.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import {
  type Certificate,
  certificatePem,
  issuerKey,
  loadCertificate,
  loadCertificates,
  nameHash,
  parseCertificate,
} from '../../pki/certificate.ts';
import { crlPem, encodeCrl, encodeCrlWith, type RevocationReason } from '../../pki/crl.ts';
import type { CertificationRequest } from '../../pki/csr.ts';
import { verifyCsr } from '../../pki/csr.ts';
import { decodeBasicConstraints, type SubjectAltName } from '../../pki/extensions.ts';
import { CertificateSigner, type Profile as PkiProfile } from '../../pki/issue.ts';
import { generateKey, importPrivateKey, type KeyType, spkiKeyType, spkiDer } from '../../pki/keys.ts';
import { formatName, type NameFields, parseSubject } from '../../pki/names.ts';
import { OID } from '../../pki/oids.ts';
import { openTokenKey } from './pkcs11.ts';
import { BUILTIN_PROFILES, extKeyUsageOids, profileFrom } from './profiles.ts';
import {
  type IssuanceStore,
  type IssuedFilter,
  type KeyRef,
  nameKey,
  type StoredIssuingCa,
} from './store.ts';
import type { CertificateProfile, IssuedCertificate, IssueMethod, IssuingCa, ProfileInput } from './types.ts';

/** A tenant as the engine needs it: its id and its ID scope (for CRL URLs). */
export interface TenantRef {
  id: string;
  idScope: string;
}

export interface IssueInput {
  tenant: TenantRef;
  /** Issuing CA name; default: the tenant's only CA, or the one named "default". */
  ca?: string;
  profile: string | CertificateProfile;
  csr: CertificationRequest;
  requester: string;
  method: IssueMethod;
  /** Encoded Name replacing the CSR's subject (EST re-enroll keeps the old one). */
  subject?: Buffer;
  /** Overrides the profile's validity (DPS certificateIssuancePolicy). */
  validityDays?: number;
}

export interface Issued {
  certificate: Certificate;
  /** The issuing CA and its issuers up to the root. */
  caChain: Certificate[];
  record: IssuedCertificate;
}

interface LoadedCa {
  stored: StoredIssuingCa;
  signer: CertificateSigner;
  /** Signs in a PKCS#11 token; absent when the key is in the store. */
  external?: (tbs: Buffer) => Promise<Buffer>;
  cert: Certificate;
  chain: Certificate[];
  crlUrl: string;
}

/** CRLs are valid a day and rebuilt once half of that has passed, or at once after a revocation. */
const CRL_VALIDITY_MS = 24 * 3600_000;
const PASS_CIPHER = 'aes-256-cbc';

const notFound = (what: string, name: string, hint: string) =>
  new ZtError('NOT_FOUND', `${what} "${name}" does not exist in this ID scope; ${hint}`);

/** Issues certificates for every flow; one instance per server. */
export class IssuanceEngine {
  readonly store: IssuanceStore;
  private readonly passphrase: string;
  private readonly crlBase: () => string;
  private readonly loaded = new Map<string, LoadedCa>();
  private readonly issuedListeners: Array<(tenantId: string, record: IssuedCertificate) => void> = [];
  private readonly revokedListeners: Array<
    (tenantId: string, record: IssuedCertificate) => Promise<unknown>
  > = [];

  /** `crlBaseUrl` may be a function: the default one names the device port, known after listen. */
  constructor(store: IssuanceStore, opts: { passphrase: string; crlBaseUrl: string | (() => string) }) {
    this.store = store;
    this.passphrase = opts.passphrase;
    const base = opts.crlBaseUrl;
    this.crlBase = () => (typeof base === 'function' ? base() : base).replace(/\/+$/, '');
  }

  /** CRL URL of an issuing CA. */
  crlUrl(tenant: TenantRef, caName: string): string {
    return `${this.crlBase()}/${encodeURIComponent(tenant.idScope)}/${encodeURIComponent(nameKey(caName))}.crl`;
  }

  private view(tenant: TenantRef, s: StoredIssuingCa): IssuingCa {
    const cert = loadCertificates(s.certificate)[0]!;
    return {
      name: s.name,
      subject: formatName(cert.subject),
      certificate: s.certificate,
      chain: s.chain,
      sha1Thumbprint: cert.sha1,
      sha256Thumbprint: cert.sha256,
      notBeforeUtc: cert.notBefore.toISOString(),
      notAfterUtc: cert.notAfter.toISOString(),
      keyStorage: s.keyRef.type,
      crlUrl: this.crlUrl(tenant, s.name),
      createdDateTimeUtc: s.createdAt,
    };
  }

  private encryptKey(key: KeyObject): KeyRef {
    const pem = key.export({
      format: 'pem',
      type: 'pkcs8',
      cipher: PASS_CIPHER,
      passphrase: this.passphrase,
    });
    return { type: 'encrypted-file', pem: String(pem) };
  }

  private async save(
    tenant: TenantRef,
    name: string,
    chain: Certificate[],
    key: KeyObject | { uri: string },
  ): Promise<IssuingCa> {
    const stored: StoredIssuingCa = {
      name,
      certificate: certificatePem(chain[0]!),
      chain: chain.map(certificatePem).join(''),
      keyRef: 'uri' in key ? { type: 'pkcs11', uri: key.uri } : this.encryptKey(key),
      crlNumber: 0,
      createdAt: new Date().toISOString(),
    };
    if (!(await this.store.insertCa(tenant.id, stored, chain[0]!.sha256))) {
      throw new ZtError(
        'CONFLICT',
        `an issuing CA named "${name}" (or with this certificate) already exists in this ID scope`,
      );
    }
    return this.view(tenant, stored);
  }

  /** Creates a self-signed issuing CA (pathLen 1, so it can sign IoT Edge CA certificates). */
  async createCa(
    tenant: TenantRef,
    o: { name: string; subject?: string; keyType?: KeyType; validityDays?: number; keyUri?: string },
  ): Promise<IssuingCa> {
    const keyType = o.keyType ?? 'p256';
    const days = o.validityDays ?? 3650;
    const subject: NameFields = o.subject
      ? parseSubject(o.subject)
      : { O: 'zerotouch', CN: `${o.name} issuing CA` };
    if (o.keyUri) {
      // The key stays in the token; it signs its own certificate.
      const token = openTokenKey(o.keyUri);
      const signer = new CertificateSigner(token.publicKey);
      const der = await signer.selfSignWith({ subject, validityDays: days, pathLen: 1 }, (tbs) =>
        token.sign(signer.algorithm, tbs),
      );
      return this.save(tenant, o.name, [parseCertificate(der)], { uri: o.keyUri });
    }
    const key = generateKey(keyType);
    const signer = new CertificateSigner(key);
    const cert = parseCertificate(signer.selfSign({ subject, validityDays: days, pathLen: 1 }));
    return this.save(tenant, o.name, [cert], key);
  }

  /** Imports an issuing CA: its certificate (followed by its issuers) and its private key. */
  async importCa(
    tenant: TenantRef,
    o: { name: string; certificate: string; key?: string; keyPassphrase?: string; keyUri?: string },
  ): Promise<IssuingCa> {
    const certs = loadCertificates(o.certificate);
    if (!o.key === !o.keyUri) {
      throw new ZtError(
        'BAD_REQUEST',
        'give the CA key as a PEM (key) or as a PKCS#11 URI (keyUri), one of the two',
      );
    }
    const key = o.keyUri ? undefined : importPrivateKey(o.key!, o.keyPassphrase);
    const spki = key ? spkiDer(key) : spkiDer(openTokenKey(o.keyUri!).publicKey);
    const own = certs.find((c) => c.spki.equals(spki));
    if (!own) {
      throw new ZtError(
        'KEY_MISMATCH',
        'the private key belongs to none of the given certificates; give the CA certificate that matches the key',
      );
    }
    if (!own.basicConstraints?.ca || (own.keyUsage && !own.keyUsage.includes('keyCertSign'))) {
      throw new ZtError(
        'BAD_REQUEST',
        `${formatName(own.subject)} is not a CA that may sign certificates (basicConstraints cA and keyCertSign)`,
      );
    }
    if (own.notAfter.getTime() <= Date.now()) {
      throw new ZtError('CERT_EXPIRED', `the CA certificate expired on ${own.notAfter.toISOString()}`);
    }
    // Order: the CA, then each issuer found among the other certificates.
    const chain = [own];
    for (let cur = own; !cur.subject.der.equals(cur.issuer.der);) {
      const next = certs.find((c) => c !== cur && c.subject.der.equals(cur.issuer.der));
      if (!next || chain.includes(next)) break;
      chain.push(next);
      cur = next;
    }
    return this.save(tenant, o.name, chain, key ?? { uri: o.keyUri! });
  }

  async listCas(tenant: TenantRef): Promise<IssuingCa[]> {
    return (await this.store.listCas(tenant.id)).map((s) => this.view(tenant, s));
  }

  async getCa(tenant: TenantRef, name: string): Promise<IssuingCa> {
    const s = await this.store.findCa(tenant.id, name);
    if (!s) throw notFound('issuing CA', name, 'list them with zerotouch issuing-ca list');
    return this.view(tenant, s);
  }

  async deleteCa(tenant: TenantRef, name: string): Promise<void> {
    if (!(await this.store.deleteCa(tenant.id, name)))
      throw notFound('issuing CA', name, 'list them with zerotouch issuing-ca list');
    this.loaded.delete(`${tenant.id}/${nameKey(name)}`);
    await this.store.deleteCrl(tenant.id, name);
  }

  /** The CA that signs when none is named: the only one, or the one called "default". */
  async defaultCaName(tenant: TenantRef): Promise<string> {
    const all = await this.store.listCas(tenant.id);
    if (all.length === 1) return all[0]!.name;
    const d = all.find((c) => nameKey(c.name) === 'default');
    if (d) return d.name;
    throw new ZtError(
      'BAD_REQUEST',
      all.length === 0
        ? 'this ID scope has no issuing CA; create one (zerotouch issuing-ca create <name>) or import one'
        : `this ID scope has ${all.length} issuing CAs and none is called "default"; name the CA to use`,
    );
  }

  private async load(tenant: TenantRef, name: string): Promise<LoadedCa> {
    const k = `${tenant.id}/${nameKey(name)}`;
    const hit = this.loaded.get(k);
    if (hit) return hit;
    const stored = await this.store.findCa(tenant.id, name);
    if (!stored) throw notFound('issuing CA', name, 'create it or fix the label or enrollment that names it');
    const chain = loadCertificates(stored.chain);
    const cert = chain[0]!;
    const crlUrl = this.crlUrl(tenant, name);
    if (stored.keyRef.type === 'pkcs11') {
      const token = openTokenKey(stored.keyRef.uri);
      const signer = new CertificateSigner(token.publicKey, cert);
      const external = (tbs: Buffer) => token.sign(signer.algorithm, tbs);
      const loaded: LoadedCa = { stored, signer, external, cert, chain, crlUrl };
      this.loaded.set(k, loaded);
      return loaded;
    }
    let key: KeyObject;
    try {
      key = importPrivateKey(stored.keyRef.pem, this.passphrase);
    } catch {
      throw new ZtError(
        'CONFIG_INVALID',
        `the key of issuing CA "${name}" cannot be decrypted with this server's passphrase; every server sharing the store needs the same issuance.key_passphrase_file`,
      );
    }
    const loaded: LoadedCa = { stored, signer: new CertificateSigner(key, cert), cert, chain, crlUrl };
    this.loaded.set(k, loaded);
    return loaded;
  }

  /** The issuing CA certificate and its issuers (leaf-most first), for /cacerts and chains. */
  async caChain(tenant: TenantRef, name?: string): Promise<Certificate[]> {
    return (await this.load(tenant, name ?? (await this.defaultCaName(tenant)))).chain;
  }

  /** Resolves a profile by name: the tenant's stored one, else a built-in. */
  async profile(tenant: TenantRef, name: string): Promise<CertificateProfile> {
    const p = (await this.store.findProfile(tenant.id, name)) ?? BUILTIN_PROFILES[nameKey(name)];
    if (!p) {
      throw notFound(
        'certificate profile',
        name,
        `built-in ones are ${Object.keys(BUILTIN_PROFILES).join(', ')}`,
      );
    }
    return p;
  }

  async listProfiles(tenant: TenantRef): Promise<CertificateProfile[]> {
    const own = await this.store.listProfiles(tenant.id);
    const names = new Set(own.map((p) => nameKey(p.name)));
    return [...own, ...Object.values(BUILTIN_PROFILES).filter((p) => !names.has(p.name))];
  }

  async putProfile(tenant: TenantRef, name: string, input: ProfileInput): Promise<CertificateProfile> {
    const p = profileFrom(name, input);
    await this.store.putProfile(tenant.id, p);
    return p;
  }

  async deleteProfile(tenant: TenantRef, name: string): Promise<void> {
    if (!(await this.store.deleteProfile(tenant.id, name)))
      throw notFound('certificate profile', name, 'only stored profiles can be deleted, not built-in ones');
  }

  /** Issues a certificate for a CSR under a profile, records it and returns it with the CA chain. */
  async issue(i: IssueInput): Promise<Issued> {
    const profile = typeof i.profile === 'string' ? await this.profile(i.tenant, i.profile) : i.profile;
    verifyCsr(i.csr);
    return this.sign(i, profile, i.csr.spki);
  }

  /** Issues for a public key the server generated (serverkeygen); the CSR supplies names only. */
  async issueForKey(i: IssueInput, spki: Buffer): Promise<Issued> {
    const profile = typeof i.profile === 'string' ? await this.profile(i.tenant, i.profile) : i.profile;
    return this.sign(i, profile, spki);
  }

  private async sign(i: IssueInput, profile: CertificateProfile, spki: Buffer): Promise<Issued> {
    const kt = spkiKeyType(spki);
    if (!kt || !profile.allowedKeyTypes.includes(kt)) {
      throw new ZtError(
        'KEY_UNSUPPORTED',
        `the request's key (${kt ?? 'unsupported size'}) is not allowed by profile "${profile.name}"; use one of ${profile.allowedKeyTypes.join(', ')}`,
      );
    }
    let sans: SubjectAltName[] = i.csr.subjectAltNames;
    if (profile.sans === 'none') sans = [];
    else if (profile.sans === 'dns-ip' && sans.some((s) => s.type !== 'dns' && s.type !== 'ip')) {
      throw new ZtError(
        'BAD_REQUEST',
        `profile "${profile.name}" allows only DNS and IP subject alternative names`,
      );
    }
    const bcExt = i.csr.extensions.find((e) => e.oid === OID.basicConstraints);
    const wantsCa = bcExt ? decodeBasicConstraints(bcExt.value).ca : false;
    if (wantsCa && profile.kind !== 'ca' && !profile.honorCaRequests) {
      throw new ZtError(
        'BAD_REQUEST',
        `the CSR asks for a CA certificate (basicConstraints CA:TRUE) but profile "${profile.name}" issues ${profile.kind} certificates; use a profile of kind "ca" or with honorCaRequests (e.g. iot-edge)`,
      );
    }
    const asCa = profile.kind === 'ca' || wantsCa;
    const caName = i.ca ?? (await this.defaultCaName(i.tenant));
    const ca = await this.load(i.tenant, caName);
    const pkiProfile: PkiProfile = asCa ? 'intermediate-ca' : profile.kind === 'server' ? 'server' : 'device';
    const subject = i.subject ?? i.csr.subject.der;
    const request = {
      profile: pkiProfile,
      subject,
      spki,
      subjectAltNames: sans,
      ...(i.validityDays
        ? { validityDays: i.validityDays }
        : profile.validityHours
          ? { validityHours: profile.validityHours }
          : { validityDays: profile.validityDays ?? 365 }),
      pathLen: asCa ? 0 : undefined,
      keyUsage: asCa ? undefined : profile.keyUsage,
      extKeyUsage: asCa ? undefined : extKeyUsageOids(profile),
      crlDistributionPoints: [ca.crlUrl],
    };
    const derCert = ca.external ? await ca.signer.issueWith(request, ca.external) : ca.signer.issue(request);
    const certificate = parseCertificate(derCert);
    const record: IssuedCertificate = {
      serialNumber: certificate.serialNumber,
      issuingCa: ca.stored.name,
      subject: formatName(certificate.subject),
      subjectAltNames: certificate.subjectAltNames.map((s) => `${s.type}:${s.value}`),
      sha1Thumbprint: certificate.sha1,
      sha256Thumbprint: certificate.sha256,
      notBeforeUtc: certificate.notBefore.toISOString(),
      notAfterUtc: certificate.notAfter.toISOString(),
      profile: profile.name,
      method: i.method,
      requester: i.requester,
      status: 'valid',
      createdDateTimeUtc: new Date().toISOString(),
    };
    // The issuer is the CA's subject: its hash is computed once per loaded CA.
    await this.store.insertIssued(
      i.tenant.id,
      record,
      certificatePem(certificate),
      nameHash(ca.cert.subject),
    );
    for (const l of this.issuedListeners) l(i.tenant.id, record);
    return { certificate, caChain: ca.chain, record };
  }

  /** Generates a key for serverkeygen, of the profile's first allowed type. */
  generateKeyFor(profile: CertificateProfile): KeyObject {
    const t: KeyType = profile.allowedKeyTypes.includes('p256') ? 'p256' : profile.allowedKeyTypes[0]!;
    if (t === 'ed25519') return generateKeyPairSync('ed25519').privateKey;
    return generateKey(t);
  }

  /** Revokes an issued certificate and invalidates its CA's CRL. */
  async revoke(
    tenant: TenantRef,
    serial: string,
    reason: RevocationReason = 'unspecified',
  ): Promise<IssuedCertificate> {
    const found = await this.store.findIssued(tenant.id, serial);
    if (!found)
      throw notFound('issued certificate with serial', serial, 'list them with zerotouch cert list');
    if (found.record.status === 'revoked') {
      throw new ZtError(
        'CONFLICT',
        `certificate ${serial} was already revoked at ${found.record.revokedAtUtc}`,
      );
    }
    await this.store.revoke(tenant.id, serial, reason, new Date().toISOString());
    await this.store.deleteCrl(tenant.id, found.record.issuingCa);
    const record = (await this.store.findIssued(tenant.id, serial))!.record;
    for (const l of this.revokedListeners) await l(tenant.id, record);
    return record;
  }

  /** When each scope's issuing CAs expire (at most 10,000). */
  async caExpiries(): Promise<Array<{ tenantId: string; name: string; notAfter: Date }>> {
    return (await this.store.allCaCertificates(10_000)).map((r) => ({
      tenantId: r.tenantId,
      name: r.name,
      notAfter: loadCertificate(r.certificate).notAfter,
    }));
  }

  /** Valid issued certificates that expire within `days` days, per scope. */
  expiringSoon(days: number): Promise<Array<{ tenantId: string; count: number }>> {
    const now = Date.now();
    return this.store.expiringCounts(
      new Date(now).toISOString(),
      new Date(now + days * 86_400_000).toISOString(),
    );
  }

  /** Calls `l` after each issuance (the audit trail). */
  onIssued(l: (tenantId: string, record: IssuedCertificate) => void): void {
    this.issuedListeners.push(l);
  }

  /** Calls `l` after each revocation (the registry disables the devices that use the certificate). */
  onRevoked(l: (tenantId: string, record: IssuedCertificate) => Promise<unknown>): void {
    this.revokedListeners.push(l);
  }

  /** One issued certificate with its PEM; NOT_FOUND says how to find serials. */
  async getIssued(tenant: TenantRef, serial: string): Promise<IssuedCertificate & { certificate: string }> {
    const f = await this.store.findIssued(tenant.id, serial);
    if (!f) throw notFound('issued certificate with serial', serial, 'list them with zerotouch cert list');
    return { ...f.record, certificate: f.pem };
  }

  /** Issued certificates, newest first, a page at a time. */
  listIssued(
    tenant: TenantRef,
    filter: IssuedFilter,
    max = 100,
    continuation?: string,
  ): Promise<{ items: IssuedCertificate[]; continuation?: string }> {
    return this.store.listIssued(tenant.id, filter, max, continuation);
  }

  /** The CRL published as `<ca>.crl` (the distribution-point file name in issued certificates). */
  async crlFile(tenant: TenantRef, file: string): Promise<Buffer> {
    const m = /^(.+)\.crl$/i.exec(file);
    if (!m) throw new ZtError('NOT_FOUND', 'CRLs are at /crl/<idScope>/<issuing CA>.crl');
    let name: string;
    try {
      name = decodeURIComponent(m[1]!);
    } catch {
      throw new ZtError('BAD_REQUEST', `"${file.slice(0, 64)}" is not a valid percent-encoded CRL file name`);
    }
    return this.crl(tenant, name);
  }

  /**
   * Throws CERT_REVOKED when any certificate of the chain was issued here and revoked. Looked up
   * by issuer and serial, so a re-encoded signature (a new thumbprint) does not bring it back.
   */
  async assertNotRevoked(chain: Certificate[]): Promise<void> {
    const hit = await this.store.firstRevoked(
      chain.map((c) => ({ issuerKey: issuerKey(c), serial: c.serialNumber })),
    );
    if (hit) {
      const c = chain.find((x) => x.serialNumber === hit.serial && issuerKey(x) === hit.issuerKey)!;
      throw new ZtError(
        'CERT_REVOKED',
        `certificate ${formatName(c.subject)} (serial ${hit.serial}) was revoked at ${hit.revokedAt}; the device needs a new certificate`,
      );
    }
  }

  /** The current CRL of an issuing CA (DER), rebuilt when stale or after a revocation. */
  async crl(tenant: TenantRef, caName: string): Promise<Buffer> {
    const now = Date.now();
    const cached = await this.store.getCrl(tenant.id, caName);
    if (cached && Date.parse(cached.nextUpdate) - now > CRL_VALIDITY_MS / 2) return cached.der;
    const ca = await this.load(tenant, caName);
    const number = await this.store.nextCrlNumber(tenant.id, caName);
    const revoked = await this.store.revokedOf(tenant.id, caName);
    const nextUpdate = new Date(now + CRL_VALIDITY_MS);
    const input = {
      issuer: ca.cert,
      key: ca.signer.key,
      number: BigInt(number),
      thisUpdate: new Date(now - 60_000),
      nextUpdate,
      revoked: revoked.map((r) => ({
        serial: r.serial,
        revokedAt: new Date(r.revokedAt),
        reason: r.reason as RevocationReason,
      })),
    };
    const der = ca.external ? await encodeCrlWith(input, ca.external) : encodeCrl(input);
    await this.store.putCrl(tenant.id, caName, number, nextUpdate.toISOString(), der);
    return der;
  }

  /** The CRL as PEM. */
  async crlPem(tenant: TenantRef, caName: string): Promise<string> {
    return crlPem(await this.crl(tenant, caName));
  }
}
