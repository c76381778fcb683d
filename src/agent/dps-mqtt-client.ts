/**
 * DPS over MQTT for the agent, as the Azure SDKs speak it: client id = registration id, user
 * name `{idScope}/registrations/{id}/api-version=…`, the X.509 chain in the TLS handshake. The TLS
 * connection is opened by the agent's own client, so it goes through the proxy's CONNECT tunnel
 * with the client certificate end to end, exactly like HTTPS.
 */
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { MqttClient } from 'mqtt';
import { type ClientOptions, createWebSocketStream, WebSocket } from 'ws';
import { ZtError } from '../errors.ts';
import { maskPin } from '../pki/pkcs11-uri.ts';
import { DPS_API_VERSION, type DpsAnswer, type DpsChannel, DpsRefusal } from './dps-channel.ts';
import { openTls } from './http.ts';
import { type HttpOptions, NetworkError } from './network.ts';

const RESPONSES = '$dps/registrations/res/#';
const CONNACK: Record<number, string> = {
  1: 'unacceptable protocol version',
  2: 'identifier rejected: the client id must be the registration id',
  3: 'server unavailable',
  4: 'bad user name or password: the user name must be {idScope}/registrations/{registrationId}/api-version=…',
  5: 'not authorized: the server did not accept the client certificate',
};

/** A WebSocket (subprotocol mqtt) over an open TLS connection, as a byte stream. */
async function webSocketOver(socket: TLSSocket, host: string, port: number): Promise<Duplex> {
  const ws = new WebSocket(`wss://${host}:${port}/$iothub/websocket`, 'mqtt', {
    // The TLS connection (through the proxy, with the client certificate) is already open.
    createConnection: () => socket,
  } as ClientOptions);
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('unexpected-response', (_req, res) =>
      reject(
        new NetworkError(`${host}:${port} answered the MQTT WebSocket upgrade with HTTP ${res.statusCode}`),
      ),
    );
    ws.once('error', (e) =>
      reject(new NetworkError(`MQTT WebSocket to ${host}:${port} failed: ${e.message}`)),
    );
  });
  return createWebSocketStream(ws);
}

/** Opens an MQTT session to DPS at host:port and subscribes to the answers. */
export async function openDpsMqtt(o: {
  host: string;
  port: number;
  /** MQTT in a WebSocket at /$iothub/websocket (the HTTPS port), as the SDKs' MqttWs. */
  webSocket?: boolean;
  idScope: string;
  registrationId: string;
  http: HttpOptions;
}): Promise<DpsChannel> {
  if (o.http.keyUri) {
    throw new ZtError(
      'CONFIG_INVALID',
      `zerotouch.dps_transport = "mqtt" needs the identity key in a file; ${maskPin(o.http.keyUri)} is in a PKCS#11 token, which only the HTTPS transport can use`,
    );
  }
  const timeoutMs = o.http.timeoutMs ?? 70_000;
  const socket = await openTls(o.host, o.port, o.http, o.webSocket ? ['http/1.1'] : []);
  const stream = o.webSocket ? await webSocketOver(socket, o.host, o.port) : socket;
  const client = new MqttClient(() => stream, {
    clientId: o.registrationId,
    username: `${o.idScope}/registrations/${o.registrationId}/api-version=${DPS_API_VERSION}`,
    protocolVersion: 4,
    clean: true,
    keepalive: 180,
    reconnectPeriod: 0,
    connectTimeout: timeoutMs,
  });
  const pending = new Map<string, { resolve: (a: DpsAnswer) => void; reject: (e: Error) => void }>();
  const failAll = (e: Error) => {
    for (const p of pending.values()) p.reject(e);
    pending.clear();
  };
  try {
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (e: Error & { code?: number }) => {
        const reason = typeof e.code === 'number' ? CONNACK[e.code] : undefined;
        reject(
          e.code === 5 || e.code === 4 || e.code === 2
            ? new DpsRefusal(
                `DPS refused the MQTT connection to ${o.host}:${o.port} (CONNACK ${e.code}, ${reason}); \`zerotouch agent check\` shows which enrollment and CA the certificate matches`,
              )
            : new NetworkError(`MQTT connection to ${o.host}:${o.port} failed: ${reason ?? e.message}`),
        );
      });
      client.once('close', () =>
        reject(new NetworkError(`${o.host}:${o.port} closed the MQTT connection before accepting it`)),
      );
    });
    await client.subscribeAsync(RESPONSES, { qos: 1 });
  } catch (e) {
    // mqtt.js may emit more errors while closing; without a listener they would crash the agent.
    client.on('error', () => undefined);
    client.end(true);
    socket.destroy();
    throw e instanceof ZtError
      ? e
      : new NetworkError(`MQTT subscription at ${o.host}:${o.port} failed: ${(e as Error).message}`);
  }
  client.on('message', (topic, payload) => {
    const m = /^\$dps\/registrations\/res\/(\d+)\/\?(.*)$/.exec(topic);
    if (!m) return;
    const q = new URLSearchParams(m[2]);
    const rid = q.get('$rid') ?? '';
    const p = pending.get(rid);
    if (!p) return;
    pending.delete(rid);
    p.resolve({ status: Number(m[1]), retryAfter: q.get('retry-after') ?? undefined, body: payload });
  });
  client.on('close', () => failAll(new NetworkError(`${o.host}:${o.port} closed the MQTT connection`)));
  client.on('error', (e) =>
    failAll(new NetworkError(`MQTT connection to ${o.host}:${o.port}: ${e.message}`)),
  );

  const request = (topic: string, payload: string, query = ''): Promise<DpsAnswer> =>
    new Promise((resolve, reject) => {
      const rid = randomUUID();
      const timer = setTimeout(() => {
        pending.delete(rid);
        reject(new NetworkError(`DPS at ${o.host}:${o.port} did not answer over MQTT in time`));
      }, timeoutMs);
      pending.set(rid, {
        resolve: (a) => {
          clearTimeout(timer);
          resolve(a);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      client.publish(`${topic}?$rid=${rid}${query}`, payload, { qos: 1 }, (err) => {
        if (err) pending.get(rid)?.reject(new NetworkError(`MQTT publish failed: ${err.message}`));
      });
    });

  return {
    register: (body) => request('$dps/registrations/PUT/iotdps-register/', body),
    poll: (operationId) =>
      request(
        '$dps/registrations/GET/iotdps-get-operationstatus/',
        ' ',
        `&operationId=${encodeURIComponent(operationId)}`,
      ),
    close: async () => {
      await client.endAsync().catch(() => undefined);
      socket.destroy();
    },
  };
}
