/**
 * Maps errors to the native JSON error shape shared by zerotouch's HTTP listeners:
 * {code, message, requestId}. Internal errors never leak a stack or a secret, only the request id
 * to find the log line.
 */
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, type ErrorCode, isZtError, operatorText } from '../errors.ts';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  requestId: string;
  detail?: Record<string, unknown>;
}

/**
 * The status and body for any thrown value. Operators (the admin listener) get the whole reason;
 * devices get the message meant for them.
 */
export function errorResponse(
  e: unknown,
  requestId: string,
  bodyLimit: number,
  operator = false,
): { status: number; body: ErrorBody } {
  if (isZtError(e)) {
    const message = operator ? operatorText(e) : e.message;
    return { status: e.status, body: { code: e.code, message, requestId, detail: e.detail } };
  }
  const fe = e as FastifyError;
  const wrap = (code: ErrorCode, message: string, status: number = ERROR_CATALOGUE[code].status) => ({
    status,
    body: { code, message, requestId },
  });
  switch (fe.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return wrap('BODY_TOO_LARGE', `request body is larger than ${bodyLimit} bytes; send a smaller body`);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return wrap(
        'BAD_REQUEST',
        `content type ${fe.message.replace(/^.*: /, '')} is not accepted here; send application/json`,
        415,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return wrap('BAD_REQUEST', 'the body is empty; send a JSON object');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return wrap('BAD_REQUEST', `the body is not valid JSON: ${fe.message}`);
  }
  if (fe.validation) return wrap('BAD_REQUEST', `the request is not valid: ${fe.message}`);
  if (fe instanceof SyntaxError) return wrap('BAD_REQUEST', `the body is not valid JSON: ${fe.message}`);
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return wrap('BAD_REQUEST', fe.message, fe.statusCode);
  }
  return wrap('INTERNAL', `internal error; the server log has the details under request id ${requestId}`);
}

/** Seconds a client should wait before retrying after this error, when it is worth a retry. */
export function retryAfterOf(e: unknown): number | undefined {
  if (!isZtError(e)) return undefined;
  if (typeof e.detail?.retryAfter === 'number') return e.detail.retryAfter;
  return e.code === 'THROTTLED' || e.code === 'STORE_UNAVAILABLE' ? 5 : undefined;
}

/** Answers any thrown value in the native error shape (`operator`: the admin listener, which sees the whole reason). */
export function nativeErrorHandler(operator: boolean) {
  return (e: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const { status, body } = errorResponse(e, req.id, req.routeOptions.bodyLimit, operator);
    if (status >= 500 && !isZtError(e)) req.log.error({ err: e }, 'request failed');
    else req.log.info({ code: body.code, reason: operatorText(e) }, 'request rejected');
    const retryAfter = retryAfterOf(e);
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    if (status === 401) reply.header('WWW-Authenticate', 'Bearer realm="zerotouch"');
    reply.code(status).send(body);
  };
}

/** The admin listener's error handler. */
export const adminErrorHandler = nativeErrorHandler(true);

/** Installs the error and not-found handlers on a fastify instance (`operator`: the admin listener). */
export function installErrorHandlers(app: FastifyInstance, operator = false): void {
  app.setErrorHandler(nativeErrorHandler(operator));
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) => {
    reply.code(404).send({
      code: 'NOT_FOUND',
      message: `no route ${req.method} ${req.url.split('?')[0]}; the API is described at /v1/openapi.json`,
      requestId: req.id,
    } satisfies ErrorBody);
  });
}
