/**
 * The agent's DPS client: PUT the registration, poll the operation at the Retry-After the
 * service gives, wait out 429s, and return the assignment or a refusal with DPS's own message.
 */
import { ZtError } from '../errors.ts';
import { type HttpOptions, httpsRequest, NetworkError } from './http.ts';

export interface DpsRegistration {
  assignedHub: string;
  deviceId: string;
  substatus?: string;
  payload?: unknown;
  issuedCertificateChain?: string[];
}

/** A refusal by DPS (not worth retrying until something changes): errorCode and message. */
export class DpsRefusal extends ZtError {
  readonly errorCode: number | undefined;
  constructor(message: string, errorCode?: number) {
    super('UNAUTHENTICATED', message);
    this.errorCode = errorCode;
  }
}

const API_VERSION = '2021-06-01';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function retryAfterMs(h: string | string[] | undefined, fallbackS: number): number {
  const n = Number(Array.isArray(h) ? h[0] : h);
  return (Number.isFinite(n) && n > 0 ? n : fallbackS) * 1000;
}

function refusal(status: number, body: Buffer): DpsRefusal {
  let j: any;
  try {
    j = JSON.parse(body.toString());
  } catch {
    j = undefined;
  }
  const code = typeof j?.errorCode === 'number' ? j.errorCode : undefined;
  const msg = typeof j?.message === 'string' ? j.message : body.toString().slice(0, 300) || `HTTP ${status}`;
  return new DpsRefusal(
    `DPS refused the registration (${status}${code ? `, errorCode ${code}` : ''}): ${msg}`,
    code,
  );
}

/** Registers with DPS and waits for the outcome; `deadlineMs` bounds the whole exchange. */
export async function registerWithDps(o: {
  endpoint: string;
  idScope: string;
  registrationId: string;
  payload?: unknown;
  http: HttpOptions;
  deadlineMs?: number;
}): Promise<DpsRegistration> {
  const base = `${o.endpoint}/${encodeURIComponent(o.idScope)}/registrations/${encodeURIComponent(o.registrationId)}`;
  const end = Date.now() + (o.deadlineMs ?? 5 * 60_000);
  const body = JSON.stringify({
    registrationId: o.registrationId,
    ...(o.payload !== undefined ? { payload: o.payload } : {}),
  });
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  let put = await httpsRequest(
    `${base}/register?api-version=${API_VERSION}`,
    { method: 'PUT', headers, body },
    o.http,
  );
  while (put.status === 429 && Date.now() < end) {
    await sleep(retryAfterMs(put.headers['retry-after'], 5));
    put = await httpsRequest(
      `${base}/register?api-version=${API_VERSION}`,
      { method: 'PUT', headers, body },
      o.http,
    );
  }
  if (put.status >= 500) throw new NetworkError(`DPS answered ${put.status}; it will be retried`);
  if (put.status !== 202 && put.status !== 200) throw refusal(put.status, put.body);
  let op = JSON.parse(put.body.toString());
  let wait = retryAfterMs(put.headers['retry-after'], 3);
  while (op.status === 'assigning' || op.status === 'unassigned') {
    if (Date.now() > end)
      throw new NetworkError('DPS did not finish the registration in time; it will be retried');
    await sleep(wait);
    const get = await httpsRequest(
      `${base}/operations/${encodeURIComponent(op.operationId)}?api-version=${API_VERSION}`,
      { method: 'GET', headers },
      o.http,
    );
    wait = retryAfterMs(get.headers['retry-after'], 3);
    if (get.status === 429) continue;
    if (get.status >= 500)
      throw new NetworkError(`DPS answered ${get.status} while polling; it will be retried`);
    if (get.status !== 200 && get.status !== 202) throw refusal(get.status, get.body);
    op = { ...JSON.parse(get.body.toString()), operationId: op.operationId };
  }
  const rs = op.registrationState ?? {};
  if (op.status !== 'assigned') {
    throw new DpsRefusal(
      `DPS registration ${op.status}: ${rs.errorMessage ?? 'no reason given'}${rs.errorCode ? ` (errorCode ${rs.errorCode})` : ''}`,
      rs.errorCode,
    );
  }
  return {
    assignedHub: rs.assignedHub,
    deviceId: rs.deviceId,
    substatus: rs.substatus,
    payload: rs.payload,
    issuedCertificateChain: rs.issuedCertificateChain,
  };
}
