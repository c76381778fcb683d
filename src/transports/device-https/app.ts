/**
 * The device-facing HTTPS listener (TLS settings in ../device-tls.ts). The DPS device API, the
 * DPS service API and EST mount here in their own modules.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RegistrationService } from '../../features/dps/registrations.ts';
import type { DpsServices } from '../../features/dps/services.ts';
import { type DeviceTls, deviceTlsOptions } from '../device-tls.ts';
import { installErrorHandlers } from '../http-errors.ts';
import { registerDpsDeviceRoutes } from './dps-device.ts';
import { registerDpsServiceRoutes } from './dps-service.ts';
import { registerEstRoutes } from './est.ts';
import type { EstService } from '../../features/est/service.ts';
import type { IssuanceEngine } from '../../features/issuance/engine.ts';
import type { TenantService } from '../../features/tenants/service.ts';

export interface DeviceAppOptions {
  logger: Logger;
  tls: DeviceTls;
  ready: () => Promise<boolean>;
  bodyLimit: number;
  /** DPS registrations; mounts the DPS device API when given. */
  registrations?: RegistrationService;
  /** DPS services; mounts the Azure-shaped DPS service API when given. */
  dps?: DpsServices;
  /** EST and CRLs, when given. */
  est?: { service: EstService; engine: IssuanceEngine; tenants: TenantService };
}

/** Builds the device fastify app over HTTPS (not listening yet). */
export async function buildDeviceApp(o: DeviceAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: o.logger as FastifyBaseLogger,
    bodyLimit: o.bodyLimit,
    https: deviceTlsOptions(o.tls),
    // Devices on slow links still must not hold sockets forever.
    connectionTimeout: 60_000,
    keepAliveTimeout: 30_000,
    // DPS clients spell path segments in different cases (enrollmentgroups, enrollmentGroups).
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    // Request ids double as DPS trackingIds, which are GUIDs.
    genReqId: () => randomUUID(),
  });
  installErrorHandlers(app, o.bodyLimit);
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (await o.ready()) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reason: 'store is not reachable' });
  });
  if (o.registrations) registerDpsDeviceRoutes(app, o.registrations);
  if (o.dps) registerDpsServiceRoutes(app, o.dps);
  if (o.est) registerEstRoutes(app, o.est.service, o.est.engine, o.est.tenants);
  return app;
}
