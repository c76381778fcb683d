/**
 * The bare mutual-TLS baseline shared by scenarios: a node:tls server with the device listener's
 * TLS options and certificates that answers one fixed HTTP response, plus a device credential.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:tls';
import { Worker } from 'node:worker_threads';
import { certificatePem } from '../src/pki/certificate.ts';
import { exportPrivateKeyPem } from '../src/pki/keys.ts';
import { makeLeaf, makeRoot } from '../src/testing/pki.ts';
import type { TestServer } from '../src/testing/server.ts';
import { deviceTlsOptions } from '../src/transports/device-tls.ts';
import type { Measured, Runner } from './harness.ts';

const BODY = '{"status":"ok"}';
const RESPONSE = `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`;

/** Posts a job to a bench worker and resolves with what it measured. */
export function workerRunner(worker: Worker, job: Record<string, unknown>): Runner {
  return (seconds) =>
    new Promise<Measured>((resolve, reject) => {
      worker.once(
        'message',
        (m: { ok: boolean; ops: number; seconds: number; latencies?: number[]; error?: string }) =>
          m.ok
            ? resolve({ ops: m.ops, seconds: m.seconds, latencies: m.latencies })
            : reject(new Error(m.error)),
      );
      worker.postMessage({ ...job, seconds });
    });
}

export interface BareTls {
  /** Runs fresh mTLS connections against `port` from a worker thread. */
  runnerFor(port: number): Runner;
  port: number;
  close(): Promise<void>;
}

/** Starts the bare node:tls baseline beside `server`, with a client worker of `concurrency` lanes. */
export async function startBareTls(server: TestServer, concurrency: number): Promise<BareTls> {
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
    concurrency,
    ca: certificatePem(server.devPki.root.certificate),
    cert: certificatePem(dev.cert),
    key: exportPrivateKeyPem(dev.key),
  };
  const worker = new Worker(new URL('./tls-client.ts', import.meta.url));
  return {
    port: (bare.address() as { port: number }).port,
    runnerFor: (port) => workerRunner(worker, { ...creds, port }),
    async close() {
      await worker.terminate();
      await new Promise((r) => bare.close(r));
    },
  };
}
