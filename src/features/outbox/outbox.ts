/**
 * The webhook outbox: messages are written to the store first and delivered after, so nothing
 * is lost when a receiver is down or the server restarts. Each message is POSTed as JSON, signed
 * with HMAC-SHA256 when the webhook has a secret, and retried with exponential backoff (2 s
 * doubling to one hour) until a 2xx answer. Several nodes may run the deliverer: a node claims a
 * message by moving its next attempt forward, so one attempt runs at a time.
 */
import { createHmac, randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import Type, { type Static } from 'typebox';
import type { Logger } from 'pino';
import type { Database } from '../../store/schema.ts';

/** Where a message goes. */
export interface WebhookTarget {
  url: string;
  secret?: string;
}

/** A message for a handler inside this server (e.g. a change to apply to a Mosquitto broker). */
export interface HandlerTarget {
  handler: string;
  /** What the operator sees as the target, e.g. mosquitto://hub-1.example.com. */
  label: string;
}

/** Applies one message; throws to have it retried with backoff. */
export type OutboxHandler = (tenantId: string, payload: unknown) => Promise<void>;

/** A message waiting in (or delivered from) the outbox. */
export const OutboxMessageSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.String(),
    kind: Type.String({ description: 'the event topic, e.g. $aws/events/certificates/registered/<caId>' }),
    target: Type.String({ description: 'the webhook URL, or mosquitto://<hub> for a broker change' }),
    attempts: Type.Integer(),
    nextAttemptAt: Type.String({ format: 'date-time' }),
    deliveredAt: Type.Optional(Type.String({ format: 'date-time' })),
    lastError: Type.Optional(Type.String()),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A webhook message and its delivery state.' },
);
export type OutboxMessage = Static<typeof OutboxMessageSchema>;

const MAX_BACKOFF_MS = 60 * 60 * 1000;
/** How long a claimed attempt may take before another node may try again. */
const CLAIM_MS = 60_000;
const TIMEOUT_MS = 10_000;

/** Milliseconds before attempt number `attempts + 1`, at most `maxMs`. */
export function backoffMs(attempts: number, maxMs = MAX_BACKOFF_MS): number {
  return Math.min(2000 * 2 ** Math.max(attempts - 1, 0), maxMs);
}

/** Writes messages for webhooks and delivers them. */
export class Outbox {
  private readonly db: Kysely<Database>;
  private readonly log: Logger;
  private readonly fetchFn: typeof fetch;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private readonly handlers = new Map<string, OutboxHandler>();

  private readonly maxBackoffMs: number;

  constructor(db: Kysely<Database>, o: { logger: Logger; fetch?: typeof fetch; maxRetrySeconds?: number }) {
    this.maxBackoffMs = (o.maxRetrySeconds ?? MAX_BACKOFF_MS / 1000) * 1000;
    this.db = db;
    this.log = o.logger;
    this.fetchFn = o.fetch ?? fetch;
  }

  /** Sets the handler that delivers messages whose target names `name`. */
  handle(name: string, h: OutboxHandler): void {
    this.handlers.set(name, h);
  }

  /** Stores one message per target and starts delivering. */
  async enqueue(
    tenantId: string,
    kind: string,
    payload: unknown,
    targets: Array<WebhookTarget | HandlerTarget>,
  ): Promise<void> {
    if (targets.length === 0) return;
    const now = new Date().toISOString();
    await this.db
      .insertInto('outbox')
      .values(
        targets.map((t) => ({
          id: randomUUID(),
          tenant_id: tenantId,
          kind,
          // The secret travels with the message, so a later change of settings does not re-sign old ones.
          target: JSON.stringify(t),
          payload: JSON.stringify(payload),
          attempts: 0,
          next_attempt_at: now,
          delivered_at: null,
          last_error: null,
          created_at: now,
        })),
      )
      .execute();
    this.kick();
  }

  /** Delivers what is due now, then every `intervalMs`. */
  start(intervalMs = 1000): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.kick(), intervalMs);
    this.timer.unref();
    this.kick();
  }

  /** Stops the deliverer and waits for the attempt in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs a delivery round now (or right after the one in progress). */
  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.deliverDue()
      .catch((e: unknown) => this.log.warn({ err: e }, 'webhook outbox round failed; retrying later'))
      .finally(() => {
        this.running = undefined;
        if (this.again) {
          this.again = false;
          if (this.timer) this.kick();
        }
      });
  }

  /** Messages of a scope, newest first, for the operator. */
  async list(tenantId: string, limit = 100): Promise<OutboxMessage[]> {
    const rows = await this.db
      .selectFrom('outbox')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({
      id: r.id,
      tenantId: r.tenant_id,
      kind: r.kind,
      target: targetLabel(JSON.parse(r.target) as WebhookTarget | HandlerTarget),
      attempts: Number(r.attempts),
      nextAttemptAt: r.next_attempt_at,
      ...(r.delivered_at ? { deliveredAt: r.delivered_at } : {}),
      ...(r.last_error ? { lastError: r.last_error } : {}),
      createdAt: r.created_at,
    }));
  }

  private async deliverDue(): Promise<void> {
    const now = new Date();
    const due = await this.db
      .selectFrom('outbox')
      .selectAll()
      .where('delivered_at', 'is', null)
      .where('next_attempt_at', '<=', now.toISOString())
      .orderBy('next_attempt_at')
      .limit(50)
      .execute();
    for (const row of due) {
      const claim = await this.db
        .updateTable('outbox')
        .set({ next_attempt_at: new Date(Date.now() + CLAIM_MS).toISOString() })
        .where('id', '=', row.id)
        .where('next_attempt_at', '=', row.next_attempt_at)
        .where('delivered_at', 'is', null)
        .executeTakeFirst();
      if (Number(claim.numUpdatedRows) === 0) continue;
      const target = JSON.parse(row.target) as WebhookTarget | HandlerTarget;
      const error =
        'handler' in target
          ? await this.apply(target, row.tenant_id, row.payload)
          : await this.post(target, row.kind, row.id, row.payload);
      const attempts = Number(row.attempts) + 1;
      if (!error) {
        await this.db
          .updateTable('outbox')
          .set({ delivered_at: new Date().toISOString(), attempts, last_error: null })
          .where('id', '=', row.id)
          .execute();
      } else {
        this.log.info(
          { id: row.id, target: targetLabel(target), attempts, err: error },
          'outbox delivery failed; retrying with backoff',
        );
        await this.db
          .updateTable('outbox')
          .set({
            attempts,
            last_error: error.slice(0, 500),
            next_attempt_at: new Date(Date.now() + backoffMs(attempts, this.maxBackoffMs)).toISOString(),
          })
          .where('id', '=', row.id)
          .execute();
      }
    }
  }

  /** Hands one message to its handler; the error text, or undefined when it was applied. */
  private async apply(t: HandlerTarget, tenantId: string, payload: string): Promise<string | undefined> {
    const h = this.handlers.get(t.handler);
    if (!h) return `no handler for ${t.handler} on this node`;
    try {
      await h(tenantId, JSON.parse(payload));
      return undefined;
    } catch (e) {
      return (e as Error).message;
    }
  }

  /** POSTs one message; the error text, or undefined on a 2xx answer. */
  private async post(
    t: WebhookTarget,
    kind: string,
    id: string,
    payload: string,
  ): Promise<string | undefined> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-zerotouch-event': kind,
      'x-zerotouch-delivery': id,
    };
    if (t.secret)
      headers['x-zerotouch-signature'] =
        `sha256=${createHmac('sha256', t.secret).update(payload).digest('hex')}`;
    try {
      const res = await this.fetchFn(t.url, {
        method: 'POST',
        headers,
        body: payload,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      await res.body?.cancel();
      return res.ok ? undefined : `HTTP ${res.status}`;
    } catch (e) {
      return (e as Error).message;
    }
  }
}

function targetLabel(t: WebhookTarget | HandlerTarget): string {
  return 'handler' in t ? t.label : t.url;
}
