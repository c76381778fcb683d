/**
 * `server.workers`: one supervisor process prepares the data directory and the store once, then
 * runs that many worker processes (node:cluster) that share the listeners. Each worker is a full
 * node on the one store: DPS operations, per-device leases and outboxes live in the store, so
 * any worker answers any request. The supervisor restarts a worker that dies and passes
 * SIGTERM/SIGINT on to all of them.
 */
import cluster, { type Worker } from 'node:cluster';
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { ServerConfig } from './config/config.ts';
import { serveClusterMetrics } from './cluster-metrics.ts';
import { ZtError } from './errors.ts';
import { type BannerFacts, prepareServer, type RunningServer, startupBanner } from './server.ts';

/** How many workers `config` asks for on a machine with `cores` cores, and why; throws on a bad mix. */
export function workerCount(
  config: ServerConfig,
  cores = availableParallelism(),
): { count: number; why: string } {
  const shared = config.device.mqttRedisUrl !== '';
  const w = config.server.workers;
  if (w === 'auto') {
    return shared
      ? { count: cores, why: `server.workers = auto: one per core` }
      : {
          count: 1,
          why: 'server.workers = auto: 1 without device.mqtt_redis_url, since MQTT devices on different workers reach each other only through Redis',
        };
  }
  if (w > 1 && !shared) {
    throw new ZtError(
      'CONFIG_INVALID',
      `server.workers = ${w} needs device.mqtt_redis_url: MQTT devices connected to different workers reach each other only through Redis; set it (e.g. redis://127.0.0.1:6379) or use server.workers = 1`,
    );
  }
  return { count: w, why: 'server.workers' };
}

/** What a worker tells the supervisor once it listens. */
interface Listening {
  type: 'zerotouch:listening';
  facts: Pick<BannerFacts, 'deviceUrl' | 'mqttPort' | 'adminUrl' | 'awsUrl'>;
}

/** In a worker: tells the supervisor where this worker listens. */
export function reportListening(server: RunningServer): void {
  const message: Listening = {
    type: 'zerotouch:listening',
    facts: {
      deviceUrl: server.deviceUrl,
      mqttPort: server.mqttPort,
      adminUrl: server.adminUrl,
      awsUrl: server.awsUrl,
    },
  };
  process.send?.(message);
}

/** True in a process the supervisor started. */
export function isWorker(): boolean {
  return cluster.isWorker;
}

/** Shortest time a worker must have run for the supervisor to restart it when it dies. */
const RESTART_AFTER_MS = 5000;

/**
 * In the supervisor: prepares, starts `count` workers, prints the banner once all listen, and
 * keeps them running until SIGTERM/SIGINT. Resolves when every worker has stopped.
 */
export async function superviseWorkers(
  config: ServerConfig,
  plan: { count: number; why: string },
  logger: Logger,
): Promise<void> {
  const prepared = await prepareServer(config, { logger, progress: (m) => process.stderr.write(`${m}\n`) });
  serveClusterMetrics();
  const started = new Map<Worker, number>();
  let stopping = false;
  let facts: Listening['facts'] | undefined;

  const fork = () => {
    const w = cluster.fork();
    started.set(w, Date.now());
    return w;
  };
  const stop = (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, stopping workers now');
      for (const w of started.keys()) w.process.kill('SIGKILL');
      return;
    }
    stopping = true;
    logger.info({ signal, workers: started.size }, 'shutting down: workers finish in-flight requests');
    for (const w of started.keys()) w.process.kill('SIGTERM');
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  await new Promise<void>((resolve, reject) => {
    let listening = 0;
    let bannerShown = false;
    cluster.on('message', (w, m: Listening) => {
      if (m?.type !== 'zerotouch:listening') return;
      facts = m.facts;
      listening++;
      logger.info({ worker: w.id, pid: w.process.pid }, 'worker listening');
      if (!bannerShown && listening >= plan.count) {
        bannerShown = true;
        process.stderr.write(startupBanner({ config, ...prepared, ...facts, workers: plan }));
      }
    });
    cluster.on('exit', (w, code, signal) => {
      const since = started.get(w) ?? 0;
      started.delete(w);
      if (stopping) {
        if (started.size === 0) resolve();
        return;
      }
      // A worker that dies at once would die again: the configuration or the machine is wrong.
      if (!bannerShown || Date.now() - since < RESTART_AFTER_MS) {
        stopping = true;
        for (const other of started.keys()) other.process.kill('SIGTERM');
        reject(
          new ZtError(
            'INTERNAL',
            `worker ${w.process.pid} exited (${signal ?? code}) ${bannerShown ? 'right after starting' : 'before it listened'}; its log lines above say why`,
          ),
        );
        return;
      }
      logger.error({ worker: w.id, pid: w.process.pid, code, signal }, 'worker died; starting another');
      fork();
    });
    for (let i = 0; i < plan.count; i++) fork();
  });
}
