/**
 * The device-facing MQTT-over-TLS listener (default port 8883), behind the same TLS settings as
 * the HTTPS device listener, with packet sizes capped before buffering and the per-source limits
 * shared with HTTPS. Clients whose user name is a DPS registration path get DPS over MQTT; every
 * other client is a device of the data plane (the IoT gateway). Each scope has its own aedes
 * broker, so topics and client ids of one scope never meet another's; the scope is found from
 * the TLS handshake (SNI, or the registered CA that signed the client certificate) before MQTT
 * starts. Connections that belong to no scope go to a broker that serves DPS and refuses the rest.
 */
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { Duplex } from 'node:stream';
import type { AddressInfo, Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { Certificate } from '../../pki/certificate.ts';
import type { RegistrationService } from '../../features/provisioning/service.ts';
import { type DeviceTls, deviceTlsOptions } from '../device-tls.ts';
import { type ChainLimits, peerChain } from '../peer-chain.ts';
import type { SourceGuard } from '../source-guard.ts';
import type { DeviceGateway, Resolution } from '../../features/iot/gateway.ts';
import { dpsMqttHooks, parseDpsUsername } from './dps-mqtt.ts';
import { type ConnectionFacts, gatewayHooks } from './gateway-hooks.ts';
import { hubHooks, parseHubUsername } from './hub-hooks.ts';
import type { BuiltinHub } from '../../features/hubs/builtin.ts';
import { MqttFrameLimit } from './frame-limit.ts';
import { SharedBrokerState } from './shared-broker-state.ts';

export interface MqttListener {
  port: number;
  /** Serves MQTT carried by a WebSocket stream that arrived on the TLS connection `socket`. */
  serveWebSocket(socket: TLSSocket, stream: Duplex): void;
  /** Connections open now (TLS and WebSocket). */
  connections(): number;
  close(): Promise<void>;
}

/** Starts the MQTT listener on host:port (0 picks a free port). */
export async function startMqttListener(o: {
  logger: Logger;
  tls: DeviceTls;
  registrations: RegistrationService;
  maxPacketBytes: number;
  host: string;
  port: number;
  guard?: SourceGuard;
  chainLimits?: ChainLimits;
  /** The data plane; without it every client must be a DPS client. */
  gateway?: DeviceGateway;
  /** Redis shared with other gateway nodes (device.mqtt_redis_url); without it, memory. */
  redisUrl?: string;
  /** The builtin hub; without it, IoT Hub device connections are refused. */
  builtinHub?: BuiltinHub;
}): Promise<MqttListener> {
  const shared = o.redisUrl ? new SharedBrokerState(o.redisUrl, o.logger) : undefined;
  const tlsOf = new WeakMap<Duplex, TLSSocket>();
  const factsOfConn = new WeakMap<Duplex, ConnectionFacts>();
  /** Connections whose scope could not be looked up (store down): refused with CONNACK 3. */
  const unplaced = new WeakSet<Duplex>();
  const socketOf = (client: Client) => tlsOf.get(client.conn as Duplex);
  const chainOf = (client: Client): Certificate[] => {
    const socket = socketOf(client);
    return socket ? peerChain(socket, o.chainLimits) : [];
  };
  const addressOf = (client: Client) => socketOf(client)?.remoteAddress;
  const blockedFor = (client: Client) => o.guard?.blockedFor(addressOf(client)) ?? 0;
  const authFailed = (client: Client) => o.guard?.failed(addressOf(client));
  const dps = dpsMqttHooks({
    registrations: o.registrations,
    logger: o.logger,
    chainOf,
    blockedFor,
    authFailed,
  });
  const gw = o.gateway
    ? gatewayHooks({
        gateway: o.gateway,
        logger: o.logger,
        factsOf: (client) => factsOfConn.get(client.conn as Duplex),
        authFailed,
      })
    : undefined;
  const hub = o.builtinHub
    ? hubHooks({ hub: o.builtinHub, logger: o.logger, chainOf, authFailed, ...(shared ? { shared } : {}) })
    : undefined;
  const isDps = new WeakSet<Client>();
  const isHub = new WeakSet<Client>();
  const early = new WeakMap<Client, string>();
  const refuse = (code: 3 | 5, message: string) =>
    Object.assign(new Error(message), { returnCode: code }) as import('aedes').AuthenticateError;

  const newBroker = async (tenantId?: string) => {
    const broker = await Aedes.createBroker({
      // Registration ids may be up to 128 characters.
      maxClientsIdLength: 128,
      // DPS devices publish QoS 1, one request at a time; devices get a modest window.
      maxInflightInbound: 16,
      ...shared?.brokerOptions(tenantId ?? ''),
      preConnect(client, packet, done) {
        const dpsUser = packet.username !== undefined && parseDpsUsername(packet.username) !== undefined;
        if (dpsUser || (!gw && !hub)) {
          isDps.add(client);
          return dps.preConnect(client, packet, done);
        }
        if (hub && packet.username !== undefined && parseHubUsername(packet.username)) {
          // IoT Hub devices connect with clean=false (the Azure SDK does); messages to them are
          // sent while they are connected, so there is nothing to keep beyond subscriptions.
          isHub.add(client);
          if (packet.will) early.set(client, 'the builtin hub does not take will messages');
          return done(null, true);
        }
        const wait = blockedFor(client);
        if (wait > 0)
          early.set(client, `too many failed authentications from this address; retry after ${wait} s`);
        else if (packet.will)
          early.set(client, 'will messages are not supported by the gateway yet; connect without one');
        else if (!packet.clean)
          early.set(
            client,
            'persistent sessions are not supported by the gateway yet; connect with a clean session',
          );
        done(null, true);
      },
      authenticate(client, username, password, done) {
        if (isDps.has(client)) return dps.authenticate(client, username, password, done);
        if (unplaced.has(client.conn as Duplex))
          return done(refuse(3, 'server unavailable; retry later'), false);
        const why = early.get(client);
        if (why) {
          o.logger.info({ clientId: client.id }, `MQTT connect refused: ${why}`);
          return done(refuse(why.startsWith('too many') ? 3 : 5, why), false);
        }
        if (isHub.has(client)) return hub!.authenticate(client, username, password, done);
        if (!gw) return dps.authenticate(client, username, password, done);
        gw.authenticate(client, username, password, done);
      },
      authorizePublish(client, packet, done) {
        if (client && isHub.has(client)) return hub!.authorizePublish(client, packet, done);
        if (!client || isDps.has(client) || !gw) return dps.authorizePublish(client, packet, done);
        gw.authorizePublish(client, packet, done);
      },
      authorizeSubscribe(client, sub, done) {
        if (client && isHub.has(client)) return hub!.authorizeSubscribe(client, sub, done);
        if (!client || isDps.has(client) || !gw) return dps.authorizeSubscribe(client, sub, done);
        gw.authorizeSubscribe(client, sub, done);
      },
      authorizeForward(client, packet) {
        if (isHub.has(client)) return hub!.authorizeForward(client, packet);
        // DPS answers go to the asking client only; nothing else reaches a DPS client.
        if (isDps.has(client) || !gw)
          return packet.topic.startsWith('$dps/registrations/res/') ? packet : null;
        return gw.authorizeForward(client, packet);
      },
      published(packet, client, done) {
        if (client && isHub.has(client)) return hub!.published(packet, client, done);
        if (client && isDps.has(client)) return dps.published(packet, client, done);
        done(null);
      },
    });
    broker.on('clientError', (client, err) =>
      o.logger.debug({ clientId: client.id, err: err.message }, 'MQTT client error'),
    );
    broker.on('connectionError', (_client, err) =>
      o.logger.debug({ err: err.message }, 'MQTT connection error'),
    );
    broker.on('clientDisconnect', (client) => {
      if (isHub.has(client)) hub?.disconnected(client);
      const s = gw?.sessionOf(client);
      if (s) o.gateway?.disconnected(s, true, 'CLIENT_INITIATED_DISCONNECT');
    });
    o.logger.debug({ tenantId }, 'MQTT broker started');
    return broker;
  };
  if (shared && o.gateway) {
    // A policy change on one node makes sessions on every node recompile.
    const gateway = o.gateway;
    gateway.onPolicyChange(() => shared.broadcast('policies'));
    shared.onBroadcast('policies', () => gateway.policiesChangedElsewhere());
  }
  const defaultBroker = await newBroker();
  // One broker per scope, made on the first connection of that scope.
  const brokers = new Map<string, Promise<Aedes>>();
  const brokerOf = (tenantId: string) => {
    let b = brokers.get(tenantId);
    if (!b) {
      b = newBroker(tenantId);
      brokers.set(tenantId, b);
    }
    return b;
  };
  o.gateway?.addSink({
    publish(tenantId, topic, payload) {
      void brokerOf(tenantId).then((b) =>
        b.publish(
          {
            cmd: 'publish',
            topic,
            payload: Buffer.from(JSON.stringify(payload)),
            qos: 0,
            retain: false,
            dup: false,
          },
          () => undefined,
        ),
      );
    },
  });

  const sockets = new Set<TLSSocket>();
  /**
   * Serves one MQTT connection: `stream` carries its bytes (the TLS socket itself, or a
   * WebSocket over it), `socket` is the TLS connection it arrived on (peer chain, SNI).
   */
  const serve = (socket: TLSSocket, stream: Duplex) => {
    const limit = new MqttFrameLimit(o.maxPacketBytes);
    limit.once('error', (err) => {
      o.logger.info({ remote: socket.remoteAddress, err: err.message }, 'MQTT connection closed');
      stream.destroy();
      socket.destroy();
    });
    stream.on('error', () => stream.destroy());
    stream.pipe(limit);
    const conn = Duplex.from({ readable: limit, writable: stream });
    tlsOf.set(conn, socket);
    const facts: ConnectionFacts = {
      chain: () => peerChain(socket, o.chainLimits),
      sni: typeof socket.servername === 'string' && socket.servername ? socket.servername : undefined,
      sourceIp: socket.remoteAddress,
    };
    factsOfConn.set(conn, facts);
    const handle = (broker: Aedes) => {
      if (socket.destroyed || stream.destroyed) return;
      try {
        broker.handle(conn);
      } catch (e) {
        o.logger.error({ err: e }, 'MQTT connection could not be handled');
        socket.destroy();
      }
    };
    if (!o.gateway) return handle(defaultBroker);
    // The scope decides the broker; what the client sent meanwhile waits in the stream.
    let chain: Certificate[] = [];
    try {
      chain = facts.chain();
    } catch {
      return handle(defaultBroker);
    }
    o.gateway
      .resolve({ chain, sni: facts.sni, sourceIp: facts.sourceIp })
      .then(async (r: Resolution) => {
        facts.resolution = r;
        handle('tenantId' in r ? await brokerOf(r.tenantId) : defaultBroker);
      })
      .catch((e: unknown) => {
        // Placing needs the store; while it is down the client gets CONNACK "server
        // unavailable" (retry later) instead of a connection closed without an answer.
        o.logger.warn({ err: e }, 'MQTT connection could not be placed: the store is not answering');
        unplaced.add(conn);
        handle(defaultBroker);
      });
  };

  const server: Server = createServer(deviceTlsOptions(o.tls), (socket) => {
    sockets.add(socket);
    // Small MQTT acknowledgements must not wait for the peer's delayed ACK (Nagle: 40 ms each).
    socket.setNoDelay(true);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    serve(socket, socket);
  });
  if (o.guard) {
    const guard = o.guard;
    // Before the TLS handshake: a source over its connection limit costs no handshake.
    server.on('connection', (socket: Socket) => {
      if (!guard.admit(socket)) socket.destroy();
    });
  }
  server.on('tlsClientError', (err) => o.logger.debug({ err: err.message }, 'MQTT TLS handshake failed'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => sockets.size,
    serveWebSocket(socket, stream) {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.setNoDelay(true);
      serve(socket, stream);
    },
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      for (const b of [defaultBroker, ...(await Promise.all(brokers.values()))]) {
        await new Promise<void>((r) => b.close(() => r()));
      }
      await shared?.close();
      await closed;
    },
  };
}
