/**
 * Worker thread for the abuse scenario. As 'attack' it runs lanes that send the inputs the trust
 * probe found expensive, each on a fresh connection, until told to stop: a client certificate
 * with a 60 KB OID, a DPS register whose csr is 30 KB of PEM junk from an untrusted device, EST
 * enrollments with wrong passwords for random users, and retained MQTT publishes on DPS topics.
 * As 'probe' it sends GET /healthz on one kept-alive TLS connection and times each answer.
 */
import { connect, type TLSSocket } from 'node:tls';
import { parentPort } from 'node:worker_threads';
import mqtt from 'mqtt';

export interface AttackJob {
  role: 'attack';
  port: number;
  mqttPort: number;
  lanes: number;
  ca: string;
  idScope: string;
  /** A device the scope does not trust. */
  stranger: { cert: string; key: string };
  /** A certificate with a 60 KB OID, and its key. */
  bigOid: { cert: string; key: string };
  estPath: string;
  csr: string;
}

export interface ProbeJob {
  role: 'probe';
  port: number;
  ca: string;
  seconds: number;
}

function exchange(
  port: number,
  ca: string,
  cred: { cert: string; key: string } | undefined,
  request: string,
): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ca, ...cred }, () =>
      s.write(request),
    );
    s.setTimeout(30_000, () => s.destroy());
    s.on('data', () => {});
    s.on('error', () => resolve());
    s.on('close', () => resolve());
  });
}

const http = (method: string, path: string, headers: Record<string, string>, body = '') =>
  `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n${Object.entries(headers)
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('')}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

let stopped = true;
const KINDS = ['60 KB-OID certificate', 'DPS csr junk', 'EST password guess', 'MQTT retained publish'];
let counts = [0, 0, 0, 0];
let startedAt = 0;
const rand = () => Math.random().toString(36).slice(2, 10);

async function attackLane(job: AttackJob, kind: number): Promise<void> {
  const register = (id: string, body: string) =>
    http(
      'PUT',
      `/${job.idScope}/registrations/${id}/register?api-version=2025-07-01-preview`,
      { 'Content-Type': 'application/json' },
      body,
    );
  const junk = `-----BEGIN CERTIFICATE REQUEST-----\n${'-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n'.repeat(600)}`;
  while (!stopped) {
    counts[kind % 4]!++;
    switch (kind % 4) {
      case 0:
        await exchange(job.port, job.ca, job.bigOid, register('dev-01', '{"registrationId":"dev-01"}'));
        break;
      case 1:
        await exchange(
          job.port,
          job.ca,
          job.stranger,
          register('stranger-01', JSON.stringify({ registrationId: 'stranger-01', csr: junk })),
        );
        break;
      case 2: {
        const auth = Buffer.from(`${rand()}:${rand()}`).toString('base64');
        await exchange(
          job.port,
          job.ca,
          undefined,
          http(
            'POST',
            `${job.estPath}/simpleenroll`,
            { 'Content-Type': 'application/pkcs10', Authorization: `Basic ${auth}` },
            job.csr,
          ),
        );
        break;
      }
      default: {
        const c = mqtt.connect(`mqtts://localhost:${job.mqttPort}`, {
          clientId: 'stranger-01',
          username: `${job.idScope}/registrations/stranger-01/api-version=2019-03-31`,
          ca: job.ca,
          cert: job.stranger.cert,
          key: job.stranger.key,
          reconnectPeriod: 0,
          connectTimeout: 10_000,
        });
        await new Promise<void>((resolve) => {
          const done = () => {
            c.end(true);
            resolve();
          };
          c.once('connect', () =>
            c.publish(
              `$dps/registrations/PUT/iotdps-register/?$rid=${rand()}`,
              'x'.repeat(60_000),
              { qos: 1, retain: true },
              done,
            ),
          );
          c.once('error', done);
          c.once('close', done);
        });
      }
    }
  }
}

async function probe(job: ProbeJob): Promise<{ ops: number; seconds: number; latencies: number[] }> {
  const socket: TLSSocket = await new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: job.port, servername: 'localhost', ca: job.ca }, () =>
      resolve(s),
    );
    s.on('error', reject);
  });
  const latencies: number[] = [];
  const start = performance.now();
  const end = start + job.seconds * 1000;
  let buffered = '';
  while (performance.now() < end) {
    const t = performance.now();
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer) => {
        buffered += d.toString('latin1');
        const i = buffered.indexOf('{"status":"ok"}');
        if (i >= 0) {
          buffered = buffered.slice(i + 15);
          socket.off('data', onData);
          resolve();
        }
      };
      socket.on('data', onData);
      socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n');
    });
    latencies.push(performance.now() - t);
    // One probe every 20 ms: a health checker, not a load generator.
    await new Promise((r) => setTimeout(r, 20));
  }
  socket.destroy();
  return { ops: latencies.length, seconds: (performance.now() - start) / 1000, latencies };
}

parentPort?.on('message', (m: AttackJob | ProbeJob | { role: 'stop' }) => {
  if (m.role === 'stop') {
    stopped = true;
    const seconds = (performance.now() - startedAt) / 1000;
    parentPort?.postMessage({ attacks: Object.fromEntries(KINDS.map((k, i) => [k, counts[i]! / seconds])) });
    return;
  }
  if (m.role === 'attack') {
    stopped = false;
    counts = [0, 0, 0, 0];
    startedAt = performance.now();
    for (let i = 0; i < m.lanes; i++) void attackLane(m, i);
    return;
  }
  probe(m).then(
    (r) => parentPort?.postMessage({ ok: true, ...r }),
    (e: Error) => parentPort?.postMessage({ ok: false, error: e.message }),
  );
});
