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
import { isZtError, operatorText, ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import type { RegistrationService } from '../../features/provisioning/service.ts';
import { dpsErrorAnswer, dpsOperationAnswer } from '../dps-wire.ts';

const REGISTER = '$dps/registrations/PUT/iotdps-register/';
const POLL = '$dps/registrations/GET/iotdps-get-operationstatus/';
const RESPONSES = '$dps/registrations/res/#';

interface DpsSession {
  idScope: string;
  registrationId: string;
  apiVersion?: string;
  chain: Certificate[];
  /** A request of this connection is being answered; DPS clients send one at a time. */
  busy: boolean;
}

/** Parses `{idScope}/registrations/{registrationId}/api-version=…[&ClientVersion=…]`. */
export function parseDpsUsername(
  username: string,
): { idScope: string; registrationId: string; apiVersion?: string } | undefined {
  // DPS user names are a scope, an id of at most 128 characters and a short query.
  if (username.length > 1024) return undefined;
  const m = /^([^/]+)\/registrations\/([^/]+)\/(.*)$/.exec(username);
  if (!m) return undefined;
  const q = new URLSearchParams(m[3]);
  return { idScope: m[1]!, registrationId: m[2]!, apiVersion: q.get('api-version') ?? undefined };
}

function refuse(code: 2 | 3 | 4 | 5, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode: code }) as AuthenticateError;
}

/**
 * The aedes hooks that make a broker answer DPS device requests. Every hook catches whatever
 * happens inside it: one client's bytes can end that client's connection, never the process.
 * Nothing a client sends outlives its connection: no retained messages, wills or sessions.
 */
export function dpsMqttHooks(o: {
  registrations: RegistrationService;
  logger: Logger;
  /** The certificate chain the client presented in its TLS handshake; throws a ZtError. */
  chainOf: (client: Client) => Certificate[];
  /** Seconds the client's source must wait after too many failed authentications; 0 if none. */
  blockedFor?: (client: Client) => number;
  /** Counts a failed authentication against the client's source. */
  authFailed?: (client: Client) => void;
}): Required<
  Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'published'>
> {
  const sessions = new WeakMap<Client, DpsSession>();
  /** Why a CONNECT is refused, found before authentication (preConnect sees the packet). */
  const refusals = new WeakMap<Client, AuthenticateError>();
  const log = o.logger;
  const contained = (hook: string, e: unknown, client: Client | null) =>
    log.error({ err: e, hook, clientId: client?.id }, 'MQTT hook failed; the connection is refused');

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
      else
        log.info(
          { clientId: client.id, code: a.body.info.code, reason: a.reason },
          'DPS MQTT request refused',
        );
      if (a.status === 401) o.authFailed?.(client);
      answer(client, a.status, rid, a.body, a.retryAfter);
    }
  };

  return {
    preConnect(client, packet, done) {
      try {
        const wait = o.blockedFor?.(client) ?? 0;
        if (wait > 0) {
          refusals.set(
            client,
            refuse(3, `too many failed authentications from this address; retry after ${wait} s`),
          );
        } else if (packet.will) {
          refusals.set(client, refuse(5, 'a DPS client may not set a will message'));
        } else if (!packet.clean) {
          refusals.set(client, refuse(5, 'DPS over MQTT keeps no session; connect with a clean session'));
        }
        done(null, true);
      } catch (e) {
        contained('preConnect', e, client);
        done(e as Error, false);
      }
    },
    authenticate(client, username, password, done) {
      try {
        const who = { clientId: client.id, username };
        const early = refusals.get(client);
        if (early) {
          log.info(who, `MQTT connect refused: ${early.message}`);
          return done(early, false);
        }
        const parsed = username ? parseDpsUsername(username) : undefined;
        if (!parsed) {
          log.info(
            who,
            'MQTT connect refused: the user name is not {idScope}/registrations/{registrationId}/api-version=…',
          );
          o.authFailed?.(client);
          return done(refuse(4, 'bad user name'), false);
        }
        if (parsed.registrationId !== client.id) {
          log.info(who, 'MQTT connect refused: the client id must be the registration id in the user name');
          return done(refuse(2, 'client id is not the registration id'), false);
        }
        let chain: Certificate[];
        try {
          chain = o.chainOf(client);
        } catch (e) {
          log.info(
            { ...who, code: isZtError(e) ? e.code : undefined, reason: operatorText(e) },
            'MQTT connect refused: the client certificate is not acceptable',
          );
          o.authFailed?.(client);
          return done(refuse(5, 'client certificate not acceptable'), false);
        }
        if (chain.length === 0) {
          const sas = password?.toString().startsWith('SharedAccessSignature');
          log.info(
            who,
            sas
              ? 'MQTT connect refused: symmetric-key (SAS) attestation is not supported; use an X.509 client certificate'
              : 'MQTT connect refused: no client certificate in the TLS handshake',
          );
          o.authFailed?.(client);
          return done(refuse(5, 'no client certificate'), false);
        }
        sessions.set(client, { ...parsed, chain, busy: false });
        done(null, true);
      } catch (e) {
        contained('authenticate', e, client);
        done(refuse(3, 'internal error'), false);
      }
    },
    authorizeSubscribe(client, sub, done) {
      try {
        if (sub.topic !== RESPONSES) {
          log.info(
            { clientId: client.id, topic: sub.topic },
            `MQTT subscription refused: DPS only offers ${RESPONSES}`,
          );
          return done(null, null);
        }
        done(null, { ...sub, qos: Math.min(sub.qos, 1) as 0 | 1 });
      } catch (e) {
        contained('authorizeSubscribe', e, client);
        done(e as Error, null);
      }
    },
    authorizePublish(client, packet, done) {
      try {
        const topic = String(packet.topic);
        if (client && packet.retain) {
          log.info({ clientId: client.id, topic }, 'MQTT publish refused: DPS keeps no retained messages');
          return done(new Error('retained publishes are not accepted'));
        }
        if (client && (topic.startsWith(REGISTER) || topic.startsWith(POLL))) return done(null);
        log.info({ clientId: client?.id, topic }, 'MQTT publish refused: not a DPS request topic');
        done(new Error(`publishing to ${topic} is not allowed`));
      } catch (e) {
        contained('authorizePublish', e, client);
        done(e as Error);
      }
    },
    published(packet, client, done) {
      try {
        const s = client ? sessions.get(client) : undefined;
        if (s && (packet.topic.startsWith(REGISTER) || packet.topic.startsWith(POLL))) {
          if (s.busy) {
            const rid =
              new URLSearchParams(packet.topic.slice(packet.topic.indexOf('?') + 1)).get('$rid') ?? '';
            const busy = new ZtError(
              'THROTTLED',
              'one DPS request at a time per connection; wait for the answer',
              {
                retryAfter: 1,
              },
            );
            const a = dpsErrorAnswer(busy, randomUUID());
            answer(client, a.status, rid, a.body, a.retryAfter);
          } else {
            s.busy = true;
            handle(client, s, packet.topic, Buffer.from(packet.payload))
              .catch((e: unknown) => contained('published', e, client))
              .finally(() => {
                s.busy = false;
              });
          }
        }
        done(null);
      } catch (e) {
        contained('published', e, client);
        done(null);
      }
    },
  };
}
