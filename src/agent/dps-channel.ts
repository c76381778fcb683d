/**
 * What the agent's DPS exchange needs from a transport (HTTPS or MQTT): send the register
 * request, poll an operation, each answered with a status, an optional Retry-After and a body.
 */
import { ZtError } from '../errors.ts';

/** One DPS answer, whatever carried it. */
export interface DpsAnswer {
  status: number;
  /** Seconds, as the server sent it (header or topic parameter). */
  retryAfter?: string;
  body: Buffer;
}

/** A connection to DPS for one registration. */
export interface DpsChannel {
  register(body: string): Promise<DpsAnswer>;
  poll(operationId: string): Promise<DpsAnswer>;
  close(): Promise<void>;
}

/** A refusal by DPS (not worth retrying until something changes): errorCode and message. */
export class DpsRefusal extends ZtError {
  readonly errorCode: number | undefined;
  constructor(message: string, errorCode?: number) {
    super('UNAUTHENTICATED', message);
    this.errorCode = errorCode;
  }
}

/** The api-version the agent speaks (as aziot-identityd). */
export const DPS_API_VERSION = '2021-06-01';
