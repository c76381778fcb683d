/**
 * Worker thread for the AWS API scenario: an @aws-sdk/client-iot client (it signs every request
 * with SigV4, whichever server it talks to) sends DescribeThing, `concurrency` at a time.
 */
import { Agent } from 'node:https';
import { parentPort } from 'node:worker_threads';
import { DescribeThingCommand, IoTClient } from '@aws-sdk/client-iot';
import { NodeHttpHandler } from '@smithy/node-http-handler';

export interface AwsJob {
  endpoint: string;
  ca: string;
  accessKeyId: string;
  secretAccessKey: string;
  thingName: string;
  seconds: number;
  concurrency: number;
}

const clients = new Map<string, IoTClient>();

async function run(job: AwsJob): Promise<{ ops: number; seconds: number }> {
  let client = clients.get(job.endpoint);
  if (!client) {
    client = new IoTClient({
      region: 'us-east-1',
      endpoint: job.endpoint,
      credentials: { accessKeyId: job.accessKeyId, secretAccessKey: job.secretAccessKey },
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({
        httpsAgent: new Agent({ ca: job.ca, keepAlive: true, maxSockets: job.concurrency }),
      }),
    });
    clients.set(job.endpoint, client);
  }
  const c = client;
  const start = performance.now();
  const end = start + job.seconds * 1000;
  let ops = 0;
  const lane = async () => {
    while (performance.now() < end) {
      await c.send(new DescribeThingCommand({ thingName: job.thingName }));
      ops++;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  return { ops, seconds: (performance.now() - start) / 1000 };
}

parentPort?.on('message', (job: AwsJob) => {
  run(job).then(
    (r) => parentPort?.postMessage({ ok: true, ...r }),
    (e: Error) => parentPort?.postMessage({ ok: false, error: e.message }),
  );
});
