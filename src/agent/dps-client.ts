/**
 * The agent's DPS client: register, poll the operation at the Retry-After the service gives,
 * wait out 429s, and return the assignment or a refusal with DPS's own message. The exchange is
 * the same over HTTPS and MQTT; only the channel differs.
 */
import { DPS_API_VERSION, type DpsAnswer, type DpsChannel, DpsRefusal } from './dps-channel.ts';
import { openDpsMqtt } from './dps-mqtt-client.ts';
import { httpsRequest } from './http.ts';
import { type HttpOptions, NetworkError } from './network.ts';

export { DpsRefusal } from './dps-channel.ts';

export interface DpsRegistration {
  assignedHub: string;
  deviceId: string;
  substatus?: string;
  payload?: unknown;
  issuedCertificateChain?: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function retryAfterMs(v: string | undefined, fallbackS: number): number {
  const n = Number(v);
  return (Number.isFinite(n) && n > 0 ? n : fallbackS) * 1000;
}

function refusal(a: DpsAnswer): DpsRefusal {
  let j: any;
  try {
    j = JSON.parse(a.body.toString());
  } catch {
    j = undefined;
  }
  const code = typeof j?.errorCode === 'number' ? j.errorCode : undefined;
  const msg =
    typeof j?.message === 'string' ? j.message : a.body.toString().slice(0, 300) || `status ${a.status}`;
  return new DpsRefusal(
    `DPS refused the registration (${a.status}${code ? `, errorCode ${code}` : ''}): ${msg}`,
    code,
  );
}

/** DPS over HTTPS: PUT .../register and GET .../operations/{id}, one connection each. */
function httpsChannel(
  endpoint: string,
  idScope: string,
  registrationId: string,
  http: HttpOptions,
): DpsChannel {
  const base = `${endpoint}/${encodeURIComponent(idScope)}/registrations/${encodeURIComponent(registrationId)}`;
  const headers = { 'content-type': 'application/json', accept: 'application/json' };
  const answer = async (
    p: Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }>,
  ) => {
    const r = await p;
    const h = r.headers['retry-after'];
    return { status: r.status, retryAfter: Array.isArray(h) ? h[0] : h, body: r.body };
  };
  return {
    register: (body) =>
      answer(
        httpsRequest(
          `${base}/register?api-version=${DPS_API_VERSION}`,
          { method: 'PUT', headers, body },
          http,
        ),
      ),
    poll: (operationId) =>
      answer(
        httpsRequest(
          `${base}/operations/${encodeURIComponent(operationId)}?api-version=${DPS_API_VERSION}`,
          { method: 'GET', headers },
          http,
        ),
      ),
    close: async () => undefined,
  };
}

export async function registerWithDps(o: {
  endpoint: string;
  idScope: string;
  registrationId: string;
  payload?: unknown;
  http: HttpOptions;
  deadlineMs?: number;
  /**
   * "https" (the default, as aziot), "mqtt" (port `mqttPort`, 8883 by default) or "mqtt-ws" (MQTT
   * in a WebSocket on the HTTPS endpoint's port, for networks that let only 443 out).
   */
  transport?: 'https' | 'mqtt' | 'mqtt-ws';
  mqttPort?: number;
}): Promise<DpsRegistration> {
  const end = Date.now() + (o.deadlineMs ?? 5 * 60_000);
  const body = JSON.stringify({
    registrationId: o.registrationId,
    ...(o.payload !== undefined ? { payload: o.payload } : {}),
  });
  const url = new URL(o.endpoint);
  const channel =
    o.transport === 'mqtt' || o.transport === 'mqtt-ws'
      ? await openDpsMqtt({
          host: url.hostname,
          port: o.transport === 'mqtt-ws' ? Number(url.port || 443) : (o.mqttPort ?? 8883),
          ...(o.transport === 'mqtt-ws' ? { webSocket: true } : {}),
          idScope: o.idScope,
          registrationId: o.registrationId,
          http: o.http,
        })
      : httpsChannel(o.endpoint, o.idScope, o.registrationId, o.http);
  try {
    return await exchange(channel, body, end);
  } finally {
    await channel.close();
  }
}

/** Register, then poll until the operation is no longer assigning. */
async function exchange(channel: DpsChannel, body: string, end: number): Promise<DpsRegistration> {
  let put = await channel.register(body);
  while (put.status === 429 && Date.now() < end) {
    await sleep(retryAfterMs(put.retryAfter, 5));
    put = await channel.register(body);
  }
  if (put.status >= 500) throw new NetworkError(`DPS answered ${put.status}; it will be retried`);
  if (put.status !== 202 && put.status !== 200) throw refusal(put);
  let op = JSON.parse(put.body.toString());
  let wait = retryAfterMs(put.retryAfter, 3);
  while (op.status === 'assigning' || op.status === 'unassigned') {
    if (Date.now() > end)
      throw new NetworkError('DPS did not finish the registration in time; it will be retried');
    await sleep(wait);
    const get = await channel.poll(op.operationId);
    wait = retryAfterMs(get.retryAfter, 3);
    if (get.status === 429) continue;
    if (get.status >= 500)
      throw new NetworkError(`DPS answered ${get.status} while polling; it will be retried`);
    if (get.status !== 200 && get.status !== 202) throw refusal(get);
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
