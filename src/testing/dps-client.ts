/**
 * Test helper: a DPS device client that speaks exactly as aziot-identityd does (api-version
 * 2021-06-01, PUT must answer 202, a fixed poll period, strict JSON fields), over node:https.
 */
import { Agent, request } from 'node:https';
import type { DeviceIdentity } from './dps.ts';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** One HTTPS request to the device listener with the device's certificate chain. */
export function deviceRequest(
  port: number,
  ca: string,
  device: DeviceIdentity | undefined,
  method: string,
  path: string,
  body?: string,
  agent?: Agent,
  extraHeaders: Record<string, string> = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        method,
        path,
        ca,
        cert: device?.chainPem,
        key: device?.keyPem,
        agent: agent ?? false,
        headers: {
          ...extraHeaders,
          ...(body !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
            : {}),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => {
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** aziot-identityd's error-body rule: empty, or JSON with an int errorCode and a string message. */
function checkErrorBody(r: RawResponse): void {
  if (!r.text) return;
  if (typeof r.json?.errorCode !== 'number' || typeof r.json?.message !== 'string') {
    throw new Error(`error body is not DPS-shaped: ${r.text}`);
  }
}

export interface IdentitydResult {
  assignedHub: string;
  deviceId: string;
  polls: number;
}

/**
 * Registers like aziot-identityd: PUT (only 202 is accepted), then a GET every `pollMs` until
 * assigned or failed; throws with DPS's errorMessage on failure.
 */
export async function identitydRegister(
  port: number,
  ca: string,
  idScope: string,
  device: DeviceIdentity,
  pollMs = 5000,
): Promise<IdentitydResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const base = `/${idScope}/registrations/${device.registrationId}`;
    const put = await deviceRequest(
      port,
      ca,
      device,
      'PUT',
      `${base}/register?api-version=2021-06-01`,
      JSON.stringify({ registrationId: device.registrationId }),
      agent,
    );
    if (put.status !== 202) {
      checkErrorBody(put);
      throw new Error(`Expected one of [202], got ${put.status}: ${put.text}`);
    }
    const ct = String(put.headers['content-type'] ?? '');
    if (ct && !ct.includes('application/json')) throw new Error('invalid Content-Type; expected JSON');
    const operationId = put.json?.operationId;
    if (typeof operationId !== 'string') throw new Error(`no operationId in ${put.text}`);
    for (let polls = 1; ; polls++) {
      await sleep(pollMs);
      const get = await deviceRequest(
        port,
        ca,
        device,
        'GET',
        `${base}/operations/${operationId}?api-version=2021-06-01`,
        undefined,
        agent,
      );
      if (get.status !== 200 && get.status !== 202) {
        checkErrorBody(get);
        throw new Error(`poll answered ${get.status}: ${get.text}`);
      }
      const { status, registrationState: rs } = get.json ?? {};
      if (status === 'assigned') {
        if (typeof rs?.assignedHub !== 'string' || typeof rs?.deviceId !== 'string')
          throw new Error(`bad assigned body ${get.text}`);
        return { assignedHub: rs.assignedHub, deviceId: rs.deviceId, polls };
      }
      if (status === 'assigning') {
        if (typeof rs?.registrationId !== 'string')
          throw new Error(`assigning body lacks registrationState.registrationId: ${get.text}`);
        continue;
      }
      if (status === 'failed') {
        if (typeof rs?.errorCode !== 'number' || typeof rs?.errorMessage !== 'string')
          throw new Error(`bad failed body ${get.text}`);
        throw new Error(rs.errorMessage);
      }
      throw new Error(`unknown variant ${String(status)}`);
    }
  } finally {
    agent.destroy();
  }
}

/**
 * Registers with a request body of choice (payload, csr) and polls every `pollMs` until the
 * operation leaves "assigning"; resolves with the final operation body, assigned or failed.
 */
export async function registerAndWait(
  port: number,
  ca: string,
  idScope: string,
  device: DeviceIdentity,
  body: Record<string, unknown> = {},
  opts: { pollMs?: number; headers?: Record<string, string>; apiVersion?: string } = {},
): Promise<any> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const q = `?api-version=${opts.apiVersion ?? '2021-06-01'}`;
  try {
    const base = `/${idScope}/registrations/${device.registrationId}`;
    const put = await deviceRequest(
      port,
      ca,
      device,
      'PUT',
      `${base}/register${q}`,
      JSON.stringify({ registrationId: device.registrationId, ...body }),
      agent,
      opts.headers,
    );
    if (put.status !== 202) throw new Error(`PUT answered ${put.status}: ${put.text}`);
    for (;;) {
      await sleep(opts.pollMs ?? 50);
      const get = await deviceRequest(
        port,
        ca,
        device,
        'GET',
        `${base}/operations/${put.json.operationId}${q}`,
        undefined,
        agent,
      );
      if (get.status === 429) continue;
      if (get.json?.status !== 'assigning') return get.json;
    }
  } finally {
    agent.destroy();
  }
}
