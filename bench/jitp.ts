/**
 * Gateway scenarios. "JITP first connection": each operation is a device never seen before
 * connecting over MQTT/TLS; the server validates its chain, registers its certificate, runs the
 * CA's template (thing, policy, attachments) and accepts the connection. Measured against the
 * bare mutual-TLS handshake with the same key type in the same run (target >= 0.4).
 * "policy-checked publish": QoS 1 publishes of one device through its compiled policy, against
 * an aedes broker that authorises nothing on the same TLS settings (target >= 0.8).
 */
import { readFileSync } from 'node:fs';
import { createServer as createTlsServer, type Server } from 'node:tls';
import { Worker } from 'node:worker_threads';
import { Aedes } from 'aedes';
import { certificatePem, parseCertificate } from '../src/pki/certificate.ts';
import { generateKey, type KeyType, exportPrivateKeyPem, spkiDer } from '../src/pki/keys.ts';
import { makeRoot } from '../src/testing/pki.ts';
import { startTestServer } from '../src/testing/server.ts';
import { deviceTlsOptions } from '../src/transports/device-tls.ts';
import { workerRunner } from './baseline-tls.ts';
import type { Scenario } from './harness.ts';

const IN_FLIGHT = Number(process.env.BENCH_JITP_IN_FLIGHT ?? 16);
/** Enough new devices for the rounds; each certificate is issued once (cheap), the key is shared. */
const DEVICES = Number(process.env.BENCH_JITP_DEVICES ?? 12_000);

const TEMPLATE = JSON.stringify({
  Parameters: {
    'AWS::IoT::Certificate::CommonName': { Type: 'String' },
    'AWS::IoT::Certificate::Id': { Type: 'String' },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' },
        AttributePayload: { fleet: 'bench' },
      },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: {
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:*:topic/bench/*' },
            { Effect: 'Deny', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:*:topic/bench/forbidden' },
          ],
        },
      },
    },
  },
});

/** A server with a CA registered for JITP, and `count` device certificates of one key. */
async function gatewayServer(keyType: KeyType, count: number) {
  const server = await startTestServer({
    logLevel: 'warn',
    flags: { 'device.max_connections_per_source': 0, 'device.auth_failures_per_minute': 0 },
  });
  const t = await server.services.tenants.createTenant({ name: 'bench', idScope: 'benchjitp' });
  const root = makeRoot('Bench JITP Root', keyType);
  await server.services.cas.upload(t.id, 'root', certificatePem(root.cert), true);
  await server.services.iot.cas.register(t.id, 'root', {
    allowAutoRegistration: true,
    registrationConfig: { templateBody: TEMPLATE },
  });
  const key = generateKey(keyType);
  const keyPem = exportPrivateKeyPem(key);
  const spki = spkiDer(key);
  const devices = Array.from({ length: count }, (_, i) => ({
    cert: certificatePem(
      parseCertificate(
        root.signer.issue({ profile: 'device', subject: { CN: `bench-thing-${i}` }, spki, validityDays: 30 }),
      ),
    ),
    key: keyPem,
  }));
  return { server, tenantId: t.id, devices };
}

/** The bare mTLS baseline for `device` (same key type as the scenario). */
async function bareTls(
  server: Awaited<ReturnType<typeof startTestServer>>,
  device: { cert: string; key: string },
) {
  const tls = {
    cert: readFileSync(server.devPki.server.fullChain, 'utf8'),
    key: readFileSync(server.devPki.server.key, 'utf8'),
  };
  const body = '{"status":"ok"}';
  const bare: Server = createTlsServer(deviceTlsOptions(tls), (s) => {
    s.once('data', () =>
      s.end(`HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`),
    );
    s.on('error', () => {});
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const worker = new Worker(new URL('./tls-client.ts', import.meta.url));
  return {
    runner: workerRunner(worker, {
      port: (bare.address() as { port: number }).port,
      concurrency: IN_FLIGHT,
      ca: certificatePem(server.devPki.root.certificate),
      ...device,
    }),
    async close() {
      await worker.terminate();
      await new Promise((r) => bare.close(r));
    },
  };
}

function firstConnection(keyType: KeyType, label: string): Scenario {
  return {
    name: `JITP first connection (${label})`,
    unit: 'dev/s',
    baselineName: `bare mTLS handshake (${label})`,
    baselineUnit: 'conn/s',
    target: 0.4,
    async setup() {
      const { server, devices } = await gatewayServer(keyType, DEVICES);
      const bare = await bareTls(server, devices[0]!);
      const worker = new Worker(new URL('./mqtt-client.ts', import.meta.url));
      return {
        scenario: workerRunner(worker, {
          mode: 'connect',
          port: server.mqttPort,
          concurrency: IN_FLIGHT,
          ca: certificatePem(server.devPki.root.certificate),
          devices,
        }),
        baseline: bare.runner,
        async teardown() {
          await worker.terminate();
          await bare.close();
          await server.dispose();
        },
      };
    },
  };
}

export const jitpRsa = firstConnection('rsa2048', 'RSA-2048');
export const jitpP256 = firstConnection('p256', 'P-256');

/** An aedes broker that authorises everything, behind the device listener's TLS settings. */
async function plainBroker(server: Awaited<ReturnType<typeof startTestServer>>) {
  const broker = await Aedes.createBroker();
  const tls = {
    cert: readFileSync(server.devPki.server.fullChain, 'utf8'),
    key: readFileSync(server.devPki.server.key, 'utf8'),
  };
  const s: Server = createTlsServer(deviceTlsOptions(tls), (socket) => broker.handle(socket));
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return {
    port: (s.address() as { port: number }).port,
    async close() {
      await new Promise((r) => broker.close(() => r(undefined)));
      await new Promise((r) => s.close(r));
    },
  };
}

export const policyPublish: Scenario = {
  name: 'policy-checked publish (QoS 1)',
  unit: 'msg/s',
  baselineName: 'aedes without authorisation',
  baselineUnit: 'msg/s',
  target: 0.8,
  async setup() {
    const { server, devices } = await gatewayServer('p256', 2);
    const plain = await plainBroker(server);
    const ca = certificatePem(server.devPki.root.certificate);
    const job = { mode: 'publish', concurrency: 64, ca, devices, topic: 'bench/telemetry' };
    const gatewayWorker = new Worker(new URL('./mqtt-client.ts', import.meta.url));
    const plainWorker = new Worker(new URL('./mqtt-client.ts', import.meta.url));
    return {
      scenario: workerRunner(gatewayWorker, { ...job, port: server.mqttPort }),
      baseline: workerRunner(plainWorker, { ...job, port: plain.port }),
      async teardown() {
        await gatewayWorker.terminate();
        await plainWorker.terminate();
        await plain.close();
        await server.dispose();
      },
    };
  },
};
