/**
 * The admin API's part of the audit trail: the caller's token becomes the actor of everything
 * its request does (so an issuance or a revocation names who asked), and every successful write
 * is recorded with its route, parameters and body, secrets masked.
 */
import type { FastifyInstance } from 'fastify';
import { type Actor, runAs } from '../../features/audit/actor.ts';
import type { AuditTrail } from '../../features/audit/service.ts';
import type { TenantService } from '../../features/tenants/service.ts';

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Field names whose values are credentials. */
const SECRET = /(password|secret|passphrase|token|privatekey|key)$/i;
const MAX_BODY_CHARS = 8192;

/** A copy of a request body with credentials masked and long text cut. */
export function maskBody(v: unknown, depth = 0): unknown {
  if (depth > 8) return '…';
  if (typeof v === 'string') return v.length > 512 ? `${v.slice(0, 512)}… (${v.length} characters)` : v;
  if (Array.isArray(v)) return v.slice(0, 50).map((x) => maskBody(x, depth + 1));
  if (typeof v !== 'object' || v === null) return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v))
    out[k] = SECRET.test(k) && x !== null ? '********' : maskBody(x, depth + 1);
  return out;
}

/** Adds the actor and the audit record of writes to the admin app. */
export function auditAdminCalls(app: FastifyInstance, audit: AuditTrail, tenants: TenantService): void {
  const actorOf = (p: { tokenId: string; name: string }): Actor => ({
    kind: 'token',
    id: p.tokenId,
    name: p.name,
  });
  // Callback style: the route handler runs inside done(), so inside the actor's context.
  app.addHook('preHandler', (req, _reply, done) => {
    if (req.principal) runAs(actorOf(req.principal), done);
    else done();
  });
  app.addHook('onResponse', async (req, reply) => {
    if (!req.principal || !WRITES.has(req.method) || reply.statusCode >= 400) return;
    const params = (req.params ?? {}) as Record<string, string>;
    const tenant = params.idScope
      ? await tenants.getTenant(params.idScope).catch(() => undefined)
      : undefined;
    let body = maskBody(req.body);
    if (JSON.stringify(body ?? null).length > MAX_BODY_CHARS) body = '(too long to keep)';
    audit.note({
      tenantId: tenant?.id ?? null,
      action: `${req.method} ${req.routeOptions.url ?? req.url.split('?')[0]}`,
      target: req.url.split('?')[0]!,
      actor: actorOf(req.principal),
      detail: { status: reply.statusCode, ...(body !== undefined && body !== null ? { body } : {}) },
    });
  });
}
