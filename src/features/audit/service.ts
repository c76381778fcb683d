/**
 * The audit trail: every admin change, every refusal at a device face, every issuance and
 * revocation, each with who did it. Records are only appended (and purged after the retention
 * period). Records whose action is an event also go to the scope's event webhooks.
 */
import type { Logger } from 'pino';
import { type Actor, currentActor } from './actor.ts';
import type { AuditStore } from './store.ts';
import {
  type AuditInput,
  type AuditQuery,
  type AuditRecord,
  type AuditSink,
  EVENT_ACTIONS,
} from './types.ts';

const DAY_MS = 86_400_000;
/** Most records one insert writes (10 values each: well within both databases' parameter limits). */
const MAX_BATCH = 500;

/** A record as admitted: what happened, who did it, when. */
interface PendingRecord {
  input: AuditInput;
  actor: Actor;
  at: string;
}

/** Appends to the audit trail and hands events on. */
export class AuditTrail implements AuditSink {
  private readonly store: AuditStore;
  private readonly log: Logger;
  private readonly events: (tenantId: string, action: string, record: Omit<AuditRecord, 'seq'>) => void;
  /** Device refusals recorded this minute: a flood of strangers must not flood the store. */
  private refusals = { minute: 0, count: 0, dropped: 0 };
  private readonly refusalsPerMinute: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly observe: (e: AuditInput) => void;
  /** Noted records not yet written, and the insert writing the previous ones. */
  private pending: PendingRecord[] = [];
  private writing: Promise<void> | undefined;

  constructor(
    store: AuditStore,
    o: {
      logger: Logger;
      /** Where events go (the outbox, to the scope's webhooks). */
      events?: (tenantId: string, action: string, record: Omit<AuditRecord, 'seq'>) => void;
      refusalsPerMinute?: number;
      /** Sees every record first, also refusals past the cap (metrics). */
      observe?: (e: AuditInput) => void;
    },
  ) {
    this.observe = o.observe ?? (() => undefined);
    this.store = store;
    this.log = o.logger;
    this.events = o.events ?? (() => undefined);
    this.refusalsPerMinute = o.refusalsPerMinute ?? 6000;
  }

  /** Appends a record as the current actor. */
  async record(e: AuditInput): Promise<void> {
    const r = this.admit(e);
    if (!r) return;
    await this.store.append([r]);
    this.emit(r);
  }

  /**
   * Appends without waiting; a store failure is logged, never thrown at the caller's work. The
   * records noted in one turn of the event loop are written by one insert: under load that is one
   * statement and one commit for many registrations instead of one each.
   */
  note(e: AuditInput): void {
    const r = this.admit(e);
    if (!r) return;
    this.pending.push(r);
    if (this.pending.length === 1 && !this.writing) setImmediate(() => void this.writePending());
  }

  /** Resolves once every noted record is written (or its failure logged). */
  async flush(): Promise<void> {
    while (this.writing || this.pending.length > 0) await (this.writing ?? this.writePending());
  }

  /** The record of `e` as the current actor, now; undefined for a refusal past the cap. */
  private admit(e: AuditInput): PendingRecord | undefined {
    this.observe(e);
    if (e.outcome === 'refused' && !this.admitRefusal()) return undefined;
    return { input: e, actor: e.actor ?? currentActor(), at: new Date().toISOString() };
  }

  private writePending(): Promise<void> {
    if (this.writing) return this.writing;
    const batch = this.pending.splice(0, MAX_BATCH);
    if (batch.length === 0) return Promise.resolve();
    this.writing = this.store
      .append(batch)
      .then(
        () => batch.forEach((r) => this.emit(r)),
        // One record the store refuses must not take the others with it: each alone, in order.
        async () => {
          for (const r of batch) await this.writeAlone(r);
        },
      )
      .finally(() => {
        this.writing = undefined;
        if (this.pending.length > 0) void this.writePending();
      });
    return this.writing;
  }

  /** Writes one record; a failure is logged. */
  private async writeAlone(r: PendingRecord): Promise<void> {
    try {
      await this.store.append([r]);
      this.emit(r);
    } catch (err) {
      this.log.warn(
        { err, action: r.input.action, target: r.input.target },
        'an audit record could not be stored',
      );
    }
  }

  /** Hands an event record on (after it is stored). */
  private emit({ input: e, actor, at }: PendingRecord): void {
    if (e.tenantId && EVENT_ACTIONS.has(e.action))
      this.events(e.tenantId, e.action, {
        at,
        tenantId: e.tenantId,
        actor,
        action: e.action,
        target: e.target,
        outcome: e.outcome ?? 'ok',
        ...(e.code ? { code: e.code } : {}),
        ...(e.detail ? { detail: e.detail } : {}),
      });
  }

  /** Records oldest first (after `q.after`); `tenantId` null reads every tenant's (admin tokens). */
  list(tenantId: string | null, q: AuditQuery, onlyEvents = false): Promise<AuditRecord[]> {
    return this.store.list(tenantId, q, onlyEvents ? EVENT_ACTIONS : undefined);
  }

  /** The newest record's seq of a tenant (where an event stream without a cursor starts). */
  latest(tenantId: string): Promise<number | undefined> {
    return this.store.latest(tenantId);
  }

  /** Deletes records older than `days` days; how many. */
  purge(days: number): Promise<number> {
    return this.store.purge(new Date(Date.now() - days * DAY_MS).toISOString());
  }

  /** Purges now and then every hour; 0 days keeps everything. */
  startRetention(days: number): void {
    if (days <= 0 || this.timer) return;
    const run = () =>
      this.purge(days)
        .then(
          (n) => n && this.log.info({ removed: n, days }, 'audit records past the retention period removed'),
        )
        .catch((err: unknown) => this.log.warn({ err }, 'audit retention purge failed; retrying in an hour'));
    void run();
    this.timer = setInterval(run, 3_600_000);
    this.timer.unref();
  }

  /** Stops the retention timer and writes what is still noted. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private admitRefusal(): boolean {
    const minute = Math.floor(Date.now() / 60_000);
    if (minute !== this.refusals.minute) {
      if (this.refusals.dropped)
        this.log.warn(
          { dropped: this.refusals.dropped },
          'device refusals beyond the audit cap were not recorded (the log and metrics have them)',
        );
      this.refusals = { minute, count: 0, dropped: 0 };
    }
    if (this.refusals.count >= this.refusalsPerMinute) {
      this.refusals.dropped++;
      return false;
    }
    this.refusals.count++;
    return true;
  }
}
