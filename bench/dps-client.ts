/**
 * Worker thread for the DPS registration scenario: each device opens a new mutual-TLS
 * connection, PUTs its registration, waits the Retry-After the server gives and polls on the same
 * connection until assigned, then closes. `concurrency` devices are in flight at once; only
 * registrations that finish after two ramp-up seconds count, so the rate is the steady state.
 */
import { Agent, request } from 'node:https';
import { parentPort } from 'node:worker_threads';

export interface DpsJob {
  port: number;
  seconds: number;
  concurrency: number;
  ca: string;
  idScope: string;
  devices: Array<{ registrationId: string; chainPem: string; keyPem: string }>;
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

async function run(job: DpsJob): Promise<{ ops: number; seconds: number }> {
  const start = performance.now();
  const countFrom = start + RAMP_SECONDS * 1000;
  const end = countFrom + job.seconds * 1000;
  let ops = 0;
  let next = 0;
  // Lanes start spread over the first second so that devices do not move in synchronized waves.
  const lane = async (i: number) => {
    await sleep((i / job.concurrency) * 1000);
    while (performance.now() < end) {
      const dev = job.devices[next++ % job.devices.length]!;
      await registerOnce(job, dev);
      const t = performance.now();
      if (t >= countFrom && t <= end) ops++;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, (_, i) => lane(i)));
  return { ops, seconds: job.seconds };
}

parentPort?.on('message', (job: DpsJob) => {
  run(job).then(
    (r) => parentPort?.postMessage({ ok: true, ...r }),
    (e: Error) => parentPort?.postMessage({ ok: false, error: e.message }),
  );
});
