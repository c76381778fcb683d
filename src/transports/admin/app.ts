/**
 * The admin HTTP API: bearer-token authentication, health endpoints, the OpenAPI document and the
 * native /v1 routes. Thin: each route validates, authorises and calls one service method.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ZtError } from '../../errors.ts';
import type { TokenScope } from '../../features/tenants/types.ts';
import type { Services } from '../../services.ts';
import { installErrorHandlers } from '../http-errors.ts';
import { authorize } from './authorize.ts';
import { registerDpsAdminRoutes } from './dps-routes.ts';
import { registerIssuanceAdminRoutes } from './issuance-routes.ts';
import { errorSchema, tenantSchema, tokenSchema } from './schemas.ts';

export interface AdminAppOptions {
  logger: Logger;
  services: Services;
  /** Host name put in connection strings of the Azure-shaped service API. */
  serviceHost: string;
  ready: () => Promise<boolean>;
  bodyLimit: number;
  version: string;
}

const PUBLIC = new Set(['/healthz', '/readyz', '/v1/openapi.json']);

/** Builds the admin fastify app (not listening yet). */
export async function buildAdminApp(o: AdminAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger as FastifyBaseLogger,
    bodyLimit: o.bodyLimit,
    trustProxy: false,
  });
  installErrorHandlers(app, o.bodyLimit, true);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'zerotouch admin API',
        version: o.version,
        description: 'Manage tenants (ID scopes), tokens, CAs, enrollments and devices.',
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  app.addSchema(errorSchema);
  app.addSchema(tenantSchema);
  app.addSchema(tokenSchema);

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const path = req.url.split('?')[0];
    // CRLs are public by nature: relying parties fetch them without credentials.
    if (PUBLIC.has(path) || path.startsWith('/crl/')) return;
    const header = req.headers.authorization;
    if (!header?.startsWith('Bearer ')) {
      throw new ZtError(
        'UNAUTHENTICATED',
        'this endpoint needs "Authorization: Bearer <token>"; the first admin token is in <data_dir>/admin-token',
      );
    }
    req.principal = await o.services.tenants.authenticate(header.slice(7));
  });

  const errors = {
    400: { $ref: 'error#' },
    401: { $ref: 'error#' },
    403: { $ref: 'error#' },
    404: { $ref: 'error#' },
    409: { $ref: 'error#' },
  };

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    if (await o.ready()) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reason: 'store is not reachable' });
  });
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.get(
    '/v1/tenants',
    {
      schema: {
        summary: 'List tenants (ID scopes)',
        tags: ['tenants'],
        response: { 200: { type: 'array', items: { $ref: 'tenant#' } }, ...errors },
      },
    },
    async (req) => {
      const p = authorize(req.principal, 'GET');
      const all = await o.services.tenants.listTenants();
      return p.tenantId ? all.filter((t) => t.id === p.tenantId) : all;
    },
  );
  app.post<{ Body: { name: string; idScope?: string } }>(
    '/v1/tenants',
    {
      schema: {
        summary: 'Create a tenant; its ID scope is generated unless given',
        tags: ['tenants'],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            idScope: { type: 'string', pattern: '^[A-Za-z0-9]{3,32}$' },
          },
        },
        response: { 201: { $ref: 'tenant#' }, ...errors },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'POST', { adminOnly: true });
      return reply.code(201).send(await o.services.tenants.createTenant(req.body));
    },
  );
  app.get<{ Params: { idScope: string } }>(
    '/v1/tenants/:idScope',
    {
      schema: {
        summary: 'Show a tenant',
        tags: ['tenants'],
        response: { 200: { $ref: 'tenant#' }, ...errors },
      },
    },
    async (req) => {
      const t = await o.services.tenants.getTenant(req.params.idScope);
      authorize(req.principal, 'GET', { tenantId: t.id });
      return t;
    },
  );
  app.delete<{ Params: { idScope: string } }>(
    '/v1/tenants/:idScope',
    {
      schema: {
        summary: 'Delete a tenant and everything in it',
        tags: ['tenants'],
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'DELETE', { adminOnly: true });
      await o.services.tenants.deleteTenant(req.params.idScope);
      return reply.code(204).send();
    },
  );

  app.get(
    '/v1/tokens',
    {
      schema: {
        summary: 'List API tokens (secrets are never shown again)',
        tags: ['tokens'],
        response: { 200: { type: 'array', items: { $ref: 'token#' } }, ...errors },
      },
    },
    async (req) => {
      authorize(req.principal, 'GET', { adminOnly: true });
      return o.services.tenants.listTokens();
    },
  );
  app.post<{ Body: { name: string; scopes?: TokenScope[]; tenant?: string; expiresAt?: string } }>(
    '/v1/tokens',
    {
      schema: {
        summary: 'Create an API token; the response holds its secret, shown only this once',
        tags: ['tokens'],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: { type: 'string', minLength: 1, maxLength: 200 },
            scopes: {
              type: 'array',
              items: { type: 'string', enum: ['admin', 'read', 'write'] },
              minItems: 1,
            },
            tenant: { type: 'string', description: 'ID scope the token is limited to' },
            expiresAt: { type: 'string', format: 'date-time' },
          },
        },
        response: {
          201: {
            type: 'object',
            properties: { token: { $ref: 'token#' }, secret: { type: 'string' } },
            required: ['token', 'secret'],
          },
          ...errors,
        },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'POST', { adminOnly: true });
      return reply.code(201).send(await o.services.tenants.createToken(req.body));
    },
  );
  app.delete<{ Params: { id: string } }>(
    '/v1/tokens/:id',
    {
      schema: {
        summary: 'Revoke an API token',
        tags: ['tokens'],
        response: { 204: { type: 'null' }, ...errors },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'DELETE', { adminOnly: true });
      await o.services.tenants.revokeToken(req.params.id);
      return reply.code(204).send();
    },
  );

  registerDpsAdminRoutes(app, o.services, o.serviceHost);
  registerIssuanceAdminRoutes(app, o.services);
  return app;
}
