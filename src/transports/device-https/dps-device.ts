/**
 * The DPS device API on the device listener, wire-compatible with the Azure IoT provisioning
 * device SDKs and aziot-identityd: PUT register answers 202 with an operation, GET polls it,
 * POST looks up the registration. Any api-version is accepted. Errors use the DPS body shape.
 */
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isZtError, ZtError } from '../../errors.ts';
import { errorResponse } from '../http-errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import type { RegistrationService } from '../../features/dps/registrations.ts';
import type { RegistrationOperation } from '../../features/dps/types.ts';
import { dpsErrorAnswer, dpsOperationAnswer } from '../dps-wire.ts';
import { peerChain } from '../peer-chain.ts';

type Params = { idScope: string; registrationId: string; operationId?: string };
type Query = { 'api-version'?: string };

// The chain is parsed once per TLS connection: a device reuses it for its PUT and its polls.
const chains = new WeakMap<TLSSocket, Certificate[]>();
function chainOf(req: FastifyRequest): Certificate[] {
  const socket = req.raw.socket as TLSSocket;
  let chain = chains.get(socket);
  if (!chain) {
    chain = peerChain(socket);
    chains.set(socket, chain);
  }
  return chain;
}

/** Sends a DPS-shaped error: {errorCode, trackingId, message, timestampUtc, info}. */
export function sendDpsError(req: FastifyRequest, reply: FastifyReply, e: unknown): FastifyReply {
  const answer = dpsErrorAnswer(e, req.id);
  if (answer.internal) req.log.error({ err: e }, 'DPS request failed');
  if (answer.retryAfter !== undefined) reply.header('retry-after', String(answer.retryAfter));
  return reply
    .code(answer.status)
    .header('x-ms-error-code', String(answer.errorCode))
    .header('x-ms-request-id', req.id)
    .send(answer.body);
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

/** Mounts the DPS device routes on the device listener. */
export function registerDpsDeviceRoutes(app: FastifyInstance, registrations: RegistrationService): void {
  // Body-parsing errors on these routes also answer in the DPS shape (aziot-identityd parses it).
  const errorHandler = (e: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { body } = errorResponse(e, req.id, 0);
    return sendDpsError(req, reply, isZtError(e) ? e : new ZtError(body.code, body.message));
  };
  const opts = { errorHandler };
  const base = '/:idScope/registrations/:registrationId';
  const region = (req: FastifyRequest) => {
    const h = req.headers['x-zerotouch-region'];
    return typeof h === 'string' && h ? h : undefined;
  };

  app.put<{ Params: Params; Querystring: Query }>(`${base}/register`, opts, async (req, reply) => {
    try {
      const op = await registrations.register(req.params.idScope, req.params.registrationId, req.body ?? {}, {
        chain: chainOf(req),
        apiVersion: req.query['api-version'],
        region: region(req),
      });
      return sendOperation(req, reply, op, registrations.retryAfterSeconds, true);
    } catch (e) {
      return sendDpsError(req, reply, e);
    }
  });

  app.get<{ Params: Params; Querystring: Query }>(
    `${base}/operations/:operationId`,
    opts,
    async (req, reply) => {
      try {
        const op = await registrations.operation(
          req.params.idScope,
          req.params.registrationId,
          req.params.operationId!,
          chainOf(req),
        );
        return sendOperation(req, reply, op, registrations.retryAfterSeconds, false);
      } catch (e) {
        return sendDpsError(req, reply, e);
      }
    },
  );

  app.post<{ Params: Params; Querystring: Query }>(base, opts, async (req, reply) => {
    try {
      const body = (req.body ?? {}) as Record<string, unknown>;
      if (body.csr !== undefined) throw new ZtError('BAD_REQUEST', 'a status lookup must not carry a csr');
      const state = await registrations.status(req.params.idScope, req.params.registrationId, chainOf(req));
      return reply.code(200).header('x-ms-request-id', req.id).send(state);
    } catch (e) {
      return sendDpsError(req, reply, e);
    }
  });

  // zerotouch extension: a device asks which enrollment its own chain matches, or why none does.
  app.get<{ Params: Params }>(`${base}/diagnose`, opts, async (req, reply) => {
    try {
      return reply.send(
        await registrations.diagnose(req.params.idScope, req.params.registrationId, chainOf(req)),
      );
    } catch (e) {
      return sendDpsError(req, reply, e);
    }
  });
}
