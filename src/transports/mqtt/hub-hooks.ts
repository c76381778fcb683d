/**
 * The IoT Hub device protocol over MQTT, as `azure-iot-device-mqtt` speaks it, for devices of
 * builtin hubs: user name `{hub}/{deviceId}/?api-version=…`, client id = device id, X.509 from
 * the handshake. Twin GET and reported PATCH on `$iothub/twin/...` with `$rid`, desired updates
 * and direct methods pushed by the server, method answers on `$iothub/methods/res/{status}`,
 * telemetry on `devices/{id}/messages/events/`. Nothing a device publishes reaches another
 * client: every message to a device comes from the server.
 */
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { isZtError, operatorText } from '../../errors.ts';
import type { BuiltinHub, HubSession } from '../../features/hubs/builtin.ts';
import type { Certificate } from '../../pki/certificate.ts';
import { RateLimiter } from '../../features/provisioning/rate-limit.ts';
import type { SharedBrokerState } from './shared-broker-state.ts';

/** Parses `{hub}/{deviceId}/?api-version=…`; undefined for any other user name. */
export function parseHubUsername(username: string): { hub: string; deviceId: string } | undefined {
  if (username.length > 1024) return undefined;
  const m = /^([A-Za-z0-9.-]+(?::\d+)?)\/([A-Za-z0-9\-.%_*?!(),:=@$']{1,128})\/\?(.*)$/.exec(username);
  if (!m || !new URLSearchParams(m[3]).has('api-version')) return undefined;
  // A gateway host name may carry a port; the hub is the host.
  return { hub: m[1]!.replace(/:\d+$/, ''), deviceId: m[2]! };
}

function refuse(code: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
}

type Hooks = Required<
  Pick<
    AedesOptions,
    'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward' | 'published'
  >
>;

const key = (s: Pick<HubSession, 'tenantId' | 'hub' | 'deviceId'>) =>
  `${s.tenantId}/${s.hub.toLowerCase()}/${s.deviceId}`;

/** Hooks for builtin-hub devices, and how the hub reaches a connected one. */
export function hubHooks(o: {
  hub: BuiltinHub;
  logger: Logger;
  chainOf: (client: Client) => Certificate[];
  authFailed?: (client: Client) => void;
  /** Other gateway nodes (device.mqtt_redis_url), for devices connected to one of them. */
  shared?: SharedBrokerState;
}): Hooks & { sessionOf(client: Client): HubSession | undefined; disconnected(client: Client): void } {
  const sessions = new WeakMap<Client, HubSession>();
  // IoT Hub throttles devices; here each device may send 100 messages a second (bursts of 200).
  const limiter = new RateLimiter({ capacity: 200, refillSeconds: 1 / 100 });
  const connected = new Map<string, Client>();
  const log = o.logger;
  const sendBytes = (client: Client, topic: string, body: Buffer) =>
    client.publish(
      { cmd: 'publish', topic, payload: body, qos: 0, retain: false, dup: false },
      () => undefined,
    );
  const send = (client: Client, topic: string, payload: unknown) =>
    sendBytes(client, topic, Buffer.from(payload === undefined ? '' : JSON.stringify(payload)));
  o.hub.setDelivery({
    send(s, topic, payload) {
      const c = connected.get(key(s));
      if (!c) return false;
      send(c, topic, payload);
      return true;
    },
    sendRaw(s, topic, body) {
      const c = connected.get(key(s));
      if (!c) return false;
      sendBytes(c, topic, body);
      return true;
    },
    disconnect(s) {
      connected.get(key(s))?.close(() => undefined);
      o.shared?.broadcast('hub-disconnect', { key: key(s) });
    },
    ...(o.shared
      ? {
          sendElsewhere: (s, topic, body) =>
            o.shared!.broadcast('hub-deliver', { key: key(s), topic, body: body.toString('base64') }),
          answerElsewhere: (rid, status, payload) =>
            o.shared!.broadcast('hub-answer', { rid, status, payload }),
        }
      : {}),
  });
  o.shared?.onBroadcast('hub-deliver', (m) => {
    const msg = m as { key?: string; topic?: string; body?: string };
    const c = typeof msg?.key === 'string' ? connected.get(msg.key) : undefined;
    if (c && typeof msg.topic === 'string' && typeof msg.body === 'string')
      sendBytes(c, msg.topic, Buffer.from(msg.body, 'base64'));
  });
  o.shared?.onBroadcast('hub-disconnect', (m) => {
    const k = (m as { key?: string })?.key;
    if (typeof k === 'string') connected.get(k)?.close(() => undefined);
  });
  o.shared?.onBroadcast('hub-answer', (m) => {
    const msg = m as { rid?: string; status?: number; payload?: unknown };
    if (typeof msg?.rid === 'string' && typeof msg.status === 'number')
      o.hub.answerFromElsewhere(msg.rid, msg.status, msg.payload);
  });

  const handle = async (client: Client, s: HubSession, topic: string, payload: Buffer) => {
    const q = new URLSearchParams(topic.includes('?') ? topic.slice(topic.indexOf('?') + 1) : '');
    const rid = q.get('$rid') ?? '';
    try {
      if (topic.startsWith('$iothub/twin/GET/')) {
        send(client, `$iothub/twin/res/200/?$rid=${encodeURIComponent(rid)}`, await o.hub.twin(s));
      } else if (topic.startsWith('$iothub/twin/PATCH/properties/reported/')) {
        let patch: unknown;
        try {
          patch = JSON.parse(payload.toString('utf8'));
        } catch {
          send(client, `$iothub/twin/res/400/?$rid=${encodeURIComponent(rid)}`, {
            errorCode: 400004,
            message: 'the patch is not JSON',
          });
          return;
        }
        const version = await o.hub.patchReported(s, patch);
        send(client, `$iothub/twin/res/204/?$rid=${encodeURIComponent(rid)}&$version=${version}`, undefined);
      } else if (topic.startsWith('$iothub/methods/res/')) {
        const status = Number(topic.split('/')[3]);
        let body: unknown = null;
        try {
          body = payload.length ? JSON.parse(payload.toString('utf8')) : null;
        } catch {
          body = payload.toString('utf8');
        }
        o.hub.methodResponse(rid, Number.isInteger(status) ? status : 500, body);
      } else if (topic.startsWith(`devices/${s.deviceId}/messages/events/`)) {
        // Properties ride in the topic after events/, URL-encoded (IoT Hub's MQTT convention).
        const props = Object.fromEntries(
          new URLSearchParams(topic.slice(`devices/${s.deviceId}/messages/events/`.length)),
        );
        o.hub.deviceMessage(s, props, payload);
      }
    } catch (e) {
      const status = isZtError(e) ? e.status : 500;
      if (status >= 500) log.error({ err: e, deviceId: s.deviceId }, 'IoT Hub request failed');
      if (rid)
        send(client, `$iothub/twin/res/${status}/?$rid=${encodeURIComponent(rid)}`, {
          errorCode: status * 1000,
          message: operatorText(e),
        });
    }
  };

  return {
    sessionOf: (client) => sessions.get(client),
    disconnected(client) {
      const s = sessions.get(client);
      if (!s) return;
      if (connected.get(key(s)) === client) connected.delete(key(s));
      void o.hub.setConnected(s, false);
    },
    authenticate(client, username, _password, done) {
      const parsed = username ? parseHubUsername(username) : undefined;
      if (!parsed) return done(refuse(4, 'bad user name'), false);
      if (parsed.deviceId !== client.id) {
        log.info(
          { clientId: client.id, username },
          'MQTT connect refused: the client id must be the device id in the user name',
        );
        return done(refuse(2, 'client id is not the device id'), false);
      }
      let chain: Certificate[];
      try {
        chain = o.chainOf(client);
      } catch (e) {
        log.info(
          { clientId: client.id, reason: operatorText(e) },
          'IoT Hub connect refused: the client certificate is not acceptable',
        );
        o.authFailed?.(client);
        return done(refuse(5, 'client certificate not acceptable'), false);
      }
      o.hub.authenticate(parsed.hub, parsed.deviceId, chain).then(
        (s) => {
          sessions.set(client, s);
          connected.set(key(s), client);
          void o.hub.setConnected(s, true);
          log.info({ hub: s.hub, deviceId: s.deviceId }, 'IoT Hub device connected');
          done(null, true);
        },
        (e: unknown) => {
          log.info(
            { clientId: client.id, hub: parsed.hub, reason: operatorText(e) },
            'IoT Hub connect refused',
          );
          o.authFailed?.(client);
          done(refuse(isZtError(e) ? 5 : 3, 'not authorised'), false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      const s = client ? sessions.get(client) : undefined;
      const topic = String(packet.topic);
      if (!client || !s) return done(new Error('not authenticated'));
      if (packet.retain) return done(new Error('retained messages are not accepted'));
      const own = `devices/${s.deviceId}/messages/events/`;
      if (
        topic.startsWith('$iothub/twin/GET/') ||
        topic.startsWith('$iothub/twin/PATCH/properties/reported/') ||
        topic.startsWith('$iothub/methods/res/') ||
        topic.startsWith(own)
      )
        return done(null);
      log.info({ deviceId: s.deviceId, topic }, 'IoT Hub publish refused: not a device topic of this device');
      done(new Error('not a device topic'));
    },
    authorizeSubscribe(client, sub, done) {
      const s = client ? sessions.get(client) : undefined;
      if (!client || !s) return done(new Error('not authenticated'), null);
      const allowed = [
        '$iothub/twin/res/#',
        '$iothub/twin/PATCH/properties/desired/#',
        '$iothub/methods/POST/#',
        `devices/${s.deviceId}/messages/devicebound/#`,
      ];
      if (allowed.includes(sub.topic)) return done(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
      log.info({ deviceId: s.deviceId, topic: sub.topic }, 'IoT Hub subscription refused');
      done(null, null);
    },
    authorizeForward(client, packet) {
      // Only what the server sends reaches a hub device; devices never hear each other.
      return sessions.has(client) && !(packet as { clientId?: string }).clientId ? packet : null;
    },
    published(packet, client, done) {
      const s = client ? sessions.get(client) : undefined;
      if (client && s) {
        if (limiter.take(key(s)) > 0) {
          log.info(
            { hub: s.hub, deviceId: s.deviceId },
            'IoT Hub device over 100 messages a second; disconnected',
          );
          client.close();
        } else void handle(client, s, String(packet.topic), Buffer.from(packet.payload));
      }
      done(null);
    },
  };
}
