/** Persistence for issuing CAs, profiles, issued-certificate records and CRLs. */
import { prepared } from '../../store/prepared.ts';
import type { Kysely, QueryResult } from 'kysely';
import { isUniqueViolation } from '../../store/errors.ts';
import type { Database, IssuedCertificatesTable, IssuingCasTable } from '../../store/schema.ts';
import type { CertificateProfile, IssuedCertificate } from './types.ts';
import { after, type Page, pageArgs, pageOf } from '../../store/paging.ts';

export const nameKey = (s: string) => s.toLowerCase();

export interface StoredIssuingCa {
  name: string;
  certificate: string;
  chain: string;
  keyRef: KeyRef;
  crlNumber: number;
  createdAt: string;
}

/** Where an issuing CA's private key lives. */
export type KeyRef = { type: 'encrypted-file'; pem: string } | { type: 'pkcs11'; uri: string };

export interface IssuedFilter {
  ca?: string;
  status?: 'valid' | 'revoked';
  /** Substring of the subject, case-insensitive. */
  subject?: string;
  method?: string;
  expiringBefore?: string;
}

function toStoredCa(r: IssuingCasTable): StoredIssuingCa {
  return {
    name: r.name,
    certificate: r.certificate,
    chain: r.chain,
    keyRef: JSON.parse(r.key_ref),
    crlNumber: Number(r.crl_number),
    createdAt: r.created_at,
  };
}

function toIssued(r: IssuedCertificatesTable & { ca_name?: string }): IssuedCertificate {
  return {
    serialNumber: r.serial,
    issuingCa: r.ca_name ?? r.ca_key,
    subject: r.subject,
    subjectAltNames: JSON.parse(r.sans),
    sha1Thumbprint: r.sha1,
    sha256Thumbprint: r.sha256,
    notBeforeUtc: r.not_before,
    notAfterUtc: r.not_after,
    profile: r.profile,
    method: r.method as IssuedCertificate['method'],
    requester: r.requester,
    status: r.status as IssuedCertificate['status'],
    ...(r.revoked_at ? { revokedAtUtc: r.revoked_at } : {}),
    ...(r.revocation_reason ? { revocationReason: r.revocation_reason } : {}),
    createdDateTimeUtc: r.created_at,
  };
}

/** Issuance tables over Kysely. */
/** Persistence contract for issuing CAs, profiles, issued-certificate records and CRLs. */
export interface IssuanceStore {
  /** Inserts an issuing CA; false when the name is taken. */
  insertCa(tenantId: string, ca: StoredIssuingCa, sha256: string): Promise<boolean>;
  findCa(tenantId: string, name: string): Promise<StoredIssuingCa | undefined>;
  listCas(tenantId: string): Promise<StoredIssuingCa[]>;
  deleteCa(tenantId: string, name: string): Promise<boolean>;
  /** Takes the next CRL number of a CA atomically. */
  nextCrlNumber(tenantId: string, name: string): Promise<number>;
  putProfile(tenantId: string, p: CertificateProfile): Promise<void>;
  findProfile(tenantId: string, name: string): Promise<CertificateProfile | undefined>;
  listProfiles(tenantId: string): Promise<CertificateProfile[]>;
  deleteProfile(tenantId: string, name: string): Promise<boolean>;
  insertIssued(tenantId: string, c: IssuedCertificate, pem: string, issuerKey: string): Promise<void>;
  findIssued(
    tenantId: string,
    serial: string,
  ): Promise<{ record: IssuedCertificate; pem: string } | undefined>;
  /** Newest first, a page at a time. */
  listIssued(
    tenantId: string,
    f: IssuedFilter,
    max?: number,
    continuation?: string,
  ): Promise<Page<IssuedCertificate>>;
  /** Marks a certificate revoked; false when it was not found or already revoked. */
  revoke(tenantId: string, serial: string, reason: string, at: string): Promise<boolean>;
  revokedOf(
    tenantId: string,
    caName: string,
  ): Promise<Array<{ serial: string; revokedAt: string; reason: string }>>;
  /**
   * The first revoked certificate among these (issuer, serial) pairs, if any (checked on every
   * authentication). Keyed on what a re-encoded signature cannot change.
   */
  firstRevoked(
    refs: Array<{ issuerKey: string; serial: string }>,
  ): Promise<{ issuerKey: string; serial: string; revokedAt: string } | undefined>;
  getCrl(
    tenantId: string,
    caName: string,
  ): Promise<{ number: number; nextUpdate: string; der: Buffer } | undefined>;
  putCrl(tenantId: string, caName: string, number: number, nextUpdate: string, der: Buffer): Promise<void>;
  /** Every scope's issuing-CA certificates (PEM), for expiry gauges. */
  allCaCertificates(limit: number): Promise<Array<{ tenantId: string; name: string; certificate: string }>>;
  /** Valid issued certificates expiring in [from, to), counted per scope. */
  expiringCounts(from: string, to: string): Promise<Array<{ tenantId: string; count: number }>>;
  deleteCrl(tenantId: string, caName: string): Promise<void>;
}

export class KyselyIssuanceStore implements IssuanceStore {
  private readonly db: Kysely<Database>;
  private readonly findCaQuery;
  private readonly listCasQuery;
  private readonly findProfileQuery;
  private readonly insertIssuedQuery;
  /** The revocation check by number of certificates checked (a chain is a few long). */
  private readonly firstRevokedQueries = new Map<
    number,
    (
      ...refs: string[]
    ) => Promise<QueryResult<{ issuer_key: string | null; serial: string; revoked_at: string | null }>>
  >();

  constructor(db: Kysely<Database>) {
    this.db = db;
    // The queries of every issuance (EST enrollments, DPS certificate issuance).
    this.findCaQuery = prepared(db, (tenantId: string, key: string) =>
      db.selectFrom('issuing_cas').selectAll().where('tenant_id', '=', tenantId).where('name_key', '=', key),
    );
    this.listCasQuery = prepared(db, (tenantId: string) =>
      db.selectFrom('issuing_cas').selectAll().where('tenant_id', '=', tenantId).orderBy('name_key'),
    );
    this.findProfileQuery = prepared(db, (tenantId: string, key: string) =>
      db
        .selectFrom('cert_profiles')
        .select('doc')
        .where('tenant_id', '=', tenantId)
        .where('name_key', '=', key),
    );
    this.insertIssuedQuery = prepared(
      db,
      (
        tenantId: string,
        caKey: string,
        serial: string,
        subject: string,
        sans: string,
        sha1: string,
        sha256: string,
        notBefore: string,
        notAfter: string,
        profile: string,
        method: string,
        requester: string,
        status: string,
        certificate: string,
        createdAt: string,
        issuerKey: string,
      ) =>
        db.insertInto('issued_certificates').values({
          tenant_id: tenantId,
          ca_key: caKey,
          serial,
          subject,
          sans,
          sha1,
          sha256,
          not_before: notBefore,
          not_after: notAfter,
          profile,
          method,
          requester,
          status,
          revoked_at: null,
          revocation_reason: null,
          certificate,
          created_at: createdAt,
          issuer_key: issuerKey,
        }),
    );
  }

  /** Inserts an issuing CA; false when the name is taken. */
  async insertCa(tenantId: string, ca: StoredIssuingCa, sha256: string): Promise<boolean> {
    try {
      await this.db
        .insertInto('issuing_cas')
        .values({
          tenant_id: tenantId,
          name: ca.name,
          name_key: nameKey(ca.name),
          certificate: ca.certificate,
          chain: ca.chain,
          key_ref: JSON.stringify(ca.keyRef),
          sha256,
          crl_number: ca.crlNumber,
          created_at: ca.createdAt,
        })
        .execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async findCa(tenantId: string, name: string): Promise<StoredIssuingCa | undefined> {
    const r = (await this.findCaQuery(tenantId, nameKey(name))).rows[0];
    return r ? toStoredCa(r) : undefined;
  }

  async listCas(tenantId: string): Promise<StoredIssuingCa[]> {
    return (await this.listCasQuery(tenantId)).rows.map(toStoredCa);
  }

  async deleteCa(tenantId: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('issuing_cas')
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', nameKey(name))
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Takes the next CRL number of a CA atomically. */
  async nextCrlNumber(tenantId: string, name: string): Promise<number> {
    const r = await this.db
      .updateTable('issuing_cas')
      .set((eb) => ({ crl_number: eb('crl_number', '+', 1) }))
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', nameKey(name))
      .returning('crl_number')
      .executeTakeFirstOrThrow();
    return Number(r.crl_number);
  }

  async putProfile(tenantId: string, p: CertificateProfile): Promise<void> {
    const now = new Date().toISOString();
    await this.db
      .insertInto('cert_profiles')
      .values({ tenant_id: tenantId, name_key: nameKey(p.name), doc: JSON.stringify(p), updated_at: now })
      .onConflict((oc) =>
        oc.columns(['tenant_id', 'name_key']).doUpdateSet({ doc: JSON.stringify(p), updated_at: now }),
      )
      .execute();
  }

  async findProfile(tenantId: string, name: string): Promise<CertificateProfile | undefined> {
    const r = (await this.findProfileQuery(tenantId, nameKey(name))).rows[0];
    return r ? JSON.parse(r.doc) : undefined;
  }

  async listProfiles(tenantId: string): Promise<CertificateProfile[]> {
    const rows = await this.db
      .selectFrom('cert_profiles')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .orderBy('name_key')
      .execute();
    return rows.map((r) => JSON.parse(r.doc));
  }

  async deleteProfile(tenantId: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('cert_profiles')
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', nameKey(name))
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async insertIssued(tenantId: string, c: IssuedCertificate, pem: string, issuerKey: string): Promise<void> {
    await this.insertIssuedQuery(
      tenantId,
      nameKey(c.issuingCa),
      c.serialNumber,
      c.subject,
      JSON.stringify(c.subjectAltNames),
      c.sha1Thumbprint,
      c.sha256Thumbprint,
      c.notBeforeUtc,
      c.notAfterUtc,
      c.profile,
      c.method,
      c.requester,
      c.status,
      pem,
      c.createdDateTimeUtc,
      issuerKey,
    );
  }

  async findIssued(
    tenantId: string,
    serial: string,
  ): Promise<{ record: IssuedCertificate; pem: string } | undefined> {
    const r = await this.db
      .selectFrom('issued_certificates')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('serial', '=', serial.toUpperCase())
      .executeTakeFirst();
    return r ? { record: toIssued(r), pem: r.certificate } : undefined;
  }

  async listIssued(
    tenantId: string,
    f: IssuedFilter,
    max?: number,
    continuation?: string,
  ): Promise<Page<IssuedCertificate>> {
    const { limit, after: from } = pageArgs(max, continuation);
    let q = this.db.selectFrom('issued_certificates').selectAll().where('tenant_id', '=', tenantId);
    if (f.ca) q = q.where('ca_key', '=', nameKey(f.ca));
    if (f.status) q = q.where('status', '=', f.status);
    if (f.method) q = q.where('method', '=', f.method);
    if (f.subject)
      q = q.where((eb) => eb(eb.fn('lower', ['subject']), 'like', `%${f.subject!.toLowerCase()}%`));
    if (f.expiringBefore) q = q.where('not_after', '<', f.expiringBefore);
    if (from) q = q.where(after(['created_at', 'serial'], from, 'desc'));
    const rows = await q
      .orderBy('created_at', 'desc')
      .orderBy('serial', 'desc')
      .limit(limit + 1)
      .execute();
    return pageOf(rows, limit, (r) => [r.created_at, r.serial], toIssued);
  }

  /** Marks a certificate revoked; false when it was not found or already revoked. */
  async revoke(tenantId: string, serial: string, reason: string, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('issued_certificates')
      .set({ status: 'revoked', revoked_at: at, revocation_reason: reason })
      .where('tenant_id', '=', tenantId)
      .where('serial', '=', serial.toUpperCase())
      .where('status', '=', 'valid')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async revokedOf(
    tenantId: string,
    caName: string,
  ): Promise<Array<{ serial: string; revokedAt: string; reason: string }>> {
    const rows = await this.db
      .selectFrom('issued_certificates')
      .select(['serial', 'revoked_at', 'revocation_reason'])
      .where('tenant_id', '=', tenantId)
      .where('ca_key', '=', nameKey(caName))
      .where('status', '=', 'revoked')
      .orderBy('revoked_at')
      .execute();
    return rows.map((r) => ({
      serial: r.serial,
      revokedAt: r.revoked_at!,
      reason: r.revocation_reason ?? 'unspecified',
    }));
  }

  /**
   * The first revoked certificate among these (issuer, serial) pairs, if any (checked on every
   * authentication). Keyed on what a re-encoded signature cannot change.
   */
  async firstRevoked(
    refs: Array<{ issuerKey: string; serial: string }>,
  ): Promise<{ issuerKey: string; serial: string; revokedAt: string } | undefined> {
    if (refs.length === 0) return undefined;
    let query = this.firstRevokedQueries.get(refs.length);
    if (!query) {
      const db = this.db;
      query = prepared(
        db,
        (...pairs: string[]) =>
          db
            .selectFrom('issued_certificates')
            .select(['issuer_key', 'serial', 'revoked_at'])
            .where((eb) =>
              eb.or(
                refs.map((_, i) =>
                  eb.and([eb('issuer_key', '=', pairs[2 * i]!), eb('serial', '=', pairs[2 * i + 1]!)]),
                ),
              ),
            )
            .where('status', '=', 'revoked'),
        2 * refs.length,
      );
      // Chains are short; a few lengths at most.
      if (this.firstRevokedQueries.size < 16) this.firstRevokedQueries.set(refs.length, query);
    }
    const r = (await query(...refs.flatMap((x) => [x.issuerKey, x.serial]))).rows[0];
    return r ? { issuerKey: r.issuer_key!, serial: r.serial, revokedAt: r.revoked_at! } : undefined;
  }

  async getCrl(
    tenantId: string,
    caName: string,
  ): Promise<{ number: number; nextUpdate: string; der: Buffer } | undefined> {
    const r = await this.db
      .selectFrom('crls')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('ca_key', '=', nameKey(caName))
      .executeTakeFirst();
    return r
      ? { number: Number(r.number), nextUpdate: r.next_update, der: Buffer.from(r.der, 'base64') }
      : undefined;
  }

  async putCrl(
    tenantId: string,
    caName: string,
    number: number,
    nextUpdate: string,
    der: Buffer,
  ): Promise<void> {
    const row = { number, next_update: nextUpdate, der: der.toString('base64') };
    await this.db
      .insertInto('crls')
      .values({ tenant_id: tenantId, ca_key: nameKey(caName), ...row })
      .onConflict((oc) => oc.columns(['tenant_id', 'ca_key']).doUpdateSet(row))
      .execute();
  }

  async deleteCrl(tenantId: string, caName: string): Promise<void> {
    await this.db
      .deleteFrom('crls')
      .where('tenant_id', '=', tenantId)
      .where('ca_key', '=', nameKey(caName))
      .execute();
  }

  async allCaCertificates(
    limit: number,
  ): Promise<Array<{ tenantId: string; name: string; certificate: string }>> {
    const rows = await this.db
      .selectFrom('issuing_cas')
      .select(['tenant_id', 'name', 'certificate'])
      .limit(limit)
      .execute();
    return rows.map((r) => ({ tenantId: r.tenant_id, name: r.name, certificate: r.certificate }));
  }

  async expiringCounts(from: string, to: string): Promise<Array<{ tenantId: string; count: number }>> {
    const rows = await this.db
      .selectFrom('issued_certificates')
      .select(['tenant_id', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', '=', 'valid')
      .where('not_after', '>=', from)
      .where('not_after', '<', to)
      .groupBy('tenant_id')
      .execute();
    return rows.map((r) => ({ tenantId: r.tenant_id, count: Number(r.n) }));
  }
}
