/**
 * A client of a Mosquitto 2 broker's dynamic-security plugin: commands are published as JSON to
 * $CONTROL/dynamic-security/v1 and answered on .../response. Each command carries correlation
 * data, so answers meant for another administrator (another zerotouch node, mosquitto_ctrl) on
 * the same topic are ignored. One connection per hub, closed when idle.
 */
import { randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import { ZtError } from '../../errors.ts';
import type { DynsecClient, DynsecCommand, DynsecResponse } from '../../features/hubs/dynsec.ts';
import type { MosquittoHub } from '../../features/hubs/types.ts';

const REQUEST_TOPIC = '$CONTROL/dynamic-security/v1';
const RESPONSE_TOPIC = '$CONTROL/dynamic-security/v1/response';
const TIMEOUT_MS = 10_000;
const IDLE_MS = 30_000;

/** Talks to one broker's dynamic-security plugin. */
export class MosquittoAdmin implements DynsecClient {
  private readonly cfg: MosquittoHub;
  private client: Promise<MqttClient> | undefined;
  private readonly pending = new Map<string, (r: DynsecResponse) => void>();
  private idle: NodeJS.Timeout | undefined;

  constructor(cfg: MosquittoHub) {
    this.cfg = cfg;
  }

  /** Runs commands in one request and returns their answers in order. */
  async run(commands: DynsecCommand[]): Promise<DynsecResponse[]> {
    const client = await this.connect();
    const ids = commands.map(() => randomUUID());
    const answers = ids.map(
      (id) =>
        new Promise<DynsecResponse>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.pending.delete(id);
            reject(
              new ZtError(
                'HUB_UNREACHABLE',
                `Mosquitto at ${this.cfg.url} did not answer a dynamic-security command within ${TIMEOUT_MS / 1000} s; is the dynamic-security plugin loaded and may ${this.cfg.username} publish to ${REQUEST_TOPIC}?`,
              ),
            );
          }, TIMEOUT_MS);
          this.pending.set(id, (r) => {
            clearTimeout(timer);
            resolve(r);
          });
        }),
    );
    const body = JSON.stringify({ commands: commands.map((c, i) => ({ ...c, correlationData: ids[i] })) });
    await client.publishAsync(REQUEST_TOPIC, body, { qos: 1 });
    try {
      return await Promise.all(answers);
    } finally {
      this.touch();
    }
  }

  /** Runs one command; throws HUB_UNREACHABLE with the broker's error unless it is in `tolerate`. */
  async one(command: DynsecCommand, tolerate: string[] = []): Promise<DynsecResponse> {
    const [r] = await this.run([command]);
    if (r!.error && !tolerate.includes(r!.error))
      throw new ZtError(
        'HUB_UNREACHABLE',
        `Mosquitto at ${this.cfg.url} refused ${command.command}: ${r!.error}`,
      );
    return r!;
  }

  /** Closes the connection. */
  async close(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    const c = this.client;
    this.client = undefined;
    if (c) await (await c.catch(() => undefined))?.endAsync(true);
  }

  private touch(): void {
    if (this.idle) clearTimeout(this.idle);
    this.idle = setTimeout(() => void this.close(), IDLE_MS);
    this.idle.unref();
  }

  private connect(): Promise<MqttClient> {
    this.client ??= (async () => {
      const client = await mqtt
        .connectAsync(this.cfg.url, {
          username: this.cfg.username,
          password: this.cfg.password,
          clientId: `zerotouch-${randomUUID()}`,
          reconnectPeriod: 0,
          connectTimeout: TIMEOUT_MS,
          ...(this.cfg.caCertificate ? { ca: this.cfg.caCertificate } : {}),
        })
        .catch((e: unknown) => {
          this.client = undefined;
          throw new ZtError(
            'HUB_UNREACHABLE',
            `cannot connect to Mosquitto at ${this.cfg.url} as ${this.cfg.username}: ${(e as Error).message}`,
          );
        });
      client.on('message', (_topic, payload) => this.answer(payload));
      client.on('close', () => {
        this.client = undefined;
      });
      client.on('error', () => undefined);
      await client.subscribeAsync(RESPONSE_TOPIC, { qos: 1 });
      this.touch();
      return client;
    })();
    return this.client;
  }

  private answer(payload: Buffer): void {
    let body: { responses?: Array<DynsecResponse & { correlationData?: string }> };
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    // Anything else on the response topic (another admin's tool, a broken broker) is ignored.
    if (!Array.isArray(body?.responses)) return;
    for (const r of body.responses) {
      if (typeof r !== 'object' || r === null || typeof r.correlationData !== 'string') continue;
      const done = r.correlationData ? this.pending.get(r.correlationData) : undefined;
      if (!done) continue;
      this.pending.delete(r.correlationData!);
      done({
        command: r.command,
        ...(r.error ? { error: r.error } : {}),
        ...(r.data ? { data: r.data } : {}),
      });
    }
  }
}
