/**
 * Worker thread for the gateway scenarios. "connect": each operation is a new device's first
 * connection (a fresh certificate each time, so the server provisions it), CONNECT until
 * CONNACK, then DISCONNECT; `concurrency` at a time. "publish": one connected client publishes
 * QoS 1 messages with `concurrency` awaiting their PUBACK.
 */
import { parentPort } from 'node:worker_threads';
import mqtt from 'mqtt';

export interface GatewayJob {
  mode: 'connect' | 'publish';
  port: number;
  seconds: number;
  concurrency: number;
  ca: string;
  /** connect: one per operation, used in order; publish: the first. */
  devices: Array<{ cert: string; key: string }>;
  topic?: string;
}

let nextDevice = 0;

function connect(
  job: GatewayJob,
  d: { cert: string; key: string },
  clientId: string,
): Promise<mqtt.MqttClient> {
  return mqtt.connectAsync(`mqtts://127.0.0.1:${job.port}`, {
    clientId,
    ca: job.ca,
    cert: d.cert,
    key: d.key,
    servername: 'localhost',
    reconnectPeriod: 0,
    connectTimeout: 30_000,
  });
}

async function connections(job: GatewayJob): Promise<{ ops: number; seconds: number }> {
  const start = performance.now();
  const end = start + job.seconds * 1000;
  let ops = 0;
  const lane = async () => {
    while (performance.now() < end) {
      const i = nextDevice++;
      const d = job.devices[i];
      if (!d) throw new Error(`ran out of devices after ${i}; raise the count in bench/jitp.ts`);
      const c = await connect(job, d, `bench-${i}`);
      // The operation is the accepted first connection (CONNACK); closing is not waited for.
      ops++;
      c.end(true);
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  return { ops, seconds: (performance.now() - start) / 1000 };
}

let publisher: mqtt.MqttClient | undefined;

async function publishes(job: GatewayJob): Promise<{ ops: number; seconds: number }> {
  publisher ??= await connect(job, job.devices[0]!, 'bench-publisher');
  const c = publisher;
  const start = performance.now();
  const end = start + job.seconds * 1000;
  let ops = 0;
  const payload = Buffer.alloc(64, 1);
  const lane = async () => {
    while (performance.now() < end) {
      await c.publishAsync(job.topic ?? 'bench/telemetry', payload, { qos: 1 });
      ops++;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  return { ops, seconds: (performance.now() - start) / 1000 };
}

parentPort?.on('message', (job: GatewayJob) => {
  (job.mode === 'connect' ? connections(job) : publishes(job)).then(
    (r) => parentPort?.postMessage({ ok: true, ...r }),
    (e: Error) => parentPort?.postMessage({ ok: false, error: e.message }),
  );
});
