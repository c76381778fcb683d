/**
 * The device-facing HTTPS listener: TLS 1.2 and 1.3, client certificates requested but judged by
 * the application (each tenant trusts its own CAs, so OpenSSL cannot decide during the handshake).
 * The DPS device API and EST mount here in their own modules.
 */
import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { RegistrationService } from '../../features/dps/registrations.ts';
import type { DpsServices } from '../../features/dps/services.ts';
import { installErrorHandlers } from '../http-errors.ts';
import { registerDpsDeviceRoutes } from './dps-device.ts';
import { registerDpsServiceRoutes } from './dps-service.ts';
import { registerEstRoutes } from './est.ts';
import type { EstService } from '../../features/est/service.ts';
import type { IssuanceEngine } from '../../features/issuance/engine.ts';
import type { TenantService } from '../../features/tenants/service.ts';

export interface DeviceTls {
  /** PEM server certificate chain, leaf first. */
  cert: string;
  /** PEM private key. */
  key: string;
}

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

/** TLS settings shared by the device listener and the handshake benchmark's baseline. */
export function deviceTlsOptions(tls: DeviceTls) {
  return {
    cert: tls.cert,
    key: tls.key,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2' as const,
  };
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
