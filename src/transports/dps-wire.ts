/**
 * The DPS device wire shapes shared by the HTTPS and MQTT transports: the error body
 * {errorCode, trackingId, message, timestampUtc, info} and the status and body of a register
 * or poll answer.
 */
import { isZtError, operatorText, ZtError } from '../errors.ts';
import { retryAfterOf } from './http-errors.ts';
import { dpsErrorCode, dpsHttpStatus } from '../features/provisioning/dps-error-codes.ts';
import type { RegistrationOperation } from '../features/provisioning/types.ts';

export interface DpsErrorAnswer {
  status: number;
  errorCode: number;
  /** Seconds, set for throttling answers. */
  retryAfter?: number;
  /** True when the error was not a known refusal: log it, the body only names the tracking id. */
  internal: boolean;
  /** The whole reason, for the server log (the body says only what the device may know). */
  reason: string;
  body: {
    errorCode: number;
    trackingId: string;
    message: string;
    timestampUtc: string;
    info: { code: string };
  };
}

/** The DPS-shaped error answer for any thrown value. */
export function dpsErrorAnswer(e: unknown, trackingId: string): DpsErrorAnswer {
  const err = isZtError(e)
    ? e
    : new ZtError('INTERNAL', `internal error; the server log has tracking id ${trackingId}`);
  const errorCode = dpsErrorCode(err);
  return {
    status: dpsHttpStatus(err),
    errorCode,
    retryAfter: retryAfterOf(err),
    internal: !isZtError(e),
    reason: operatorText(e),
    body: {
      errorCode,
      trackingId,
      message: err.message,
      timestampUtc: new Date().toISOString(),
      info: { code: err.code },
    },
  };
}

/**
 * Status and body for a register (`put`) or a poll: a register always answers 202 with the
 * operation id (aziot-identityd requires it); a poll answers 202 while assigning, else 200.
 */
export function dpsOperationAnswer(
  op: RegistrationOperation,
  put: boolean,
): { status: 200 | 202; body: unknown } {
  if (put) return { status: 202, body: { operationId: op.operationId, status: 'assigning' } };
  return op.status === 'assigning' ? { status: 202, body: op } : { status: 200, body: op };
}
