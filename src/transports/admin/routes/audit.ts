/** /v1/audit, /v1/tenants/:idScope/audit and .../events: the audit trail and the event stream. */
import Type from 'typebox';
import { AuditQuerySchema, AuditRecordSchema } from '../../../features/audit/types.ts';
import { authorize, tenantFor } from '../authorize.ts';
import { ERRORS, resource, ScopeParams } from '../route-kit.ts';

/** How often a stream looks for new events, and sends a comment to keep proxies from closing it. */
const POLL_MS = 1000;
const HEARTBEAT_MS = 15_000;

export const auditRoutes = resource((app, { services }) => {
  const { audit, tenants } = services;
  const tags = ['audit'];
  const Records = Type.Array(AuditRecordSchema);
  app.get(
    '/v1/tenants/:idScope/audit',
    {
      schema: {
        summary:
          "The scope's audit trail, oldest first: admin changes, device refusals, issuances, revocations, registrations (page with after = the last seq)",
        tags,
        params: ScopeParams,
        querystring: AuditQuerySchema,
        response: { 200: Records, ...ERRORS },
      },
    },
    async (req) => audit.list((await tenantFor(tenants, req)).id, req.query),
  );
  app.get(
    '/v1/audit',
    {
      schema: {
        summary: 'The audit trail of every scope and of tenant-less calls (admin tokens only)',
        tags,
        querystring: AuditQuerySchema,
        response: { 200: Records, ...ERRORS },
      },
    },
    async (req) => {
      authorize(req.principal, 'GET', { adminOnly: true });
      return audit.list(null, req.query);
    },
  );

  const streams = new Set<() => void>();
  app.addHook('onClose', async () => {
    for (const end of streams) end();
  });
  app.get(
    '/v1/tenants/:idScope/events',
    {
      schema: {
        summary:
          'Server-sent events of the scope (registration.assigned/failed, certificate.issued/renewed/revoked, enrollment.changed); resumes after Last-Event-ID',
        tags,
        params: ScopeParams,
        querystring: Type.Object({
          after: Type.Optional(
            Type.Integer({ minimum: 0, description: 'start after this seq (default: now)' }),
          ),
        }),
        headers: Type.Object({ 'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })) }),
        response: {
          200: {
            description: 'text/event-stream: id = seq, event = action, data = the record as JSON',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...ERRORS,
        },
      },
    },
    async (req, reply) => {
      const tenant = await tenantFor(tenants, req);
      const resume = req.headers['last-event-id'] ?? req.query.after;
      // Without a cursor the stream starts at the newest record: only what happens from now on.
      let last = resume !== undefined ? Number(resume) : ((await audit.latest(tenant.id)) ?? 0);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      res.write(': zerotouch events\n\n');
      let closed = false;
      let sinceBeat = 0;
      const end = () => {
        if (closed) return;
        closed = true;
        clearInterval(timer);
        streams.delete(end);
        res.end();
      };
      streams.add(end);
      let busy = false;
      const timer = setInterval(() => {
        if (busy || closed) return;
        busy = true;
        audit
          .list(tenant.id, { after: last, max: 100 }, true)
          .then((records) => {
            for (const r of records) {
              res.write(`id: ${r.seq}\nevent: ${r.action}\ndata: ${JSON.stringify(r)}\n\n`);
              last = r.seq;
            }
            sinceBeat += POLL_MS;
            if (sinceBeat >= HEARTBEAT_MS) {
              res.write(': keep-alive\n\n');
              sinceBeat = 0;
            }
          })
          // The store may be down for a while; the stream waits for it.
          .catch(() => undefined)
          .finally(() => {
            busy = false;
          });
      }, POLL_MS);
      req.raw.once('close', end);
      res.once('error', end);
    },
  );
});
