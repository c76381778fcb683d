/**
 * What the bench scenarios share: the bare baseline's fixed HTTP answer and the runner that hands
 * a job to a client worker thread.
 */
import type { Worker } from 'node:worker_threads';
import type { Measured, Runner } from './harness.ts';

const BODY = '{"status":"ok"}';
/** The one answer the bare baseline gives, the same bytes as the device listener's GET /healthz. */
export const BARE_RESPONSE = `HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${BODY.length}\r\nconnection: close\r\n\r\n${BODY}`;

/** What a client worker posts: marks of its counting window, then its result. */
type WorkerMessage =
  | { mark: 'start' | 'end' }
  | { ok: boolean; ops: number; seconds: number; latencies?: number[]; error?: string };

/**
 * Posts a job to a bench worker and resolves with what it measured; with `cpuSeconds` (the server
 * process's CPU so far), also the server CPU used between the worker's window marks.
 */
export function workerRunner(
  worker: Worker,
  job: Record<string, unknown>,
  cpuSeconds?: () => number,
): Runner {
  return (seconds) =>
    new Promise<Measured>((resolve, reject) => {
      let from: number | undefined;
      let to: number | undefined;
      const onMessage = (m: WorkerMessage) => {
        if ('mark' in m) {
          if (m.mark === 'start') from = cpuSeconds?.();
          else to = cpuSeconds?.();
          return;
        }
        worker.off('message', onMessage);
        if (!m.ok) return reject(new Error(m.error));
        resolve({
          ops: m.ops,
          seconds: m.seconds,
          latencies: m.latencies,
          ...(from !== undefined && to !== undefined ? { cpuSeconds: to - from } : {}),
        });
      };
      worker.on('message', onMessage);
      worker.postMessage({ ...job, seconds });
    });
}
