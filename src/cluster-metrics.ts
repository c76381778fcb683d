/**
 * /metrics under server.workers: each worker keeps its own counters, so a scrape answered by one
 * worker would show a random share. A worker asks the supervisor, which gathers every worker's
 * registry over the cluster IPC channel (prom-client's AggregatorRegistry) and sums them.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';
import { ZtError } from './errors.ts';

/** The exposition a /metrics request answers with. */
export interface MetricsSource {
  contentType: string;
  text(): Promise<string>;
}

const ASK = 'zerotouch:metrics?';
const ANSWER_WITHIN_MS = 10_000;
const ANSWER = 'zerotouch:metrics';

/** This process's metrics, or in a worker, every worker's summed by the supervisor. */
export function metricsSource(registry: Registry): MetricsSource {
  if (!cluster.isWorker) return { contentType: registry.contentType, text: () => registry.metrics() };
  // Constructing one makes this worker answer the supervisor's requests for its registry.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  const waiting = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void }>();
  let next = 0;
  process.on('message', (m: { type?: string; id?: number; text?: string; error?: string }) => {
    if (m?.type !== ANSWER || m.id === undefined) return;
    const w = waiting.get(m.id);
    waiting.delete(m.id);
    if (m.error !== undefined) w?.reject(new Error(`metrics from the workers: ${m.error}`));
    else w?.resolve(m.text ?? '');
  });
  return {
    contentType: registry.contentType,
    text: () =>
      new Promise<string>((resolve, reject) => {
        const id = next++;
        // A supervisor that never answers must not leave scrapes (and this map) waiting forever.
        const timer = setTimeout(() => {
          waiting.delete(id);
          reject(
            new ZtError(
              'INTERNAL',
              `the supervisor did not send the workers' metrics within ${ANSWER_WITHIN_MS / 1000} s; the next scrape asks again, and if this persists restart the server`,
            ),
          );
        }, ANSWER_WITHIN_MS);
        waiting.set(id, {
          resolve: (t) => {
            clearTimeout(timer);
            resolve(t);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
        process.send?.({ type: ASK, id });
      }),
  };
}

/** In the supervisor: answers the workers' requests for the summed metrics. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, m: { type?: string; id?: number }) => {
    if (m?.type !== ASK) return;
    aggregator.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ type: ANSWER, id: m.id, text }),
      (e: Error) => worker.isConnected() && worker.send({ type: ANSWER, id: m.id, error: e.message }),
    );
  });
}
