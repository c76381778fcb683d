/**
 * What the bench scenarios share: the bare baseline's fixed HTTP answer and the runner that hands
 * a job to a client worker thread.
 */
import type { Worker } from 'node:worker_threads';
import type { Measured, Runner } from './harness.ts';

const BODY = '{"status":"ok"}';
/** The one answer the bare baseline gives, the same bytes as the device listener's GET /healthz. */
export const BARE_RESPONSE = `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`;

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
