/** Persistence contract for registration records; implemented over Kysely for both dialects. */
import { prepared } from '../../store/prepared.ts';
import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { type Page, after, pageArgs, pageOf } from '../../store/paging.ts';
import type { Database } from '../../store/schema.ts';
import { idKey } from '../id-key.ts';
import type { DeviceRegistrationState, RegistrationStatus } from './types.ts';

export interface StoredRegistration {
  operationId: string;
  status: RegistrationStatus;
  state: DeviceRegistrationState;
  etag: string;
  updatedAt: string;
}

/** Which registration records a list returns. */
export interface RegistrationFilter {
  /** Only those of this enrollment group. */
  groupId?: string;
  /** Only those in this state: assigned, assigning, failed or disabled. */
  status?: string;
  /** Only those changed at or after this time (ISO 8601). */
  updatedSince?: string;
}

export interface RegistrationStore {
  findRegistration(tenantId: string, registrationId: string): Promise<StoredRegistration | undefined>;
  /** Creates or replaces the registration record of one registration ID. */
  putRegistration(tenantId: string, operationId: string, state: DeviceRegistrationState): Promise<void>;
  /** Registration records of the tenant, optionally filtered (a string filter is an enrollment group). */
  listRegistrations(
    tenantId: string,
    max?: number,
    continuation?: string,
    filter?: string | RegistrationFilter,
  ): Promise<Page<DeviceRegistrationState>>;
  deleteRegistration(tenantId: string, registrationId: string, etag?: string): Promise<boolean>;
  /** Takes the lease on `key` for `owner` until `ttlMs` from now, if it is free or expired; true when taken. */
  tryLease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Extends `owner`'s lease on `key` to `ttlMs` from now; false when it is no longer `owner`'s. */
  renewLease(key: string, owner: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease back (only `owner`'s). */
  releaseLease(key: string, owner: string): Promise<void>;
  /** True while someone holds an unexpired lease on `key`. */
  leaseHeld(key: string): Promise<boolean>;
  /** A random 32-byte secret shared by every server on this store, made by the first to ask. */
  sharedSecret(name: string): Promise<Buffer>;
}

/** RegistrationStore over Kysely (SQLite or PostgreSQL). */
export class KyselyRegistrationStore implements RegistrationStore {
  private readonly db: Kysely<Database>;

  private readonly findRegistrationQuery;
  private readonly putRegistrationQuery;
  private readonly tryLeaseQuery;
  private readonly renewLeaseQuery;
  private readonly releaseLeaseQuery;
  private readonly leaseHeldQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // The queries of every registration.
    this.findRegistrationQuery = prepared(db, (tenantId: string, key: string) =>
      db
        .selectFrom('registrations')
        .select(['operation_id', 'status', 'doc', 'etag', 'updated_at'])
        .where('tenant_id', '=', tenantId)
        .where('id_key', '=', key),
    );
    this.putRegistrationQuery = prepared(
      db,
      (
        tenantId: string,
        key: string,
        createdAt: string,
        operationId: string,
        status: string,
        groupKey: string | null,
        doc: string,
        etag: string,
        updatedAt: string,
      ) => {
        const values = {
          operation_id: operationId,
          status,
          group_key: groupKey,
          doc,
          etag,
          updated_at: updatedAt,
        };
        return db
          .insertInto('registrations')
          .values({ tenant_id: tenantId, id_key: key, created_at: createdAt, ...values })
          .onConflict((oc) => oc.columns(['tenant_id', 'id_key']).doUpdateSet(values));
      },
    );
    // Insert, or take over an expired lease; a live lease of someone else leaves no row returned.
    this.tryLeaseQuery = prepared(db, (key: string, owner: string, expiresAt: string, now: string) =>
      db
        .insertInto('device_leases')
        .values({ key, owner, expires_at: expiresAt })
        .onConflict((oc) =>
          oc
            .column('key')
            .doUpdateSet({ owner, expires_at: expiresAt })
            .where('device_leases.expires_at', '<', now),
        )
        .returning('owner'),
    );
    this.renewLeaseQuery = prepared(db, (key: string, owner: string, expiresAt: string) =>
      db
        .updateTable('device_leases')
        .set({ expires_at: expiresAt })
        .where('key', '=', key)
        .where('owner', '=', owner)
        .returning('owner'),
    );
    this.releaseLeaseQuery = prepared(db, (key: string, owner: string) =>
      db.deleteFrom('device_leases').where('key', '=', key).where('owner', '=', owner),
    );
    this.leaseHeldQuery = prepared(db, (key: string, now: string) =>
      db.selectFrom('device_leases').select('owner').where('key', '=', key).where('expires_at', '>', now),
    );
  }

  async findRegistration(tenantId: string, registrationId: string): Promise<StoredRegistration | undefined> {
    const r = (await this.findRegistrationQuery(tenantId, idKey(registrationId))).rows[0];
    return r
      ? {
          operationId: r.operation_id,
          status: r.status as RegistrationStatus,
          state: JSON.parse(r.doc) as DeviceRegistrationState,
          etag: r.etag,
          updatedAt: r.updated_at,
        }
      : undefined;
  }

  async putRegistration(
    tenantId: string,
    operationId: string,
    state: DeviceRegistrationState,
  ): Promise<void> {
    await this.putRegistrationQuery(
      tenantId,
      idKey(state.registrationId),
      state.createdDateTimeUtc!,
      operationId,
      state.status,
      state.x509?.enrollmentGroupId ? idKey(state.x509.enrollmentGroupId) : null,
      JSON.stringify(state),
      state.etag!,
      state.lastUpdatedDateTimeUtc!,
    );
  }

  async listRegistrations(
    tenantId: string,
    max?: number,
    continuation?: string,
    filter?: string | RegistrationFilter,
  ): Promise<Page<DeviceRegistrationState>> {
    const { limit, after: from } = pageArgs(max, continuation);
    const f = typeof filter === 'string' ? { groupId: filter } : (filter ?? {});
    let q = this.db.selectFrom('registrations').select(['doc', 'id_key']).where('tenant_id', '=', tenantId);
    if (f.groupId !== undefined) q = q.where('group_key', '=', idKey(f.groupId));
    if (f.status !== undefined) q = q.where('status', '=', f.status);
    if (f.updatedSince !== undefined) q = q.where('updated_at', '>=', f.updatedSince);
    if (from) q = q.where(after(['id_key'], from));
    const rows = await q
      .orderBy('id_key')
      .limit(limit + 1)
      .execute();
    return pageOf(
      rows,
      limit,
      (r) => [r.id_key],
      (r) => JSON.parse(r.doc) as DeviceRegistrationState,
    );
  }

  async tryLease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const now = new Date();
    const expires = new Date(now.getTime() + ttlMs).toISOString();
    const r = (await this.tryLeaseQuery(key, owner, expires, now.toISOString())).rows[0];
    return r?.owner === owner;
  }

  async renewLease(key: string, owner: string, ttlMs: number): Promise<boolean> {
    const expires = new Date(Date.now() + ttlMs).toISOString();
    return (await this.renewLeaseQuery(key, owner, expires)).rows.length > 0;
  }

  async releaseLease(key: string, owner: string): Promise<void> {
    await this.releaseLeaseQuery(key, owner);
  }

  async leaseHeld(key: string): Promise<boolean> {
    return (await this.leaseHeldQuery(key, new Date().toISOString())).rows.length > 0;
  }

  async sharedSecret(name: string): Promise<Buffer> {
    await this.db
      .insertInto('cluster_secrets')
      .values({ name, value: randomBytes(32).toString('base64') })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const r = await this.db
      .selectFrom('cluster_secrets')
      .select('value')
      .where('name', '=', name)
      .executeTakeFirstOrThrow();
    return Buffer.from(r.value, 'base64');
  }

  async deleteRegistration(tenantId: string, registrationId: string, etag?: string): Promise<boolean> {
    let q = this.db
      .deleteFrom('registrations')
      .where('tenant_id', '=', tenantId)
      .where('id_key', '=', idKey(registrationId));
    if (etag) q = q.where('etag', '=', etag);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
