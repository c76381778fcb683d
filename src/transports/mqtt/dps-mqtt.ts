/**
 * DPS over MQTT, wire-compatible with the Azure IoT provisioning device SDKs' MQTT transport:
 * client id = registration id, user name `{idScope}/registrations/{registrationId}/api-version=…`,
 * X.509 from the TLS handshake, requests published to `$dps/registrations/PUT/iotdps-register/?$rid=`
 * and `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=&operationId=`, answers on
 * `$dps/registrations/res/{status}/?$rid=[&retry-after=]` to the asking client only.
 */
import { randomUUID } from 'node:crypto';
import type { AedesOptions, AuthenticateError, Client } from 'aedes';
import type { Logger } from 'pino';
import { ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import type { RegistrationService } from '../../features/dps/registrations.ts';
import { dpsErrorAnswer, dpsOperationAnswer } from '../dps-wire.ts';

const REGISTER = '$dps/registrations/PUT/iotdps-register/';
const POLL = '$dps/registrations/GET/iotdps-get-operationstatus/';
const RESPONSES = '$dps/registrations/res/#';

interface DpsSession {
  idScope: string;
  registrationId: string;
  apiVersion?: string;
  chain: Certificate[];
}

/** Parses `{idScope}/registrations/{registrationId}/api-version=…[&ClientVersion=…]`. */
export function parseDpsUsername(
  username: string,
): { idScope: string; registrationId: string; apiVersion?: string } | undefined {
  const m = /^([^/]+)\/registrations\/([^/]+)\/(.*)$/.exec(username);
  if (!m) return undefined;
  const q = new URLSearchParams(m[3]);
  return { idScope: m[1]!, registrationId: m[2]!, apiVersion: q.get('api-version') ?? undefined };
}

function refuse(code: 2 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
}

/** The aedes hooks that make a broker answer DPS device requests. */
export function dpsMqttHooks(o: {
  registrations: RegistrationService;
  logger: Logger;
  /** The certificate chain the client presented in its TLS handshake. */
  chainOf: (client: Client) => Certificate[];
}): Pick<AedesOptions, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'published'> {
  const sessions = new WeakMap<Client, DpsSession>();
  const log = o.logger;

  const answer = (client: Client, status: number, rid: string, body: unknown, retryAfter?: number) => {
    const topic = `$dps/registrations/res/${status}/?$rid=${encodeURIComponent(rid)}${retryAfter !== undefined ? `&retry-after=${retryAfter}` : ''}`;
    client.publish(
      {
        cmd: 'publish',
        topic,
        payload: Buffer.from(JSON.stringify(body)),
        qos: 1,
        dup: false,
        retain: false,
      },
      (err) => {
        if (err) log.debug({ err, clientId: client.id }, 'DPS MQTT answer not delivered');
      },
    );
  };

  const handle = async (client: Client, s: DpsSession, topic: string, payload: Buffer) => {
    const query = new URLSearchParams(topic.slice(topic.indexOf('?') + 1));
    const rid = query.get('$rid') ?? '';
    const trackingId = randomUUID();
    try {
      if (topic.startsWith(REGISTER)) {
        let body: unknown = {};
        const text = payload.toString('utf8').trim();
        try {
          if (text) body = JSON.parse(text);
        } catch (e) {
          throw new ZtError(
            'BAD_REQUEST',
            `the register payload is not valid JSON (${(e as Error).message}); send {"registrationId": "…"}`,
          );
        }
        const op = await o.registrations.register(s.idScope, s.registrationId, body, {
          chain: s.chain,
          apiVersion: s.apiVersion,
        });
        const a = dpsOperationAnswer(op, true);
        answer(client, a.status, rid, a.body, o.registrations.retryAfterSeconds);
      } else {
        const operationId = query.get('operationId');
        if (!operationId) {
          throw new ZtError(
            'BAD_REQUEST',
            'the status request names no operationId; add &operationId=<id from the register answer>',
          );
        }
        const op = await o.registrations.operation(s.idScope, s.registrationId, operationId, s.chain);
        const a = dpsOperationAnswer(op, false);
        answer(
          client,
          a.status,
          rid,
          a.body,
          a.status === 202 ? o.registrations.retryAfterSeconds : undefined,
        );
      }
    } catch (e) {
      const a = dpsErrorAnswer(e, trackingId);
      if (a.internal) log.error({ err: e, trackingId }, 'DPS MQTT request failed');
      answer(client, a.status, rid, a.body, a.retryAfter);
    }
  };

  return {
    authenticate(client, username, password, done) {
      const chain = o.chainOf(client);
      const who = { clientId: client.id, username };
      const parsed = username ? parseDpsUsername(username) : undefined;
      if (!parsed) {
        log.info(
          who,
          'MQTT connect refused: the user name is not {idScope}/registrations/{registrationId}/api-version=…',
        );
        return done(refuse(4, 'bad user name'), false);
      }
      if (parsed.registrationId !== client.id) {
        log.info(who, 'MQTT connect refused: the client id must be the registration id in the user name');
        return done(refuse(2, 'client id is not the registration id'), false);
      }
      if (chain.length === 0) {
        const sas = password?.toString().startsWith('SharedAccessSignature');
        log.info(
          who,
          sas
            ? 'MQTT connect refused: symmetric-key (SAS) attestation is not supported; use an X.509 client certificate'
            : 'MQTT connect refused: no client certificate in the TLS handshake',
        );
        return done(refuse(5, 'no client certificate'), false);
      }
      sessions.set(client, { ...parsed, chain });
      done(null, true);
    },
    authorizeSubscribe(client, sub, done) {
      if (sub.topic !== RESPONSES) {
        log.info(
          { clientId: client.id, topic: sub.topic },
          `MQTT subscription refused: DPS only offers ${RESPONSES}`,
        );
        return done(null, null);
      }
      done(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
    },
    authorizePublish(client, packet, done) {
      if (client && (packet.topic.startsWith(REGISTER) || packet.topic.startsWith(POLL))) return done(null);
      log.info(
        { clientId: client?.id, topic: packet.topic },
        'MQTT publish refused: not a DPS request topic',
      );
      done(new Error(`publishing to ${packet.topic} is not allowed`));
    },
    published(packet, client, done) {
      const s = client ? sessions.get(client) : undefined;
      if (s && (packet.topic.startsWith(REGISTER) || packet.topic.startsWith(POLL))) {
        void handle(client, s, packet.topic, Buffer.from(packet.payload));
      }
      done(null);
    },
  };
}
