/**
 * The device-facing MQTT-over-TLS listener (default port 8883): an aedes broker behind the same
 * TLS settings as the HTTPS device listener, with packet sizes capped before buffering and the
 * per-source limits shared with HTTPS. It carries DPS over MQTT; the certificate chain comes
 * from each connection's TLS handshake.
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
import { dpsMqttHooks } from './dps-mqtt.ts';
import { MqttFrameLimit } from './frame-limit.ts';

export interface MqttListener {
  port: number;
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
}): Promise<MqttListener> {
  const tlsOf = new WeakMap<Duplex, TLSSocket>();
  const socketOf = (client: Client) => tlsOf.get(client.conn as Duplex);
  const chainOf = (client: Client): Certificate[] => {
    const socket = socketOf(client);
    return socket ? peerChain(socket, o.chainLimits) : [];
  };
  const addressOf = (client: Client) => socketOf(client)?.remoteAddress;
  const broker = await Aedes.createBroker({
    // Registration ids may be up to 128 characters.
    maxClientsIdLength: 128,
    // DPS devices publish QoS 1, one request at a time; nothing needs a deep inbound window.
    maxInflightInbound: 16,
    ...dpsMqttHooks({
      registrations: o.registrations,
      logger: o.logger,
      chainOf,
      blockedFor: (client) => o.guard?.blockedFor(addressOf(client)) ?? 0,
      authFailed: (client) => o.guard?.failed(addressOf(client)),
    }),
  });
  broker.on('clientError', (client, err) =>
    o.logger.debug({ clientId: client.id, err: err.message }, 'MQTT client error'),
  );
  broker.on('connectionError', (_client, err) =>
    o.logger.debug({ err: err.message }, 'MQTT connection error'),
  );

  const sockets = new Set<TLSSocket>();
  const server: Server = createServer(deviceTlsOptions(o.tls), (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const limit = new MqttFrameLimit(o.maxPacketBytes);
    limit.once('error', (err) => {
      o.logger.info({ remote: socket.remoteAddress, err: err.message }, 'MQTT connection closed');
      socket.destroy();
    });
    socket.on('error', () => socket.destroy());
    socket.pipe(limit);
    const conn = Duplex.from({ readable: limit, writable: socket });
    tlsOf.set(conn, socket);
    try {
      broker.handle(conn);
    } catch (e) {
      o.logger.error({ err: e }, 'MQTT connection could not be handled');
      socket.destroy();
    }
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
    async close() {
      const closed = new Promise<void>((r) => server.close(() => r()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => broker.close(() => r()));
      await closed;
    },
  };
}
