/**
 * The aedes hooks of the device gateway (the data plane): a client authenticates with its TLS
 * certificate through the DeviceGateway (which provisions it on first connect), and every
 * PUBLISH, SUBSCRIBE and delivery is held to its compiled policies. A refused PUBLISH closes the
 * connection and a refused SUBSCRIBE gets the failure code, as AWS IoT does.
 */
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { operatorText } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import {
  type DeviceGateway,
  GatewayRefusal,
  type GatewaySession,
  type Resolution,
} from '../../features/iot/gateway.ts';

/** AWS IoT's limit on a topic name or filter, in bytes of UTF-8. */
const MAX_TOPIC_BYTES = 256;

function refuse(code: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
}

/** What the listener knows of a connection before MQTT starts. */
export interface ConnectionFacts {
  chain: () => Certificate[];
  sni?: string;
  sourceIp?: string;
  resolution?: Resolution;
}

type Hooks = Required<
  Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>
>;

/** Hooks for data-plane clients, and the session of a client for the disconnect event. */
export function gatewayHooks(o: {
  gateway: DeviceGateway;
  logger: Logger;
  factsOf: (client: Client) => ConnectionFacts | undefined;
  authFailed?: (client: Client) => void;
}): Hooks & { sessionOf(client: Client): GatewaySession | undefined } {
  const sessions = new WeakMap<Client, GatewaySession>();
  const log = o.logger;
  return {
    sessionOf: (client) => sessions.get(client),
    authenticate(client, _username, _password, done) {
      const facts = o.factsOf(client);
      const who = { clientId: client.id, sni: facts?.sni, remote: facts?.sourceIp };
      let chain: Certificate[];
      try {
        chain = facts?.chain() ?? [];
      } catch (e) {
        log.info(
          { ...who, reason: operatorText(e) },
          'MQTT connect refused: the client certificate is not acceptable',
        );
        o.authFailed?.(client);
        return done(refuse(5, 'client certificate not acceptable'), false);
      }
      o.gateway
        .connect(
          { chain, sni: facts?.sni, clientId: client.id, sourceIp: facts?.sourceIp },
          facts?.resolution,
        )
        .then(
          (s) => {
            sessions.set(client, s);
            log.info(
              { ...who, tenantId: s.tenantId, certificateId: s.certificateId, thing: s.thingName },
              'MQTT client connected',
            );
            done(null, true);
          },
          (e: unknown) => {
            if (e instanceof GatewayRefusal) {
              log.info({ ...who, reason: e.operatorReason }, `MQTT connect refused: ${e.deviceReason}`);
              o.authFailed?.(client);
              return done(refuse(e.returnCode, e.deviceReason), false);
            }
            log.error({ ...who, err: e }, 'MQTT connect failed');
            done(refuse(3, 'server unavailable; retry later'), false);
          },
        );
    },
    authorizePublish(client, packet, done) {
      const s = client ? sessions.get(client) : undefined;
      const topic = String(packet.topic);
      if (!client || !s) return done(new Error('not authenticated'));
      if (topic.startsWith('$')) {
        log.info({ clientId: client.id, topic }, 'MQTT publish refused: topics starting with $ are reserved');
        return done(new Error('reserved topic'));
      }
      if (Buffer.byteLength(topic) > MAX_TOPIC_BYTES) {
        log.info(
          { clientId: client.id },
          `MQTT publish refused: the topic is longer than ${MAX_TOPIC_BYTES} bytes`,
        );
        return done(new Error('topic too long'));
      }
      if (packet.retain) {
        log.info({ clientId: client.id, topic }, 'MQTT publish refused: retained messages are not supported');
        return done(new Error('retained messages are not supported'));
      }
      const decide = (ok: boolean) => {
        if (ok) return done(null);
        o.gateway.metrics.denied('iot:Publish');
        log.info(
          { clientId: client.id, certificateId: s.certificateId, topic },
          `MQTT publish refused: no policy attached to the certificate allows iot:Publish on ${o.gateway.resourceArn(s, 'topic', topic)}; the client is disconnected`,
        );
        done(new Error('not authorised'));
      };
      // Current policies answer at once; changed ones are recompiled first.
      const now = o.gateway.allowsCurrent(s, 'iot:Publish', topic);
      if (now !== undefined) return decide(now);
      o.gateway.allows(s, 'iot:Publish', topic).then(decide, (e: unknown) => {
        log.error({ err: e, clientId: client.id }, 'MQTT publish check failed');
        done(new Error('not authorised'));
      });
    },
    authorizeSubscribe(client, sub, done) {
      const s = client ? sessions.get(client) : undefined;
      if (!client || !s) return done(new Error('not authenticated'), null);
      if (Buffer.byteLength(sub.topic) > MAX_TOPIC_BYTES) {
        log.info(
          { clientId: client.id },
          `MQTT subscription refused: the filter is longer than ${MAX_TOPIC_BYTES} bytes`,
        );
        return done(null, null);
      }
      o.gateway.allows(s, 'iot:Subscribe', sub.topic).then(
        (ok) => {
          if (ok) return done(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
          o.gateway.metrics.denied('iot:Subscribe');
          log.info(
            { clientId: client.id, certificateId: s.certificateId, topic: sub.topic },
            `MQTT subscription refused: no policy allows iot:Subscribe on ${o.gateway.resourceArn(s, 'topicfilter', sub.topic)}`,
          );
          done(null, null);
        },
        (e: unknown) => {
          log.error({ err: e, clientId: client.id }, 'MQTT subscribe check failed');
          done(null, null);
        },
      );
    },
    authorizeForward(client, packet) {
      const s = sessions.get(client);
      if (!s) return null;
      if (o.gateway.allowsNow(s, 'iot:Receive', packet.topic)) return packet;
      o.gateway.metrics.denied('iot:Receive');
      log.debug(
        { clientId: client.id, topic: packet.topic },
        'MQTT delivery withheld: no policy allows iot:Receive',
      );
      return null;
    },
  };
}
