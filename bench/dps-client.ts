/**
 * Worker thread for the DPS registration scenarios: each device opens a new mutual-TLS
 * connection (HTTPS or MQTT), sends its registration, waits the Retry-After the server gives and polls on the same
 * connection until assigned, then closes. `concurrency` devices are in flight at once; only
 * registrations that finish after two ramp-up seconds count, so the rate is the steady state.
 */
import { Agent, request } from 'node:https';
import { parentPort } from 'node:worker_threads';
import mqtt from 'mqtt';

export interface DpsJob {
  /** "https" (the device listener) or "mqtt" (the MQTT listener, the Azure SDKs' DPS topics). */
  transport: 'https' | 'mqtt';
  port: number;
  seconds: number;
  concurrency: number;
  ca: string;
  idScope: string;
  devices: Array<{ registrationId: string; chainPem: string; keyPem: string }>;
  /** Report each counted registration's time from connect to assigned (ms). */
  latencies?: boolean;
}

const RAMP_SECONDS = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function call(
  job: DpsJob,
  agent: Agent,
  method: string,
  path: string,
  body?: string,
): Promise<{ status: number; retryAfter: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: job.port,
        method,
        path,
        agent,
        headers: body
          ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }
          : {},
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: Number(res.headers['retry-after'] ?? 1),
            json: text ? JSON.parse(text) : undefined,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function registerOnce(job: DpsJob, dev: DpsJob['devices'][number]): Promise<void> {
  // one connection per device, reused for its PUT and its polls
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 1,
    ca: job.ca,
    cert: dev.chainPem,
    key: dev.keyPem,
  });
  try {
    const base = `/${job.idScope}/registrations/${dev.registrationId}`;
    const q = '?api-version=2021-06-01';
    let r = await call(
      job,
      agent,
      'PUT',
      `${base}/register${q}`,
      JSON.stringify({ registrationId: dev.registrationId }),
    );
    if (r.status !== 202) throw new Error(`PUT answered ${r.status}: ${JSON.stringify(r.json)}`);
    const opId = r.json.operationId;
    for (;;) {
      await sleep(r.retryAfter * 1000);
      r = await call(job, agent, 'GET', `${base}/operations/${opId}${q}`);
      if (r.status === 429) continue;
      if (r.json?.status === 'assigned') return;
      if (r.json?.status !== 'assigning') throw new Error(`registration ended ${JSON.stringify(r.json)}`);
    }
  } finally {
    agent.destroy();
  }
}

/** The same device exchange over MQTT: connect with the certificate, subscribe, publish, poll. */
async function registerOnceMqtt(job: DpsJob, dev: DpsJob['devices'][number]): Promise<void> {
  const client = await mqtt.connectAsync(`mqtts://localhost:${job.port}`, {
    clientId: dev.registrationId,
    username: `${job.idScope}/registrations/${dev.registrationId}/api-version=2019-03-31`,
    protocolVersion: 4,
    ca: job.ca,
    cert: dev.chainPem,
    key: dev.keyPem,
    reconnectPeriod: 0,
  });
  try {
    const answers: Array<(a: { status: number; retryAfter: number; json: any }) => void> = [];
    client.on('message', (topic, payload) => {
      const m = /^\$dps\/registrations\/res\/(\d+)\/\?(.*)$/.exec(topic)!;
      const q = new URLSearchParams(m[2]);
      answers.shift()?.({
        status: Number(m[1]),
        retryAfter: Number(q.get('retry-after') ?? 1),
        json: JSON.parse(payload.toString()),
      });
    });
    const ask = (topic: string, body: string) =>
      new Promise<{ status: number; retryAfter: number; json: any }>((resolve) => {
        answers.push(resolve);
        client.publish(topic, body, { qos: 1 });
      });
    await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
    let rid = 1;
    let r = await ask(
      `$dps/registrations/PUT/iotdps-register/?$rid=${rid++}`,
      JSON.stringify({ registrationId: dev.registrationId }),
    );
    if (r.status !== 202) throw new Error(`register answered ${r.status}: ${JSON.stringify(r.json)}`);
    const opId = r.json.operationId;
    for (;;) {
      await sleep(r.retryAfter * 1000);
      r = await ask(
        `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${rid++}&operationId=${opId}`,
        ' ',
      );
      if (r.status === 429) continue;
      if (r.json?.status === 'assigned') return;
      if (r.json?.status !== 'assigning') throw new Error(`registration ended ${JSON.stringify(r.json)}`);
    }
  } finally {
    await client.endAsync();
  }
}

async function run(job: DpsJob): Promise<{ ops: number; seconds: number; latencies?: number[] }> {
  const start = performance.now();
  const countFrom = start + RAMP_SECONDS * 1000;
  const end = countFrom + job.seconds * 1000;
  // The parent samples the server's CPU at these marks, the window in which registrations count.
  setTimeout(() => parentPort?.postMessage({ mark: 'start' }), countFrom - start);
  setTimeout(() => parentPort?.postMessage({ mark: 'end' }), end - start);
  let ops = 0;
  let next = 0;
  const latencies: number[] = [];
  // Lanes start spread over the first second so that devices do not move in synchronized waves.
  const lane = async (i: number) => {
    await sleep((i / job.concurrency) * 1000);
    while (performance.now() < end) {
      const dev = job.devices[next++ % job.devices.length]!;
      const t0 = performance.now();
      await (job.transport === 'mqtt' ? registerOnceMqtt : registerOnce)(job, dev);
      const t = performance.now();
      if (t >= countFrom && t <= end) {
        ops++;
        if (job.latencies) latencies.push(t - t0);
      }
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, (_, i) => lane(i)));
  return { ops, seconds: job.seconds, ...(job.latencies ? { latencies } : {}) };
}

parentPort?.on('message', (job: DpsJob) => {
  run(job).then(
    (r) => parentPort?.postMessage({ ok: true, ...r }),
    (e: Error) => parentPort?.postMessage({ ok: false, error: e.message }),
  );
});
