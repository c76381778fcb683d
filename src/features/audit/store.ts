/** Persistence of the audit trail: append, query, and the retention purge; nothing else changes it. */
import { prepared } from '../../store/prepared.ts';
import type { Kysely, Selectable } from 'kysely';
import type { AuditEventsTable, Database } from '../../store/schema.ts';
import type { Actor } from './actor.ts';
import type { AuditInput, AuditQuery, AuditRecord } from './types.ts';

/** The audit trail over Kysely (SQLite or PostgreSQL). */
export class AuditStore {
  private readonly db: Kysely<Database>;

  private readonly appendQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // Every registration appends one.
    this.appendQuery = prepared(
      db,
      (
        tenantId: string | null,
        at: string,
        actorKind: string,
        actorId: string,
        actorName: string | null,
        action: string,
        target: string,
        outcome: string,
        code: string | null,
        detail: string | null,
      ) =>
        db.insertInto('audit_events').values({
          tenant_id: tenantId,
          at,
          actor_kind: actorKind,
          actor_id: actorId,
          actor_name: actorName,
          action,
          target,
          outcome,
          code,
          detail,
        }),
    );
  }

  /** Appends records, in order: one prepared insert for one, a multi-row insert for several. */
  async append(records: ReadonlyArray<{ input: AuditInput; actor: Actor; at: string }>): Promise<void> {
    const rows = records.map(({ input: e, actor, at }) => ({
      tenant_id: e.tenantId,
      at,
      actor_kind: actor.kind,
      actor_id: actor.id,
      actor_name: actor.name ?? null,
      action: e.action,
      target: e.target,
      outcome: e.outcome ?? 'ok',
      code: e.code ?? null,
      detail: e.detail ? JSON.stringify(e.detail) : null,
    }));
    if (rows.length > 1) {
      await this.db.insertInto('audit_events').values(rows).execute();
      return;
    }
    const r = rows[0];
    if (!r) return;
    await this.appendQuery(
      r.tenant_id,
      r.at,
      r.actor_kind,
      r.actor_id,
      r.actor_name,
      r.action,
      r.target,
      r.outcome,
      r.code,
      r.detail,
    );
  }

  /** Records of a tenant (or of all, `tenantId` null for admin tokens), oldest first, after `q.after`. */
  async list(tenantId: string | null, q: AuditQuery, actions?: Set<string>): Promise<AuditRecord[]> {
    let s = this.db.selectFrom('audit_events').selectAll();
    if (tenantId !== null) s = s.where('tenant_id', '=', tenantId);
    if (q.after !== undefined) s = s.where('seq', '>', q.after);
    if (q.action?.endsWith('*'))
      s = s.where('action', 'like', `${q.action.slice(0, -1).replace(/[%_]/g, '')}%`);
    else if (q.action) s = s.where('action', '=', q.action);
    if (actions) s = s.where('action', 'in', [...actions]);
    if (q.target) s = s.where('target', '=', q.target);
    if (q.actor) s = s.where('actor_id', '=', q.actor);
    if (q.outcome) s = s.where('outcome', '=', q.outcome);
    if (q.since) s = s.where('at', '>=', new Date(q.since).toISOString());
    if (q.until) s = s.where('at', '<', new Date(q.until).toISOString());
    const rows = await s
      .orderBy('seq')
      .limit(q.max ?? 100)
      .execute();
    return rows.map(recordOf);
  }

  /** The newest record's seq of a tenant, or undefined when it has none. */
  async latest(tenantId: string): Promise<number | undefined> {
    const r = await this.db
      .selectFrom('audit_events')
      .select('seq')
      .where('tenant_id', '=', tenantId)
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r ? Number(r.seq) : undefined;
  }

  /** Deletes records older than `before`; how many. */
  async purge(before: string): Promise<number> {
    const r = await this.db.deleteFrom('audit_events').where('at', '<', before).executeTakeFirst();
    return Number(r.numDeletedRows);
  }
}

function recordOf(r: Selectable<AuditEventsTable>): AuditRecord {
  return {
    seq: Number(r.seq),
    at: r.at,
    tenantId: r.tenant_id,
    actor: {
      kind: r.actor_kind as Actor['kind'],
      id: r.actor_id,
      ...(r.actor_name ? { name: r.actor_name } : {}),
    },
    action: r.action,
    target: r.target,
    outcome: r.outcome as AuditRecord['outcome'],
    ...(r.code ? { code: r.code } : {}),
    ...(r.detail ? { detail: JSON.parse(r.detail) as Record<string, unknown> } : {}),
  };
}
