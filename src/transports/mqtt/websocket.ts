/**
 * MQTT over WebSockets on the device HTTPS listener (port 443 in production): the Azure SDKs'
 * `MqttWs` transports dial `wss://<host>/$iothub/websocket` with the subprotocol `mqtt`, which
 * passes HTTPS proxies and firewalls that let only 443 out. The WebSocket carries the same MQTT
 * as port 8883, served by the same listener: DPS, the builtin hub and the JITP gateway, with the
 * client certificate of the TLS connection it came on.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { MqttListener } from './listener.ts';

/** Paths MQTT-over-WebSocket clients use: Azure IoT (`/$iothub/websocket`) and AWS IoT (`/mqtt`). */
export const MQTT_WS_PATHS = new Set(['/$iothub/websocket', '/mqtt']);

/** Answers WebSocket upgrades on `server` at the MQTT paths and hands the streams to `listener`. */
export function attachMqttWebSocket(
  server: Server,
  listener: MqttListener,
  o: { logger: Logger; maxPacketBytes: number },
): void {
  const wss = new WebSocketServer({
    noServer: true,
    // A WebSocket frame holds at most one MQTT packet's worth; the MQTT limit applies after.
    maxPayload: o.maxPacketBytes + 16,
    handleProtocols: (protocols) => (protocols.has('mqtt') ? 'mqtt' : false),
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = (req.url ?? '').split('?')[0]!;
    if (!MQTT_WS_PATHS.has(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const stream = createWebSocketStream(ws);
      stream.on('error', () => stream.destroy());
      o.logger.debug({ remote: req.socket.remoteAddress, path }, 'MQTT over WebSocket');
      listener.serveWebSocket(req.socket as TLSSocket, stream);
    });
  });
}
