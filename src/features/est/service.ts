/**
 * EST semantics (RFC 7030 / RFC 8951): labels, who may enroll (HTTP Basic users, certificates
 * issued by the label's CA, bootstrap CAs), re-enroll rules, tls-unique linking, manual approval.
 * Issuance itself goes through the issuance engine; the wire format lives in the transport.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { isZtError, operatorText, ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import { validateChain } from '../../pki/chain.ts';
import { type CertificationRequest, parseCsr } from '../../pki/csr.ts';
import * as der from '../../pki/der.ts';
import { encodeSubjectAltName } from '../../pki/extensions.ts';
import { spkiDer } from '../../pki/keys.ts';
import { formatName } from '../../pki/names.ts';
import { OID } from '../../pki/oids.ts';
import type { AuditTrail } from '../audit/service.ts';
import type { CaService } from '../cas/service.ts';
import type { IssuanceEngine, Issued, TenantRef } from '../issuance/engine.ts';
import type { Tenant } from '../tenants/types.ts';
import type { TenantService } from '../tenants/service.ts';
import { checkPassword, hashPassword } from './passwords.ts';
import type { EstStore, StoredLabel } from './store.ts';
import type { EstLabel, LabelInput, PendingEnrollment } from './types.ts';

export interface EstContext {
  /** The Authorization header, if any. */
  authorization?: string;
  /** Client certificate chain from the TLS handshake, leaf first. */
  chain: Certificate[];
  /** base64 tls-unique of the connection (TLS 1.2 only). */
  tlsUnique?: string;
}

export interface Resolved {
  tenant: Tenant;
  label: StoredLabel;
}

export type EnrollOutcome = { kind: 'issued'; issued: Issued } | { kind: 'pending'; retryAfter: number };

/** Seconds a client waits before retrying an enrollment awaiting approval (libest's minimum is 60). */
export const APPROVAL_RETRY_SECONDS = 60;

const VERIFIED_TTL_MS = 5 * 60_000;
const VERIFIED_CACHE_SIZE = 10_000;
export const EST_OPERATIONS = [
  'cacerts',
  'simpleenroll',
  'simplereenroll',
  'csrattrs',
  'serverkeygen',
  'fullcmc',
];

interface Authenticated {
  requester: string;
  via: 'basic' | 'cert' | 'bootstrap';
  /** The client certificate, when a certificate authenticated. */
  cert?: Certificate;
}

/** Raised when the client must authenticate; the transport adds a Basic challenge when `challenge`. */
export class EstAuthError extends ZtError {
  readonly challenge: string | undefined;
  constructor(message: string, challenge?: string) {
    super('UNAUTHENTICATED', message);
    this.challenge = challenge;
  }
}

/** The user name of an HTTP Basic header, if it is one. */
function basicUser(authorization: string | undefined): string | undefined {
  const m = /^Basic\s+(\S+)/i.exec(authorization ?? '');
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = text.indexOf(':');
  return i > 0 ? text.slice(0, Math.min(i, 128)) : undefined;
}

/** The EST service for every label of every tenant. */
export class EstService {
  private readonly store: EstStore;
  private readonly engine: IssuanceEngine;
  private readonly tenants: TenantService;
  private readonly cas: Pick<CaService, 'find' | 'verifiedAnchors'>;
  /** Recently verified credentials: scrypt costs tens of milliseconds, too much per enrollment. */
  private readonly verified = new Map<string, number>();
  private readonly audit: Pick<AuditTrail, 'note'> | undefined;

  constructor(
    store: EstStore,
    engine: IssuanceEngine,
    tenants: TenantService,
    cas: Pick<CaService, 'find' | 'verifiedAnchors'>,
    /** The audit trail: refused EST requests, with the reason. */
    audit?: Pick<AuditTrail, 'note'>,
  ) {
    this.store = store;
    this.engine = engine;
    this.tenants = tenants;
    this.cas = cas;
    this.audit = audit;
  }

  // ---------------------------------------------------------------- management

  /** Creates or replaces a label of a tenant. */
  async putLabel(tenant: Tenant, label: string, input: LabelInput): Promise<EstLabel> {
    if (EST_OPERATIONS.includes(label.toLowerCase())) {
      throw new ZtError(
        'BAD_REQUEST',
        `EST label "${label}" is the name of an EST operation (${EST_OPERATIONS.join(', ')}); choose another`,
      );
    }
    const b = input ?? {};
    const l: StoredLabel = {
      label,
      ...(b.issuingCa ? { issuingCa: b.issuingCa } : {}),
      profile: b.profile ?? 'device',
      basicAuth: b.basicAuth ?? true,
      certAuth: b.certAuth ?? true,
      bootstrapCas: b.bootstrapCas ?? [],
      requireTlsUnique: b.requireTlsUnique ?? false,
      manualApproval: b.manualApproval ?? false,
      default: b.default ?? false,
    };
    // Check references now, so a typo fails here and not at a device's first enrollment.
    if (l.issuingCa) await this.engine.getCa(tenant, l.issuingCa);
    else await this.engine.defaultCaName(tenant);
    await this.engine.profile(tenant, l.profile);
    for (const name of l.bootstrapCas) {
      const ca = await this.cas.find(tenant.id, name);
      if (!ca)
        throw new ZtError(
          'NOT_FOUND',
          `bootstrap CA "${name}" is not an uploaded CA certificate of this ID scope`,
        );
      if (!ca.isVerified) {
        throw new ZtError(
          'CA_NOT_VERIFIED',
          `bootstrap CA "${name}" is not verified; verify it first (zerotouch ca verification-code)`,
        );
      }
    }
    if (!l.basicAuth && !l.certAuth && l.bootstrapCas.length === 0) {
      throw new ZtError(
        'BAD_REQUEST',
        'a label needs at least one way in: basicAuth, certAuth or bootstrapCas',
      );
    }
    if (!(await this.store.putLabel(tenant.id, l))) {
      throw new ZtError(
        'CONFLICT',
        `EST label "${label}" belongs to another ID scope; labels are unique per server`,
      );
    }
    return this.view(tenant, l);
  }

  private async view(tenant: Tenant, l: StoredLabel): Promise<EstLabel> {
    return { ...l, idScope: tenant.idScope, users: await this.store.listUsers(l.label) };
  }

  async listLabels(tenant: Tenant): Promise<EstLabel[]> {
    return Promise.all((await this.store.listLabels(tenant.id)).map((l) => this.view(tenant, l)));
  }

  private async own(tenant: Tenant, label: string): Promise<StoredLabel> {
    const f = await this.store.findLabel(label);
    if (!f || f.tenantId !== tenant.id) {
      throw new ZtError(
        'NOT_FOUND',
        `EST label "${label}" does not exist in this ID scope; list them with zerotouch est label list`,
      );
    }
    return f.label;
  }

  async getLabel(tenant: Tenant, label: string): Promise<EstLabel> {
    return this.view(tenant, await this.own(tenant, label));
  }

  async deleteLabel(tenant: Tenant, label: string): Promise<void> {
    if (!(await this.store.deleteLabel(tenant.id, label))) await this.own(tenant, label);
  }

  /** Sets (or replaces) the password of a label's user. */
  async putUser(tenant: Tenant, label: string, username: string, password: string): Promise<void> {
    await this.own(tenant, label);
    await this.store.putUser(label, username, await hashPassword(password));
  }

  async deleteUser(tenant: Tenant, label: string, username: string): Promise<void> {
    await this.own(tenant, label);
    if (!(await this.store.deleteUser(label, username))) {
      throw new ZtError('NOT_FOUND', `label "${label}" has no user "${username}"`);
    }
  }

  async listPending(tenant: Tenant, label: string): Promise<PendingEnrollment[]> {
    await this.own(tenant, label);
    return this.store.listPending(label);
  }

  /** Approves or rejects an enrollment waiting on a label. */
  async decide(tenant: Tenant, label: string, keyHash: string, approve: boolean): Promise<void> {
    await this.own(tenant, label);
    if (!(await this.store.decide(label, keyHash, approve ? 'approved' : 'rejected'))) {
      throw new ZtError(
        'NOT_FOUND',
        `no enrollment awaiting a decision has key hash ${keyHash} on label "${label}"`,
      );
    }
  }

  // ---------------------------------------------------------------- protocol

  /** Finds the label of a request (`undefined` = the server's default label). */
  async resolve(label: string | undefined): Promise<Resolved> {
    const f = label ? await this.store.findLabel(label) : await this.store.findDefault();
    if (!f) {
      throw new ZtError(
        'NOT_FOUND',
        label
          ? `EST label "${label}" is not configured on this server`
          : 'this server has no default EST label; use /.well-known/est/<label>/',
        undefined,
        label
          ? undefined
          : 'no default EST label is configured; mark a label as default or give devices a labelled URL',
      );
    }
    return { tenant: await this.tenants.getTenant(f.tenantId), label: f.label };
  }

  /** Credentials sent where none are needed (aziot sends Basic on cacerts) must still be right. */
  async checkOfferedCredentials(r: Resolved, authorization: string | undefined): Promise<void> {
    if (!authorization || !r.label.basicAuth) return;
    await this.authenticate(r, { authorization, chain: [] });
  }

  /** The issuing CA and its issuers for /cacerts. */
  async cacerts(r: Resolved): Promise<Certificate[]> {
    return labelConfig(r, this.engine.caChain(r.tenant, r.label.issuingCa));
  }

  /** DER CsrAttrs for /csrattrs: the signature hash, the key type when one is required, tls-unique. */
  async csrattrs(r: Resolved): Promise<Buffer> {
    const profile = await labelConfig(r, this.engine.profile(r.tenant, r.label.profile));
    const items: Buffer[] = [];
    if (r.label.requireTlsUnique) items.push(der.oid(OID.challengePassword));
    const keys = profile.allowedKeyTypes;
    if (keys.every((k) => k === 'p256' || k === 'p384')) {
      items.push(
        der.seq(
          der.oid(OID.ecPublicKey),
          der.setOf(...keys.map((k) => der.oid(k === 'p256' ? OID.prime256v1 : OID.secp384r1))),
        ),
      );
    } else if (keys.every((k) => k.startsWith('rsa'))) {
      items.push(der.oid(OID.rsaEncryption));
    }
    items.push(
      der.oid(keys.includes('p384') && !keys.includes('p256') ? OID.ecdsaWithSha384 : OID.ecdsaWithSha256),
    );
    return der.seq(...items);
  }

  /** Authenticates an EST request; a refusal is also recorded in the audit trail. */
  private async authenticate(r: Resolved, ctx: EstContext): Promise<Authenticated> {
    try {
      return await this.authenticateOnce(r, ctx);
    } catch (e) {
      // A request without credentials is the challenge step of HTTP Basic, not a refusal.
      if (ctx.authorization || ctx.chain.length)
        this.audit?.note({
          tenantId: r.tenant.id,
          action: 'device.refused',
          target: `est-label/${r.label.label}`,
          outcome: 'refused',
          code: isZtError(e) ? e.code : 'INTERNAL',
          actor: {
            kind: 'device',
            id: ctx.chain[0]?.commonName ?? basicUser(ctx.authorization) ?? 'unknown',
          },
          detail: { face: 'est', reason: operatorText(e), certificate: ctx.chain[0]?.sha256 },
        });
      throw e;
    }
  }

  private async authenticateOnce(r: Resolved, ctx: EstContext): Promise<Authenticated> {
    const realm = `zerotouch EST ${r.label.label}`;
    const challenge = r.label.basicAuth ? realm : undefined;
    let certProblem: string | undefined;
    const leaf = ctx.chain[0];
    if (leaf && (r.label.certAuth || r.label.bootstrapCas.length > 0)) {
      try {
        return await this.certAuth(r, ctx.chain);
      } catch (e) {
        if (!isZtError(e)) throw e;
        if (e.code === 'CERT_REVOKED') throw e;
        certProblem = e.message;
      }
    }
    const basic = /^Basic\s+(.+)$/i.exec(ctx.authorization ?? '');
    if (basic && r.label.basicAuth) {
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      const user = i < 0 ? decoded : decoded.slice(0, i);
      const pass = i < 0 ? '' : decoded.slice(i + 1);
      const hash = await this.store.findUserHash(r.label.label, user);
      if (await this.passwordOk(r.label.label, user, pass, hash)) {
        return { requester: `est-user:${user}`, via: 'basic' };
      }
      throw new EstAuthError(`user name or password is wrong for EST label "${r.label.label}"`, challenge);
    }
    if (certProblem) {
      throw new EstAuthError(`the client certificate is not accepted: ${certProblem}`, challenge);
    }
    throw new EstAuthError(
      r.label.basicAuth
        ? `EST label "${r.label.label}" needs HTTP Basic credentials or a client certificate`
        : `EST label "${r.label.label}" needs a client certificate issued by its CA or by a bootstrap CA`,
      challenge,
    );
  }

  private async passwordOk(
    label: string,
    user: string,
    pass: string,
    hash: string | undefined,
  ): Promise<boolean> {
    // Keyed on the stored hash too, so a changed password is checked afresh.
    const k = createHash('sha256')
      .update(`${label}\0${user}\0${pass}\0${hash ?? ''}`)
      .digest('base64');
    const until = hash === undefined ? undefined : this.verified.get(k);
    if (until !== undefined && until > Date.now()) return true;
    if (!(await checkPassword(pass, hash))) return false;
    if (this.verified.size >= VERIFIED_CACHE_SIZE) this.verified.clear();
    this.verified.set(k, Date.now() + VERIFIED_TTL_MS);
    return true;
  }

  /** Client certificate: issued by the label's CA (identity/renewal) or by a bootstrap CA. */
  private async certAuth(r: Resolved, chain: Certificate[]): Promise<Authenticated> {
    const [leaf, ...rest] = chain;
    const reasons: string[] = [];
    if (r.label.certAuth) {
      const caChain = await labelConfig(r, this.engine.caChain(r.tenant, r.label.issuingCa));
      try {
        // The issuing CA is the anchor: aziot renews with the leaf alone (est.md 2a).
        validateChain(leaf!, rest, [caChain[0]!], { requiredEku: OID.clientAuth });
        await this.engine.assertNotRevoked([leaf!]);
        return { requester: `est-cert:${formatName(leaf!.subject)}`, via: 'cert', cert: leaf };
      } catch (e) {
        if (!isZtError(e) || e.code === 'CERT_REVOKED') throw e;
        reasons.push(e.message);
      }
    }
    if (r.label.bootstrapCas.length > 0) {
      const anchors = await this.cas.verifiedAnchors(r.tenant.id, r.label.bootstrapCas);
      try {
        validateChain(leaf!, rest, anchors);
        await this.engine.assertNotRevoked(chain);
        return { requester: `est-bootstrap:${formatName(leaf!.subject)}`, via: 'bootstrap', cert: leaf };
      } catch (e) {
        if (!isZtError(e) || e.code === 'CERT_REVOKED') throw e;
        reasons.push(e.message);
      }
    }
    throw new ZtError('UNAUTHENTICATED', reasons.join('; '));
  }

  private checkTlsUnique(r: Resolved, csr: CertificationRequest, ctx: EstContext): void {
    const pw = csr.challengePassword;
    if (pw !== undefined && ctx.tlsUnique && (r.label.requireTlsUnique || pw.length === 16)) {
      if (pw !== ctx.tlsUnique) {
        throw new EstAuthError(
          'the CSR challengePassword does not match the tls-unique value of this TLS connection',
        );
      }
      return;
    }
    if (r.label.requireTlsUnique) {
      throw new EstAuthError(
        ctx.tlsUnique
          ? `EST label "${r.label.label}" requires proof of possession: put the tls-unique value in the CSR challengePassword (estclient -z)`
          : `EST label "${r.label.label}" requires tls-unique proof of possession, which exists only on TLS 1.2; connect with TLS 1.2`,
      );
    }
  }

  /** simpleenroll / simplereenroll. */
  async enroll(r: Resolved, body: Buffer, ctx: EstContext, reenroll: boolean): Promise<EnrollOutcome> {
    const auth = await this.authenticate(r, ctx);
    const csr = parseCsr(body);
    this.checkTlsUnique(r, csr, ctx);
    let subject: Buffer | undefined;
    if (reenroll) {
      if (auth.via !== 'cert' || !auth.cert) {
        throw new ZtError(
          'FORBIDDEN',
          'simplereenroll renews a certificate this label issued: authenticate with that certificate as the TLS client certificate',
        );
      }
      checkSameNames(auth.cert, csr);
      subject = auth.cert.subject.der;
    }
    const pending = await this.approval(r, csr, auth);
    if (pending) return pending;
    const issued = await labelConfig(
      r,
      this.engine.issue({
        tenant: r.tenant as TenantRef,
        ca: r.label.issuingCa,
        profile: r.label.profile,
        csr,
        subject,
        requester: auth.requester,
        method: reenroll ? 'est-simplereenroll' : 'est-simpleenroll',
      }),
    );
    return { kind: 'issued', issued };
  }

  /** serverkeygen: the server makes the key; the CSR only names the subject. */
  async serverkeygen(
    r: Resolved,
    body: Buffer,
    ctx: EstContext,
  ): Promise<{ kind: 'issued'; issued: Issued; key: KeyObject } | { kind: 'pending'; retryAfter: number }> {
    const auth = await this.authenticate(r, ctx);
    const csr = parseCsr(body);
    const pending = await this.approval(r, csr, auth);
    if (pending) return pending;
    const profile = await labelConfig(r, this.engine.profile(r.tenant, r.label.profile));
    const key = this.engine.generateKeyFor(profile);
    const issued = await this.engine.issueForKey(
      {
        tenant: r.tenant,
        ca: r.label.issuingCa,
        profile,
        csr,
        requester: auth.requester,
        method: 'est-serverkeygen',
      },
      spkiDer(key),
    );
    return { kind: 'issued', issued, key };
  }

  /** Manual approval: the first request waits; an approved retry with the same key goes through. */
  private async approval(
    r: Resolved,
    csr: CertificationRequest,
    auth: Authenticated,
  ): Promise<{ kind: 'pending'; retryAfter: number } | undefined> {
    if (!r.label.manualApproval) return undefined;
    const keyHash = createHash('sha256').update(csr.spki).digest('hex');
    const p = await this.store.pending(r.label.label, keyHash, formatName(csr.subject), auth.requester);
    if (p.status === 'pending') return { kind: 'pending', retryAfter: APPROVAL_RETRY_SECONDS };
    await this.store.clearPending(r.label.label, keyHash);
    if (p.status === 'rejected') {
      throw new ZtError(
        'FORBIDDEN',
        `an operator rejected this enrollment request (key hash ${keyHash}); make a new key to ask again`,
      );
    }
    return undefined;
  }
}

/**
 * Runs an engine call an EST request needs. A label whose issuing CA or profile is gone is the
 * operator's to fix: the client is told the label cannot issue, the log gets the names.
 */
async function labelConfig<T>(r: Resolved, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    if (!isZtError(e, 'NOT_FOUND') && !isZtError(e, 'CONFIG_INVALID')) throw e;
    throw new ZtError(
      'NOT_CONFIGURED',
      `EST label "${r.label.label}" cannot issue right now; its configuration needs the operator's attention`,
      { retryAfter: 300 },
      `EST label "${r.label.label}": ${operatorText(e)}`,
    );
  }
}

function sanBytes(sans: Certificate['subjectAltNames']): string {
  return sans.length
    ? encodeSubjectAltName(
        [...sans].sort((a, b) => `${a.type}:${a.value}`.localeCompare(`${b.type}:${b.value}`)),
      ).toString('hex')
    : '';
}

/** RFC 7030 4.2.2: a re-enroll CSR keeps the Subject and SubjectAltName of the certificate it renews. */
function checkSameNames(cert: Certificate, csr: CertificationRequest): void {
  if (!cert.subject.der.equals(csr.subject.der)) {
    throw new ZtError(
      'FORBIDDEN',
      `re-enroll must keep the subject: the certificate has "${formatName(cert.subject)}" but the CSR asks for "${formatName(csr.subject)}"; use simpleenroll for a new identity`,
    );
  }
  if (sanBytes(cert.subjectAltNames) !== sanBytes(csr.subjectAltNames)) {
    const show = (s: Certificate['subjectAltNames']) =>
      s.map((x) => `${x.type}:${x.value}`).join(', ') || 'none';
    throw new ZtError(
      'FORBIDDEN',
      `re-enroll must keep the subject alternative names: the certificate has ${show(cert.subjectAltNames)} but the CSR asks for ${show(csr.subjectAltNames)}`,
    );
  }
}
