/**
 * The admin HTTP API: bearer-token authentication, health endpoints, the OpenAPI document and one
 * plugin per resource. Thin: each route's schema validates, its handler authorises and calls one
 * service method.
 */
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { ZtError } from '../../errors.ts';
import type { Services } from '../../services.ts';
import { installErrorHandlers } from '../http-errors.ts';
import { installSchemaValidation } from '../schema-validation.ts';
import { auditRoutes } from './routes/audit.ts';
import { auditAdminCalls } from './audit-hook.ts';
import { installConsole, isConsolePath } from './console.ts';
import { addComponents, redactWebhookSecrets, type ResourceOptions } from './route-kit.ts';
import { accessPolicyRoutes } from './routes/access-policies.ts';
import { caRoutes } from './routes/cas.ts';
import { certificateRoutes } from './routes/certificates.ts';
import { deviceRoutes } from './routes/devices.ts';
import { enrollmentRoutes } from './routes/enrollments.ts';
import { estLabelRoutes } from './routes/est-labels.ts';
import { hubRoutes } from './routes/hubs.ts';
import { awsKeyRoutes } from './routes/aws-keys.ts';
import { iotRoutes } from './routes/iot.ts';
import { iotPolicyRoutes } from './routes/iot-policies.ts';
import { iotThingRoutes } from './routes/iot-things.ts';
import { issuingCaRoutes } from './routes/issuing-cas.ts';
import { profileRoutes } from './routes/profiles.ts';
import { registrationRoutes } from './routes/registrations.ts';
import { tenantRoutes } from './routes/tenants.ts';
import { tokenRoutes } from './routes/tokens.ts';

export interface AdminAppOptions {
  logger: Logger;
  services: Services;
  /** Host name put in connection strings of the Azure-shaped service API. */
  serviceHost: string;
  ready: () => Promise<boolean>;
  bodyLimit: number;
  /** Serve the web console at / (admin.console). */
  console?: boolean;
  version: string;
  /** Prometheus metrics served at /metrics (to a caller with a token). */
  metrics?: { contentType: string; text(): Promise<string> };
}

const PUBLIC = new Set(['/healthz', '/readyz', '/v1/openapi.json']);

/** The resources of the API, each a plugin with its routes and error handler. */
const RESOURCES = [
  tenantRoutes,
  tokenRoutes,
  caRoutes,
  hubRoutes,
  enrollmentRoutes,
  registrationRoutes,
  deviceRoutes,
  accessPolicyRoutes,
  issuingCaRoutes,
  profileRoutes,
  certificateRoutes,
  estLabelRoutes,
  iotRoutes,
  iotThingRoutes,
  iotPolicyRoutes,
  awsKeyRoutes,
  auditRoutes,
];

/** Builds the admin fastify app (not listening yet). */
export async function buildAdminApp(o: AdminAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger as FastifyBaseLogger,
    bodyLimit: o.bodyLimit,
    trustProxy: false,
  });
  installErrorHandlers(app, true);
  installSchemaValidation(app);
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
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  addComponents(app);
  app.addHook('preSerialization', async (_req, _reply, payload) => redactWebhookSecrets(payload));

  app.addHook('onRequest', async (req: FastifyRequest) => {
    const path = req.url.split('?')[0];
    // CRLs are public by nature: relying parties fetch them without credentials.
    // The console's files are public too: it signs in with a token in the browser.
    if (PUBLIC.has(path) || path.startsWith('/crl/') || (o.console !== false && isConsolePath(path))) return;
    const header = req.headers.authorization;
    if (!header?.startsWith('Bearer ')) {
      throw new ZtError(
        'UNAUTHENTICATED',
        'this endpoint needs "Authorization: Bearer <token>"; the first admin token is in <data_dir>/admin-token',
      );
    }
    req.principal = await o.services.tenants.authenticate(header.slice(7));
  });

  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    if (await o.ready()) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reason: 'store is not reachable' });
  });
  app.get('/v1/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  const registry = o.metrics;
  if (registry) {
    // Any valid token may read the counters (Prometheus: authorization.credentials_file).
    app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
      reply.type(registry.contentType).send(await registry.text()),
    );
  }

  if (o.console !== false) installConsole(app);
  auditAdminCalls(app, o.services.audit, o.services.tenants);
  const opts: ResourceOptions = { services: o.services, serviceHost: o.serviceHost };
  for (const r of RESOURCES) await app.register(r, opts);
  return app;
}
