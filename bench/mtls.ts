/**
 * Scenario (b): mutual-TLS connections per second on the device listener (full handshake with a
 * client certificate, then GET /healthz) against a bare node:tls server with the same TLS options
 * and certificates that answers the same bytes.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import { Worker } from 'node:worker_threads';
import { certificatePem } from '../src/pki/certificate.ts';
import { exportPrivateKeyPem } from '../src/pki/keys.ts';
import { makeLeaf, makeRoot } from '../src/testing/pki.ts';
import { startTestServer } from '../src/testing/server.ts';
import { deviceTlsOptions } from '../src/transports/device-https/app.ts';
import type { Measured, Runner, Scenario } from './harness.ts';
import type { ClientJob } from './tls-client.ts';

const CONCURRENCY = 4;
const BODY = '{"status":"ok"}';
const RESPONSE = `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`;

function clientRunner(worker: Worker, job: Omit<ClientJob, 'seconds'>): Runner {
  return (seconds) =>
    new Promise<Measured>((resolve, reject) => {
      worker.once('message', (m: { ok: boolean; ops: number; seconds: number; error?: string }) =>
        m.ok ? resolve({ ops: m.ops, seconds: m.seconds }) : reject(new Error(m.error)),
      );
      worker.postMessage({ ...job, seconds });
    });
}

export const mtls: Scenario = {
  name: 'device listener: mTLS handshake + GET /healthz',
  unit: 'conn/s',
  baselineName: 'bare node:tls',
  async setup() {
    // info is the production log level: fastify logs each request, as it would in production.
    const server = await startTestServer({ logLevel: 'info' });
    const tls = {
      cert: readFileSync(server.devPki.server.fullChain, 'utf8'),
      key: readFileSync(server.devPki.server.key, 'utf8'),
    };
    const bare: Server = createServer(deviceTlsOptions(tls), (s) => {
      s.once('data', () => s.end(RESPONSE));
      s.on('error', () => {});
    });
    await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
    const deviceCa = makeRoot('Bench Device CA');
    const dev = makeLeaf(deviceCa, 'bench-device');
    const creds = {
      concurrency: CONCURRENCY,
      ca: certificatePem(server.devPki.root.certificate),
      cert: certificatePem(dev.cert),
      key: exportPrivateKeyPem(dev.key),
    };
    const worker = new Worker(new URL('./tls-client.ts', import.meta.url));
    return {
      scenario: clientRunner(worker, { ...creds, port: server.devicePort }),
      baseline: clientRunner(worker, { ...creds, port: (bare.address() as { port: number }).port }),
      async teardown() {
        await worker.terminate();
        await new Promise((r) => bare.close(r));
        await server.dispose();
      },
    };
  },
};
