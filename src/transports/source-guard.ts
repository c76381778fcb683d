/**
 * Per-source limits shared by the device listeners (HTTPS and MQTT): open connections per
 * source address, and a budget of failed authentications per minute. A source that spends its
 * budget is answered "retry later" before any parsing, matching or database work. Sources are
 * IPv4 addresses or IPv6 /64 networks (one host usually owns a whole /64).
 */
import type { Socket } from 'node:net';

export interface SourceLimits {
  /** Most open connections per source; 0 = no limit. */
  maxConnections: number;
  /** Failed authentications per source per minute, also the burst; 0 = no limit. */
  authFailuresPerMinute: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** The source key of an address: IPv4 as is (also when IPv4-mapped), IPv6 as its /64. */
export function sourceOf(address: string | undefined): string {
  if (!address) return 'unknown';
  if (address.startsWith('::ffff:') && address.includes('.')) return address.slice(7);
  if (!address.includes(':')) return address;
  const [head, tail] = address.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups =
    tail === undefined ? h : [...h, ...Array(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

const MAX_TRACKED = 100_000;

/** Counts connections and failed authentications per source. One instance serves every device listener. */
export class SourceGuard {
  private readonly limits: SourceLimits;
  private readonly open = new Map<string, number>();
  private readonly failures = new Map<string, Bucket>();

  constructor(limits: SourceLimits) {
    this.limits = limits;
  }

  /** Counts a new connection; false when its source already holds the most allowed (close it). */
  admit(socket: Socket): boolean {
    const max = this.limits.maxConnections;
    if (max === 0) return true;
    const key = sourceOf(socket.remoteAddress);
    const n = this.open.get(key) ?? 0;
    if (n >= max) return false;
    this.open.set(key, n + 1);
    socket.once('close', () => {
      const left = (this.open.get(key) ?? 1) - 1;
      if (left <= 0) this.open.delete(key);
      else this.open.set(key, left);
    });
    return true;
  }

  private bucket(key: string, now: number): Bucket {
    const rate = this.limits.authFailuresPerMinute;
    let b = this.failures.get(key);
    if (!b) {
      if (this.failures.size >= MAX_TRACKED) this.prune(now);
      b = { tokens: rate, at: now };
      this.failures.set(key, b);
    }
    b.tokens = Math.min(rate, b.tokens + ((now - b.at) / 60_000) * rate);
    b.at = now;
    return b;
  }

  private prune(now: number): void {
    // Full buckets carry no information; if that frees too little, start over.
    for (const [k, b] of this.failures) {
      if (
        b.tokens + ((now - b.at) / 60_000) * this.limits.authFailuresPerMinute >=
        this.limits.authFailuresPerMinute
      ) {
        this.failures.delete(k);
      }
    }
    if (this.failures.size >= MAX_TRACKED) this.failures.clear();
  }

  /** Seconds the source must wait because it spent its failure budget; 0 when it may go on. */
  blockedFor(address: string | undefined, now = Date.now()): number {
    const rate = this.limits.authFailuresPerMinute;
    if (rate === 0) return 0;
    const b = this.failures.get(sourceOf(address));
    if (!b) return 0;
    const tokens = Math.min(rate, b.tokens + ((now - b.at) / 60_000) * rate);
    return tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 60) / rate);
  }

  /** Records a failed authentication from the source. */
  failed(address: string | undefined, now = Date.now()): void {
    if (this.limits.authFailuresPerMinute === 0) return;
    const b = this.bucket(sourceOf(address), now);
    b.tokens = Math.max(0, b.tokens - 1);
  }
}
