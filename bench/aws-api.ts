/**
 * AWS IoT API scenario: DescribeThing calls per second through SigV4 verification, against the
 * same route of the same face with a fixed caller instead of the signature check (target >= 0.7).
 * The client signs in both cases, so the ratio is what verifying costs the server.
 */
import { Worker } from 'node:worker_threads';
import { certificatePem } from '../src/pki/certificate.ts';
import { startTestServer } from '../src/testing/server.ts';
import { buildAwsIotApp } from '../src/transports/aws-iot/app.ts';
import { readFileSync } from 'node:fs';
import { workerRunner } from './baseline-tls.ts';
import type { Scenario } from './harness.ts';

export const awsDescribeThing: Scenario = {
  name: 'AWS API DescribeThing (SigV4 verified)',
  unit: 'req/s',
  baselineName: 'the same route without verification',
  baselineUnit: 'req/s',
  target: 0.7,
  async setup() {
    const server = await startTestServer({ logLevel: 'warn', flags: { 'aws.requests_per_second': 0 } });
    const s = server.services;
    const t = await s.tenants.createTenant({ name: 'bench', idScope: 'benchaws' });
    await s.iot.registry.createThing(t.id, 'bench-thing', { attributes: { line: 'a' } }, 'bench');
    const key = await s.awsKeys.create(t.id, 'bench', 'read');
    const grant = (await s.awsKeys.lookup(key.key.accessKeyId))!;
    const open = await buildAwsIotApp({
      logger: (await import('pino')).pino({ level: 'warn' }),
      services: s,
      tls: {
        cert: readFileSync(server.devPki.server.fullChain, 'utf8'),
        key: readFileSync(server.devPki.server.key, 'utf8'),
      },
      dataHost: () => 'localhost',
      requestsPerSecond: 0,
      authenticate: async () => ({ grant, region: 'us-east-1' }),
    });
    await open.listen({ host: '127.0.0.1', port: 0 });
    const openUrl = `https://localhost:${(open.server.address() as { port: number }).port}`;
    const job = {
      ca: certificatePem(server.devPki.root.certificate),
      accessKeyId: key.key.accessKeyId,
      secretAccessKey: key.secretAccessKey,
      thingName: 'bench-thing',
      concurrency: 8,
    };
    const worker = new Worker(new URL('./aws-client.ts', import.meta.url));
    return {
      scenario: workerRunner(worker, { ...job, endpoint: server.awsUrl.replace('127.0.0.1', 'localhost') }),
      baseline: workerRunner(worker, { ...job, endpoint: openUrl }),
      async teardown() {
        await worker.terminate();
        await open.close();
        await server.dispose();
      },
    };
  },
};
