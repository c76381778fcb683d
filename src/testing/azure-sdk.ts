/**
 * Test helper: registers a device with the real Azure IoT provisioning device SDK over HTTPS or MQTT.
 * The SDK always dials port 443 of its provisioning host, so it gets an agent that dials the
 * test server's port instead (the SDK's own `http.agent` option), and the development root as CA.
 */
import { Agent } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TlsOptions } from 'node:tls';
import common from 'azure-iot-common';
import httpBase from 'azure-iot-http-base';
import provisioningDevice from 'azure-iot-provisioning-device';
import provisioningHttp from 'azure-iot-provisioning-device-http';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import mqttBase from 'azure-iot-mqtt-base';
import provisioningService from 'azure-iot-provisioning-service';
import securityX509 from 'azure-iot-security-x509';
import type { DeviceIdentity } from './dps.ts';

/** An https.Agent that sends every connection to `port` on 127.0.0.1, keeping the SNI host name. */
export class PortAgent extends Agent {
  private readonly port: number;

  constructor(port: number, keepAlive = true) {
    super({ keepAlive });
    this.port = port;
  }

  override createConnection(
    options: TlsOptions & { port?: number; host?: string },
    cb?: (err: Error | null, s: Duplex) => void,
  ) {
    return super.createConnection(
      { ...options, host: '127.0.0.1', port: this.port, servername: options.host },
      cb,
    );
  }
}

/** Registers `device` with the SDK and resolves with the registrationState it reports. */
export async function sdkRegister(
  port: number,
  caPem: string,
  idScope: string,
  device: DeviceIdentity,
  payload?: unknown,
): Promise<Record<string, any>> {
  const agent = new PortAgent(port);
  const base = new httpBase.Http();
  base.setOptions({ ca: caPem, http: { agent } } as never);
  const transport = new provisioningHttp.Http(base as never);
  transport.setTransportOptions({ pollingInterval: 500 } as never);
  try {
    return await register('localhost', transport, idScope, device, payload);
  } finally {
    agent.destroy();
  }
}

/** Runs the SDK's X.509 registration over `transport` and resolves with its registrationState. */
async function register(
  host: string,
  transport: unknown,
  idScope: string,
  device: DeviceIdentity,
  payload: unknown,
): Promise<Record<string, any>> {
  const security = new securityX509.X509Security(device.registrationId, {
    cert: device.chainPem,
    key: device.keyPem,
  });
  const client = provisioningDevice.ProvisioningDeviceClient.create(
    host,
    idScope,
    transport as never,
    security,
  );
  if (payload !== undefined) client.setProvisioningPayload(payload as never);
  return (await client.register()) as Record<string, any>;
}

/**
 * Registers `device` with the SDK's MQTT transport (mqtts://localhost:<port>, as the SDK builds
 * it from the provisioning host) and resolves with the registrationState it reports.
 */
export async function sdkRegisterMqtt(
  port: number,
  caPem: string,
  idScope: string,
  device: DeviceIdentity,
  payload?: unknown,
): Promise<Record<string, any>> {
  // The transport takes its MQTT connection as an argument; that is where the CA goes.
  const base = new mqttBase.MqttBase();
  base.setOptions({ ca: caPem } as never);
  const transport = new provisioningMqtt.Mqtt(base as never);
  transport.setTransportOptions({ pollingInterval: 500 } as never);
  return register(`localhost:${port}`, transport, idScope, device, payload);
}

/**
 * Registers `device` with the SDK's MqttWs transport (wss://localhost:443/$iothub/websocket), its
 * WebSocket made through `agent` (a proxy tunnel to the test server, standing in for 443).
 */
export async function sdkRegisterMqttWs(
  agent: Agent,
  caPem: string,
  idScope: string,
  device: DeviceIdentity,
): Promise<Record<string, any>> {
  const base = new mqttBase.MqttBase();
  base.setOptions({ ca: caPem, mqtt: { webSocketAgent: agent } } as never);
  const transport = new provisioningMqtt.MqttWs(base as never);
  transport.setTransportOptions({ pollingInterval: 500 } as never);
  return register('localhost', transport, idScope, device, undefined);
}

/**
 * The Azure provisioning service SDK client for a connection string, built as
 * ProvisioningServiceClient.fromConnectionString does, but dialling the test server's port.
 */
export function serviceClient(port: number, caPem: string, connectionString: string) {
  const cn = common.ConnectionString.parse(connectionString);
  const config = {
    host: cn.HostName!,
    sharedAccessSignature: common.SharedAccessSignature.create(
      cn.HostName!,
      cn.SharedAccessKeyName!,
      cn.SharedAccessKey!,
      Date.now(),
    ),
  };
  const base = new httpBase.Http();
  base.setOptions({ ca: caPem, http: { agent: new PortAgent(port, false) } } as never);
  // The SDK carries its own copy of azure-iot-http-base; the two RestApiClients differ only in typings.
  const rest = new httpBase.RestApiClient(config as never, 'azure-iot-provisioning-service/1.11.2', base);
  return new provisioningService.ProvisioningServiceClient(config as never, rest as never);
}
