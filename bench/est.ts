/**
 * Scenario (d): EST simpleenroll per second, each on a new mutual-TLS connection authenticated by
 * a certificate the label's CA issued (how aziot renews), with distinct P-256 CSRs, against the
 * bare mutual-TLS handshake rate measured in the same run; server and baseline each in its own process.
 */
import { createCsr } from '../src/pki/csr.ts';
import { exportPrivateKeyPem, generateKey } from '../src/pki/keys.ts';
import { base64Lines } from '../src/pki/pem.ts';
import { workerRunner } from './baseline-tls.ts';
import { startBareTlsProcess, startServerProcess } from './server-process.ts';
import type { Scenario } from './harness.ts';
import { Worker } from 'node:worker_threads';

const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
/** Distinct CSRs, cycled; each is a fresh P-256 key. */
const CSR_COUNT = 256;

/** An EST server process (from the checkout of `bin`, default this one) and its load runner. */
export async function estServer(bin?: string, flags: string[] = []) {
  const server = await startServerProcess('est', flags, 1, bin);
  const api = server.api;
  const scope = (await api('POST', '/v1/tenants', { name: 'bench-est' })).body.idScope;
  await api('POST', `/v1/tenants/${scope}/issuing-cas`, { name: 'bench' });
  const l = await api('PUT', `/v1/tenants/${scope}/est-labels/bench`, { profile: 'device' });
  if (l.status !== 200) throw new Error(`label: ${JSON.stringify(l.body)}`);
  // The client's own EST identity, issued by the label's CA.
  const idKey = generateKey('p256');
  const issued = await api('POST', `/v1/tenants/${scope}/certificates`, {
    csr: createCsr(idKey, { CN: 'bench-est-client' }).toString('base64'),
  });
  const requests = Array.from({ length: CSR_COUNT }, (_, i) => {
    const body = base64Lines(createCsr(generateKey('p256'), { CN: `bench-device-${i}` }));
    return (
      'POST /.well-known/est/bench/simpleenroll HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n' +
      `Content-Type: application/pkcs10\r\nContent-Length: ${body.length}\r\n\r\n${body}`
    );
  });
  const worker = new Worker(new URL('./tls-client.ts', import.meta.url));
  const job = {
    port: server.devicePort,
    concurrency: CONCURRENCY,
    ca: server.rootPem,
    cert: issued.body.certificate,
    key: exportPrivateKeyPem(idKey),
    requests,
  };
  return {
    server,
    runner: workerRunner(worker, job, server.cpuSeconds),
    async close() {
      await worker.terminate();
      await server.close();
    },
  };
}

export const est: Scenario = {
  name: 'EST simpleenroll (P-256, new mTLS connection each)',
  unit: 'certs/s',
  baselineName: 'bare mTLS handshake',
  baselineUnit: 'conn/s',
  target: 0.4,
  async setup() {
    const e = await estServer();
    const bare = await startBareTlsProcess(e.server, CONCURRENCY);
    return {
      scenario: e.runner,
      baseline: bare.runnerFor(bare.port, bare.cpuSeconds),
      async teardown() {
        await bare.close();
        await e.close();
      },
    };
  },
};
