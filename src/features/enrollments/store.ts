/** Persistence contract for enrollments; implemented over Kysely for both dialects. */
import { prepared } from '../../store/prepared.ts';
import { type Kysely, sql } from 'kysely';
import { isUniqueViolation } from '../../store/errors.ts';
import { type Page, after, pageArgs, pageOf } from '../../store/paging.ts';
import type { Database } from '../../store/schema.ts';
import { idKey } from '../id-key.ts';
import type { EnrollmentGroup, EnrollmentKind, IndividualEnrollment } from './types.ts';

export interface StoredEnrollment<T> {
  doc: T;
  etag: string;
}

/** Keys that make a group match a device chain. */
export interface GroupSigners {
  signer1: string | null;
  signer2: string | null;
  caRef1: string | null;
  caRef2: string | null;
}

export interface EnrollmentStore {
  findEnrollment<T extends IndividualEnrollment | EnrollmentGroup>(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
  ): Promise<StoredEnrollment<T> | undefined>;
  /**
   * Writes an enrollment. `expectEtag`: undefined = create or replace, null = must not exist,
   * string = must exist with that etag. Returns false when the expectation does not hold.
   */
  putEnrollment(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
    doc: IndividualEnrollment | EnrollmentGroup,
    signers: GroupSigners,
    expectEtag: string | null | undefined,
  ): Promise<boolean>;
  deleteEnrollment(tenantId: string, kind: EnrollmentKind, id: string, etag?: string): Promise<boolean>;
  /** Deletes (or, with dryRun, counts) the enrollments of a kind whose ID starts with `prefix`. */
  deleteByPrefix(
    tenantId: string,
    kind: EnrollmentKind,
    prefix: string,
    dryRun: boolean,
  ): Promise<Array<IndividualEnrollment | EnrollmentGroup>>;
  /** Which of these individual enrollment IDs exist (lower-cased keys). */
  existingIndividuals(tenantId: string, ids: string[]): Promise<Set<string>>;
  /** Writes individual enrollments in one transaction (insert, or replace with `replace`); all or none. */
  putIndividuals(tenantId: string, docs: IndividualEnrollment[], replace: boolean): Promise<void>;
  listEnrollments<T>(
    tenantId: string,
    kind: EnrollmentKind,
    max?: number,
    continuation?: string,
  ): Promise<Page<T>>;
  /** Groups whose signing certificate is one of `sha256s` or that reference one of the CA names. */
  findGroupsFor(tenantId: string, sha256s: string[], caNames: string[]): Promise<EnrollmentGroup[]>;
}

/** EnrollmentStore over Kysely (SQLite or PostgreSQL). */
export class KyselyEnrollmentStore implements EnrollmentStore {
  private readonly db: Kysely<Database>;

  private readonly findEnrollmentQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // Every registration looks for an individual enrollment first.
    this.findEnrollmentQuery = prepared(db, (tenantId: string, kind: string, key: string) =>
      db
        .selectFrom('enrollments')
        .select(['doc', 'etag'])
        .where('tenant_id', '=', tenantId)
        .where('kind', '=', kind)
        .where('id_key', '=', key),
    );
  }

  async findEnrollment<T extends IndividualEnrollment | EnrollmentGroup>(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
  ): Promise<StoredEnrollment<T> | undefined> {
    const r = (await this.findEnrollmentQuery(tenantId, kind, idKey(id))).rows[0];
    return r ? { doc: JSON.parse(r.doc) as T, etag: r.etag } : undefined;
  }

  async putEnrollment(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
    doc: IndividualEnrollment | EnrollmentGroup,
    signers: GroupSigners,
    expectEtag: string | null | undefined,
  ): Promise<boolean> {
    const values = {
      doc: JSON.stringify(doc),
      etag: doc.etag!,
      updated_at: doc.lastUpdatedDateTimeUtc!,
      signer1: signers.signer1,
      signer2: signers.signer2,
      ca_ref1: signers.caRef1,
      ca_ref2: signers.caRef2,
    };
    if (typeof expectEtag === 'string') {
      const r = await this.db
        .updateTable('enrollments')
        .set(values)
        .where('tenant_id', '=', tenantId)
        .where('kind', '=', kind)
        .where('id_key', '=', idKey(id))
        .where('etag', '=', expectEtag)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    }
    const insert = this.db.insertInto('enrollments').values({
      tenant_id: tenantId,
      kind,
      id_key: idKey(id),
      created_at: doc.createdDateTimeUtc!,
      ...values,
    });
    try {
      if (expectEtag === null) await insert.execute();
      else
        await insert
          .onConflict((oc) => oc.columns(['tenant_id', 'kind', 'id_key']).doUpdateSet(values))
          .execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async deleteByPrefix(
    tenantId: string,
    kind: EnrollmentKind,
    prefix: string,
    dryRun: boolean,
  ): Promise<Array<IndividualEnrollment | EnrollmentGroup>> {
    // LIKE with the prefix's own wildcards escaped, so "line_1" does not match "lineX1".
    const pattern = `${idKey(prefix).replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const like = sql<boolean>`id_key like ${pattern} escape '\\'`;
    return this.db.transaction().execute(async (trx) => {
      const rows = await trx
        .selectFrom('enrollments')
        .select('doc')
        .where('tenant_id', '=', tenantId)
        .where('kind', '=', kind)
        .where(like)
        .execute();
      if (!dryRun && rows.length)
        await trx
          .deleteFrom('enrollments')
          .where('tenant_id', '=', tenantId)
          .where('kind', '=', kind)
          .where(like)
          .execute();
      return rows.map((r) => JSON.parse(r.doc) as IndividualEnrollment | EnrollmentGroup);
    });
  }

  async existingIndividuals(tenantId: string, ids: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    // Bounded IN lists: SQLite and PostgreSQL both take a few hundred parameters at ease.
    for (let i = 0; i < ids.length; i += 500) {
      const rows = await this.db
        .selectFrom('enrollments')
        .select('id_key')
        .where('tenant_id', '=', tenantId)
        .where('kind', '=', 'individual')
        .where('id_key', 'in', ids.slice(i, i + 500).map(idKey))
        .execute();
      for (const r of rows) out.add(r.id_key);
    }
    return out;
  }

  async putIndividuals(tenantId: string, docs: IndividualEnrollment[], replace: boolean): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      // Rows of 11 values: 50 rows stay far below SQLite's parameter limit.
      for (let i = 0; i < docs.length; i += 50) {
        const rows = docs.slice(i, i + 50).map((d) => ({
          tenant_id: tenantId,
          kind: 'individual',
          id_key: idKey(d.registrationId),
          doc: JSON.stringify(d),
          etag: d.etag!,
          created_at: d.createdDateTimeUtc!,
          updated_at: d.lastUpdatedDateTimeUtc!,
          signer1: null,
          signer2: null,
          ca_ref1: null,
          ca_ref2: null,
        }));
        const insert = trx.insertInto('enrollments').values(rows);
        await (
          replace
            ? insert.onConflict((oc) =>
                oc.columns(['tenant_id', 'kind', 'id_key']).doUpdateSet((eb) => ({
                  doc: eb.ref('excluded.doc'),
                  etag: eb.ref('excluded.etag'),
                  updated_at: eb.ref('excluded.updated_at'),
                })),
              )
            : insert
        ).execute();
      }
    });
  }

  async deleteEnrollment(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
    etag?: string,
  ): Promise<boolean> {
    let q = this.db
      .deleteFrom('enrollments')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('id_key', '=', idKey(id));
    if (etag) q = q.where('etag', '=', etag);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listEnrollments<T>(
    tenantId: string,
    kind: EnrollmentKind,
    max?: number,
    continuation?: string,
  ): Promise<Page<T>> {
    const { limit, after: from } = pageArgs(max, continuation);
    let q = this.db
      .selectFrom('enrollments')
      .select(['doc', 'id_key'])
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind);
    if (from) q = q.where(after(['id_key'], from));
    const rows = await q
      .orderBy('id_key')
      .limit(limit + 1)
      .execute();
    return pageOf(
      rows,
      limit,
      (r) => [r.id_key],
      (r) => JSON.parse(r.doc) as T,
    );
  }

  async findGroupsFor(tenantId: string, sha256s: string[], caNames: string[]): Promise<EnrollmentGroup[]> {
    if (sha256s.length === 0 && caNames.length === 0) return [];
    const keys = caNames.map(idKey);
    const rows = await this.db
      .selectFrom('enrollments')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', 'group')
      .where((eb) => {
        const ors = [];
        if (sha256s.length) ors.push(eb('signer1', 'in', sha256s), eb('signer2', 'in', sha256s));
        if (keys.length) ors.push(eb('ca_ref1', 'in', keys), eb('ca_ref2', 'in', keys));
        return eb.or(ors);
      })
      .execute();
    return rows.map((r) => JSON.parse(r.doc) as EnrollmentGroup);
  }
}
