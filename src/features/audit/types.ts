/** Audit records: what changed, who did it, and what devices were refused, as TypeBox schemas. */
import Type, { type Static } from 'typebox';
import type { Actor } from './actor.ts';

export const AuditActorSchema = Type.Object({
  kind: Type.Enum(['token', 'device', 'system']),
  id: Type.String(),
  name: Type.Optional(Type.String()),
});

export const AuditRecordSchema = Type.Object(
  {
    seq: Type.Integer({
      description: 'increases with every record of the store; the cursor of lists and streams',
    }),
    at: Type.String({ format: 'date-time' }),
    tenantId: Type.Union([Type.String(), Type.Null()]),
    actor: AuditActorSchema,
    action: Type.String({
      description:
        'e.g. registration.assigned, registration.failed, device.refused, certificate.issued, certificate.renewed, certificate.revoked, enrollment.changed, or an admin call: PUT /v1/tenants/{idScope}/hubs/{hostName}',
    }),
    target: Type.String({
      description: 'what it concerns, e.g. registration/edge-01, enrollment-group/line-3',
    }),
    outcome: Type.Enum(['ok', 'refused', 'failed']),
    code: Type.Optional(Type.String({ description: 'the error code of a refusal or failure' })),
    detail: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), { description: 'reason, before and after' }),
    ),
  },
  { description: 'One entry of the append-only audit trail.' },
);
export type AuditRecord = Static<typeof AuditRecordSchema>;

/** What a feature hands to the audit trail (the actor and time are added). */
export interface AuditInput {
  tenantId: string | null;
  action: string;
  target: string;
  outcome?: AuditRecord['outcome'];
  code?: string;
  detail?: Record<string, unknown>;
  /** Who did it, when not the current actor (a hook that runs after the request). */
  actor?: Actor;
}

/** Where features report what happened. */
export interface AuditSink {
  record(e: AuditInput): Promise<void>;
}

export const AuditQuerySchema = Type.Object({
  action: Type.Optional(
    Type.String({ description: 'an action, or a prefix ending in * (e.g. certificate.*)' }),
  ),
  target: Type.Optional(Type.String()),
  actor: Type.Optional(Type.String({ description: 'a token id or a device id' })),
  outcome: Type.Optional(Type.Enum(['ok', 'refused', 'failed'])),
  since: Type.Optional(Type.String({ format: 'date-time' })),
  until: Type.Optional(Type.String({ format: 'date-time' })),
  after: Type.Optional(Type.Integer({ minimum: 0, description: 'only records after this seq (paging)' })),
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export type AuditQuery = Static<typeof AuditQuerySchema>;

/** The actions that are also events: sent to the scope's webhooks and on the event stream. */
export const EVENT_ACTIONS = new Set([
  'registration.assigned',
  'registration.failed',
  'certificate.issued',
  'certificate.renewed',
  'certificate.revoked',
  'enrollment.changed',
]);
