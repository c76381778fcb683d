/**
 * Worker thread for the mTLS scenario: opens fresh mutual-TLS connections (no session reuse),
 * sends one request (GET /healthz unless the job gives others), reads the answer and closes,
 * `concurrency` at a time, so that the server under test has the main thread to itself.
 */
import { connect } from 'node:tls';
import { parentPort } from 'node:worker_threads';

export interface ClientJob {
  port: number;
  seconds: number;
  concurrency: number;
  ca: string;
  cert: string;
  key: string;
  /** Raw HTTP requests to send, cycled one per connection; default GET /healthz. */
  requests?: string[];
}

const REQUEST = 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';

let next = 0;

function once(job: ClientJob): Promise<void> {
  const request = job.requests?.length ? job.requests[next++ % job.requests.length]! : REQUEST;
  return new Promise((resolve, reject) => {
    const s = connect(
      {
        host: '127.0.0.1',
        port: job.port,
        servername: 'localhost',
        ca: job.ca,
        cert: job.cert,
        key: job.key,
      },
      () => s.write(request),
    );
    let answer = '';
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      answer += d;
    });
    s.on('end', () =>
      answer.startsWith('HTTP/1.1 200') ? resolve() : reject(new Error(`bad answer: ${answer.slice(0, 80)}`)),
    );
    s.on('error', reject);
  });
}

async function run(job: ClientJob): Promise<{ ops: number; seconds: number }> {
  const start = performance.now();
  const end = start + job.seconds * 1000;
  // The parent samples the server's CPU at these marks (see workerRunner).
  parentPort?.postMessage({ mark: 'start' });
  let ops = 0;
  const lane = async () => {
    while (performance.now() < end) {
      await once(job);
      ops++;
    }
  };
  await Promise.all(Array.from({ length: job.concurrency }, lane));
  parentPort?.postMessage({ mark: 'end' });
  return { ops, seconds: (performance.now() - start) / 1000 };
}

parentPort?.on('message', (job: ClientJob) => {
  run(job).then(
    (r) => parentPort?.postMessage({ ok: true, ...r }),
    (e: Error) => parentPort?.postMessage({ ok: false, error: e.message }),
  );
});
