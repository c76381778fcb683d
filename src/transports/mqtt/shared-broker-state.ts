/**
 * What several gateway nodes share (device.mqtt_redis_url): aedes' Redis-backed emitter, so a
 * message published on one node reaches subscribers on every node, and Redis-backed
 * persistence. Each scope's broker sees the one emitter through a namespace (its topics carry
 * the scope as a prefix on Redis and lose it on delivery), so scopes never see each other's
 * messages even though Redis pub/sub channels are global; its persistence keys get the same
 * prefix. Without the setting a node needs nothing but its memory and the store.
 */
import { createRequire } from 'node:module';
import type { AedesOptions } from 'aedes';
import { Redis } from 'ioredis';

type Listener = (packet: Record<string, unknown> & { topic: string }, done: () => void) => void;

interface Emitter {
  /** mqemitter-redis reports Redis trouble here; an 'error' nobody listens to would end the process. */
  state?: { on(event: 'error', fn: (e: Error) => void): void };
  on(topic: string, listener: Listener, done?: () => void): unknown;
  emit(packet: Record<string, unknown> & { topic: string }, done?: (err?: Error) => void): void;
  removeListener(topic: string, listener: Listener, done?: () => void): unknown;
  close(done: () => void): void;
  current?: number;
  concurrency?: number;
}

const require = createRequire(import.meta.url);

/** The same emitter seen under `prefix`: what the broker emits and listens to carries it. */
class NamespacedEmitter implements Emitter {
  private readonly inner: Emitter;
  private readonly prefix: string;
  private readonly wrapped = new Map<Listener, Map<string, Listener>>();

  constructor(inner: Emitter, prefix: string) {
    this.inner = inner;
    this.prefix = prefix;
  }

  get current() {
    return this.inner.current ?? 0;
  }

  get concurrency() {
    return this.inner.concurrency ?? 0;
  }

  on(topic: string, listener: Listener, done?: () => void) {
    const strip: Listener = (packet, cb) =>
      listener({ ...packet, topic: packet.topic.slice(this.prefix.length) }, cb);
    let byTopic = this.wrapped.get(listener);
    if (!byTopic) this.wrapped.set(listener, (byTopic = new Map()));
    byTopic.set(topic, strip);
    this.inner.on(this.prefix + topic, strip, done);
    return this;
  }

  emit(packet: Record<string, unknown> & { topic: string }, done?: (err?: Error) => void) {
    this.inner.emit({ ...packet, topic: this.prefix + packet.topic }, done);
  }

  removeListener(topic: string, listener: Listener, done?: () => void) {
    const byTopic = this.wrapped.get(listener);
    const strip = byTopic?.get(topic);
    if (!strip) {
      if (done) setImmediate(done);
      return this;
    }
    byTopic!.delete(topic);
    if (byTopic!.size === 0) this.wrapped.delete(listener);
    this.inner.removeListener(this.prefix + topic, strip, done);
    return this;
  }

  /** The shared emitter outlives a scope's broker; SharedBrokerState.close ends it. */
  close(done: () => void) {
    setImmediate(done);
  }
}

/** The Redis connections of one gateway node, handing each scope's broker its view. */
export class SharedBrokerState {
  private readonly url: string;
  private readonly emitter: Emitter;
  /** The persistences handed out; aedes does not end them when a broker closes. */
  private readonly persistences: Array<{ destroy(): Promise<unknown> }> = [];

  constructor(url: string, logger?: { warn(o: object, m: string): void }) {
    this.url = url;
    const MQEmitterRedis = require('mqemitter-redis') as (o: { connectionString: string }) => Emitter;
    this.emitter = MQEmitterRedis({ connectionString: url });
    this.emitter.state?.on('error', (e) =>
      logger?.warn({ err: e.message }, 'Redis of the MQTT gateway: connection trouble; retrying'),
    );
  }

  /** The `mq` and `persistence` options of the broker of `namespace` (a scope id, or "" for the default broker). */
  brokerOptions(namespace: string): Pick<AedesOptions, 'mq' | 'persistence'> {
    const prefix = `zt/${namespace || '-'}/`;
    const create = require('aedes-persistence-redis') as (o: Record<string, unknown>) => {
      destroy(): Promise<unknown>;
    };
    const conn = new Redis(this.url, { keyPrefix: `zt:${namespace || '-'}:` });
    conn.on('error', () => undefined); // reported once by the emitter's connection above
    const persistence = create({ conn });
    this.persistences.push(persistence);
    return { mq: new NamespacedEmitter(this.emitter, prefix), persistence };
  }

  /** Tells every node (this one too) that `what` happened, with an optional JSON message. */
  broadcast(what: string, message?: unknown): void {
    const payload = Buffer.from(message === undefined ? '' : JSON.stringify(message));
    this.emitter.emit({ topic: `zt/_nodes/${what}`, payload });
  }

  /** Calls `fn` whenever any node broadcasts `what`, with its message. */
  onBroadcast(what: string, fn: (message: unknown) => void): void {
    this.emitter.on(`zt/_nodes/${what}`, (packet, done) => {
      try {
        const raw = Buffer.from(packet.payload as Uint8Array).toString('utf8');
        fn(raw ? JSON.parse(raw) : undefined);
      } catch {
        // A malformed message from Redis is dropped; it came from no node of ours.
      }
      done();
    });
  }

  /** Closes the node's Redis connections (call after the brokers closed). */
  async close(): Promise<void> {
    await Promise.allSettled(this.persistences.map((p) => p.destroy()));
    await new Promise<void>((r) => this.emitter.close(() => r()));
  }
}
