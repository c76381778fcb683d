/** Persistence for EST labels, their users and enrollments waiting for approval. */
import { prepared } from '../../store/prepared.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import { isRetryableConflict, isUniqueViolation } from '../../store/errors.ts';
import type { Database, EstPendingTable } from '../../store/schema.ts';
import type { EstLabel, PendingEnrollment } from './types.ts';

export const labelKey = (s: string) => s.toLowerCase();

/** Attempts of a label write that keeps meeting a concurrent default change. */
const MAX_DEFAULT_ATTEMPTS = 20;

function toPending(label: string, r: EstPendingTable): PendingEnrollment {
  return {
    label,
    keyHash: r.key_hash,
    subject: r.subject,
    requester: r.requester,
    status: r.status as PendingEnrollment['status'],
    createdDateTimeUtc: r.created_at,
    ...(r.decided_at ? { decidedDateTimeUtc: r.decided_at } : {}),
  };
}

/** A label as stored; whether it is the default comes from the column another label's write clears. */
function toLabel(r: { doc: string; is_default: number | string }): StoredLabel {
  return { ...(JSON.parse(r.doc) as StoredLabel), default: Number(r.is_default) === 1 };
}

export type StoredLabel = Omit<EstLabel, 'idScope' | 'users'>;

/** EST tables over Kysely. */
/** Persistence contract for EST labels, their users and pending enrollments. */
export interface EstStore {
  /** Upserts a label; false when the label belongs to another tenant. */
  putLabel(tenantId: string, l: StoredLabel): Promise<boolean>;
  findLabel(label: string): Promise<{ tenantId: string; label: StoredLabel } | undefined>;
  findDefault(): Promise<{ tenantId: string; label: StoredLabel } | undefined>;
  listLabels(tenantId: string): Promise<StoredLabel[]>;
  deleteLabel(tenantId: string, label: string): Promise<boolean>;
  putUser(label: string, username: string, hash: string): Promise<void>;
  findUserHash(label: string, username: string): Promise<string | undefined>;
  listUsers(label: string): Promise<string[]>;
  deleteUser(label: string, username: string): Promise<boolean>;
  /** Records a pending enrollment (idempotent per key); returns the stored one. */
  pending(label: string, keyHash: string, subject: string, requester: string): Promise<PendingEnrollment>;
  findPending(label: string, keyHash: string): Promise<PendingEnrollment | undefined>;
  listPending(label: string): Promise<PendingEnrollment[]>;
  decide(label: string, keyHash: string, status: 'approved' | 'rejected'): Promise<boolean>;
  clearPending(label: string, keyHash: string): Promise<void>;
}

export class KyselyEstStore implements EstStore {
  private readonly db: Kysely<Database>;

  private readonly findLabelQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // Every EST request looks its label up.
    this.findLabelQuery = prepared(db, (key: string) =>
      db.selectFrom('est_labels').select(['tenant_id', 'doc', 'is_default']).where('label_key', '=', key),
    );
  }

  /** Upserts a label; false when the label belongs to another tenant. */
  async putLabel(tenantId: string, l: StoredLabel): Promise<boolean> {
    // A label made default at the same time as another trips the one-default index (or, on
    // PostgreSQL, deadlocks with it); the retry sees the other one committed and takes over.
    // Each lost attempt means another writer committed, so with n at once a writer loses at most
    // n - 1 times: the cap is for many more than an operator makes at once, the jitter spreads them.
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.writeLabel(tenantId, l);
      } catch (e) {
        if (!(isUniqueViolation(e) || isRetryableConflict(e)) || attempt >= MAX_DEFAULT_ATTEMPTS) throw e;
        await sleep(Math.random() * 5 * attempt);
      }
    }
  }

  private writeLabel(tenantId: string, l: StoredLabel): Promise<boolean> {
    const now = new Date().toISOString();
    return this.db.transaction().execute(async (tx) => {
      const cur = await tx
        .selectFrom('est_labels')
        .select('tenant_id')
        .where('label_key', '=', labelKey(l.label))
        .executeTakeFirst();
      if (cur && cur.tenant_id !== tenantId) return false;
      if (l.default)
        await tx
          .updateTable('est_labels')
          .set({ is_default: 0 })
          .where('is_default', '=', 1)
          .where('label_key', '<>', labelKey(l.label))
          .execute();
      const row = { doc: JSON.stringify(l), is_default: l.default ? 1 : 0, updated_at: now };
      if (cur)
        await tx.updateTable('est_labels').set(row).where('label_key', '=', labelKey(l.label)).execute();
      else
        await tx
          .insertInto('est_labels')
          .values({ label_key: labelKey(l.label), tenant_id: tenantId, ...row })
          .execute();
      return true;
    });
  }

  async findLabel(label: string): Promise<{ tenantId: string; label: StoredLabel } | undefined> {
    const r = (await this.findLabelQuery(labelKey(label))).rows[0];
    return r ? { tenantId: r.tenant_id, label: toLabel(r) } : undefined;
  }

  async findDefault(): Promise<{ tenantId: string; label: StoredLabel } | undefined> {
    const r = await this.db
      .selectFrom('est_labels')
      .select(['tenant_id', 'doc', 'is_default'])
      .where('is_default', '=', 1)
      .executeTakeFirst();
    return r ? { tenantId: r.tenant_id, label: toLabel(r) } : undefined;
  }

  async listLabels(tenantId: string): Promise<StoredLabel[]> {
    const rows = await this.db
      .selectFrom('est_labels')
      .select(['doc', 'is_default'])
      .where('tenant_id', '=', tenantId)
      .orderBy('label_key')
      .execute();
    return rows.map(toLabel);
  }

  async deleteLabel(tenantId: string, label: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('est_labels')
      .where('tenant_id', '=', tenantId)
      .where('label_key', '=', labelKey(label))
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async putUser(label: string, username: string, hash: string): Promise<void> {
    const now = new Date().toISOString();
    await this.db
      .insertInto('est_users')
      .values({ label_key: labelKey(label), username, password_hash: hash, created_at: now })
      .onConflict((oc) => oc.columns(['label_key', 'username']).doUpdateSet({ password_hash: hash }))
      .execute();
  }

  async findUserHash(label: string, username: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('est_users')
      .select('password_hash')
      .where('label_key', '=', labelKey(label))
      .where('username', '=', username)
      .executeTakeFirst();
    return r?.password_hash;
  }

  async listUsers(label: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('est_users')
      .select('username')
      .where('label_key', '=', labelKey(label))
      .orderBy('username')
      .execute();
    return rows.map((r) => r.username);
  }

  async deleteUser(label: string, username: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('est_users')
      .where('label_key', '=', labelKey(label))
      .where('username', '=', username)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Records a pending enrollment (idempotent per key); returns the stored one. */
  async pending(
    label: string,
    keyHash: string,
    subject: string,
    requester: string,
  ): Promise<PendingEnrollment> {
    try {
      await this.db
        .insertInto('est_pending')
        .values({
          label_key: labelKey(label),
          key_hash: keyHash,
          subject,
          requester,
          status: 'pending',
          created_at: new Date().toISOString(),
          decided_at: null,
        })
        .execute();
    } catch (e) {
      if (!isUniqueViolation(e)) throw e;
    }
    return (await this.findPending(label, keyHash))!;
  }

  async findPending(label: string, keyHash: string): Promise<PendingEnrollment | undefined> {
    const r = await this.db
      .selectFrom('est_pending')
      .selectAll()
      .where('label_key', '=', labelKey(label))
      .where('key_hash', '=', keyHash)
      .executeTakeFirst();
    return r ? toPending(label, r) : undefined;
  }

  async listPending(label: string): Promise<PendingEnrollment[]> {
    const rows = await this.db
      .selectFrom('est_pending')
      .selectAll()
      .where('label_key', '=', labelKey(label))
      .orderBy('created_at')
      .execute();
    return rows.map((r) => toPending(label, r));
  }

  async decide(label: string, keyHash: string, status: 'approved' | 'rejected'): Promise<boolean> {
    const r = await this.db
      .updateTable('est_pending')
      .set({ status, decided_at: new Date().toISOString() })
      .where('label_key', '=', labelKey(label))
      .where('key_hash', '=', keyHash)
      .where('status', '=', 'pending')
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async clearPending(label: string, keyHash: string): Promise<void> {
    await this.db
      .deleteFrom('est_pending')
      .where('label_key', '=', labelKey(label))
      .where('key_hash', '=', keyHash)
      .execute();
  }
}
