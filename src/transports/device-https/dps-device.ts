/**
 * The DPS device API on the device listener, wire-compatible with the Azure IoT provisioning
 * device SDKs and aziot-identityd: PUT register answers 202 with an operation, GET polls it,
 * POST looks up the registration. Any api-version is accepted. Errors use the DPS body shape.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { isZtError, ZtError } from '../../errors.ts';
import { errorResponse } from '../http-errors.ts';
import type { RegistrationService } from '../../features/provisioning/service.ts';
import type { RegistrationOperation } from '../../features/provisioning/types.ts';
import { dpsErrorAnswer, dpsOperationAnswer } from '../dps-wire.ts';
import type { DeviceRequests } from './device-requests.ts';

type Params = { idScope: string; registrationId: string; operationId?: string };
type Query = { 'api-version'?: string };

/**
 * Sends a DPS-shaped error: {errorCode, trackingId, message, timestampUtc, info}. A refused
 * credential (any 401, an unreadable certificate) counts against the caller's source address.
 */
export function sendDpsError(
  req: FastifyRequest,
  reply: FastifyReply,
  e: unknown,
  devices?: DeviceRequests,
): FastifyReply {
  const answer = dpsErrorAnswer(e, req.id);
  if (answer.internal) req.log.error({ err: e }, 'DPS request failed');
  else req.log.info({ code: answer.body.info.code, reason: answer.reason }, 'DPS request refused');
  if (answer.status === 401 || isZtError(e, 'CERT_MALFORMED')) devices?.authFailed(req);
  if (answer.retryAfter !== undefined) reply.header('retry-after', String(answer.retryAfter));
  return reply
    .code(answer.status)
    .header('x-ms-error-code', String(answer.errorCode))
    .header('x-ms-request-id', req.id)
    .send(answer.body);
}

/**
 * The error handler of DPS routes: body-parsing and schema errors also answer in the DPS shape
 * (aziot-identityd and the Azure SDKs parse it).
 */
export function dpsErrorHandler(devices: DeviceRequests) {
  return (e: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { body } = errorResponse(e, req.id, req.routeOptions.bodyLimit);
    return sendDpsError(req, reply, isZtError(e) ? e : new ZtError(body.code, body.message), devices);
  };
}

function sendOperation(
  req: FastifyRequest,
  reply: FastifyReply,
  op: RegistrationOperation,
  retryAfter: number,
  put: boolean,
): FastifyReply {
  reply.header('x-ms-request-id', req.id);
  const { status, body } = dpsOperationAnswer(op, put);
  if (status === 202) reply.header('retry-after', String(retryAfter));
  if (put) reply.header('location', `https://${req.headers.host ?? 'localhost'}${req.url.split('?')[0]}`);
  return reply.code(status).send(body);
}

/** The DPS device routes: one plugin whose error handler answers in the DPS shape. */
export function dpsDeviceRoutes(
  registrations: RegistrationService,
  devices: DeviceRequests,
): FastifyPluginAsync {
  return async (app) => {
    app.setErrorHandler(dpsErrorHandler(devices));
    const chainOf = devices.chainOf;
    const base = '/:idScope/registrations/:registrationId';
    const region = (req: FastifyRequest) => {
      const h = req.headers['x-zerotouch-region'];
      return typeof h === 'string' && h ? h : undefined;
    };

    app.put<{ Params: Params; Querystring: Query }>(`${base}/register`, async (req, reply) => {
      const op = await registrations.register(req.params.idScope, req.params.registrationId, req.body ?? {}, {
        chain: chainOf(req),
        apiVersion: req.query['api-version'],
        region: region(req),
      });
      return sendOperation(req, reply, op, registrations.retryAfterSeconds, true);
    });

    app.get<{ Params: Params; Querystring: Query }>(`${base}/operations/:operationId`, async (req, reply) => {
      const op = await registrations.operation(
        req.params.idScope,
        req.params.registrationId,
        req.params.operationId!,
        chainOf(req),
      );
      return sendOperation(req, reply, op, registrations.retryAfterSeconds, false);
    });

    app.post<{ Params: Params; Querystring: Query }>(base, async (req, reply) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (body.csr !== undefined) throw new ZtError('BAD_REQUEST', 'a status lookup must not carry a csr');
      const state = await registrations.status(req.params.idScope, req.params.registrationId, chainOf(req));
      return reply.code(200).header('x-ms-request-id', req.id).send(state);
    });

    // zerotouch extension: a device asks which enrollment its own chain matches, or why none does.
    app.get<{ Params: Params }>(`${base}/diagnose`, async (req, reply) =>
      reply.send(await registrations.diagnose(req.params.idScope, req.params.registrationId, chainOf(req))),
    );
  };
}
