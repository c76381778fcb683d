/**
 * The device-facing HTTPS listener (TLS settings in ../device-tls.ts). The DPS device API, the
 * DPS service API and EST mount here in their own modules.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ZtError } from '../../errors.ts';
import { type ChainLimits, peerChain } from '../peer-chain.ts';
import type { SourceGuard } from '../source-guard.ts';
import type { Logger } from 'pino';
import type { Services } from '../../services.ts';
import { type DeviceTls, deviceTlsOptions } from '../device-tls.ts';
import type { DeviceRequests } from './device-requests.ts';
import { installErrorHandlers } from '../http-errors.ts';
import { installSchemaValidation } from '../schema-validation.ts';
import { dpsDeviceRoutes } from './dps-device.ts';
import { dpsServiceRoutes } from './dps-service.ts';
import { registerEstRoutes } from './est.ts';

export interface DeviceAppOptions {
  logger: Logger;
  tls: DeviceTls;
  ready: () => Promise<boolean>;
  bodyLimit: number;
  /** Per-source connection and failed-authentication limits, shared with the MQTT listener. */
  guard?: SourceGuard;
  /** Caps on the client chain, checked before it is parsed. */
  chainLimits?: ChainLimits;
  /** The services the DPS device API, the Azure-shaped DPS service API and EST call. */
  services: Services;
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
    requestTimeout: 30_000,
    // DPS clients spell path segments in different cases (enrollmentgroups, enrollmentGroups).
    routerOptions: { caseSensitive: false, ignoreTrailingSlash: true },
    // Request ids double as DPS trackingIds, which are GUIDs.
    genReqId: () => randomUUID(),
  });
  installErrorHandlers(app);
  installSchemaValidation(app);
  const guard = o.guard;
  if (guard) {
    // Before the TLS handshake: a source over its connection limit costs no handshake.
    app.server.on('connection', (socket: Socket) => {
      if (!guard.admit(socket)) socket.destroy();
    });
    // Before the body is read or any route runs: a source that spent its failure budget waits.
    app.addHook('onRequest', async (req) => {
      if (req.url === '/healthz' || req.url === '/readyz') return;
      const wait = guard.blockedFor(req.socket.remoteAddress);
      if (wait > 0) {
        throw new ZtError(
          'THROTTLED',
          `too many failed authentications from this address; retry after ${wait} s`,
          { retryAfter: wait },
        );
      }
    });
  }
  const devices: DeviceRequests = {
    chainOf: (req) => peerChain(req.raw.socket as TLSSocket, o.chainLimits),
    authFailed: (req) => guard?.failed(req.socket.remoteAddress),
  };
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (await o.ready()) return { status: 'ready' };
    return reply.code(503).send({ status: 'not ready', reason: 'store is not reachable' });
  });
  await app.register(dpsDeviceRoutes(o.services.registrations, devices));
  await app.register(dpsServiceRoutes(o.services, devices));
  registerEstRoutes(app, o.services.est, o.services.issuance, o.services.tenants, devices);
  return app;
}
