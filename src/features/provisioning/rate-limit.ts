/** Per-key token buckets: DPS-style per-device limits that answer how long to wait. */

export interface BucketOptions {
  /** Requests allowed in a burst. */
  capacity: number;
  /** Seconds to earn back one request. */
  refillSeconds: number;
}

/** Token buckets keyed by string; idle buckets are dropped so memory follows active devices. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly opts: BucketOptions;
  private swept = 0;

  constructor(opts: BucketOptions) {
    this.opts = opts;
  }

  /** Takes one token for `key`; returns 0 when allowed, else whole seconds to wait. */
  take(key: string, now = Date.now()): number {
    const { capacity, refillSeconds } = this.opts;
    const b = this.buckets.get(key) ?? { tokens: capacity, at: now };
    b.tokens = Math.min(capacity, b.tokens + (now - b.at) / 1000 / refillSeconds);
    b.at = now;
    // At most one sweep a second: a map of busy buckets must not be walked on every request.
    if (this.buckets.size > 100_000 && now - this.swept > 1000) this.sweep(now);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      this.buckets.set(key, b);
      return 0;
    }
    this.buckets.set(key, b);
    return Math.max(1, Math.ceil((1 - b.tokens) * refillSeconds));
  }

  private sweep(now: number): void {
    this.swept = now;
    const full = this.opts.capacity * this.opts.refillSeconds * 1000;
    for (const [k, b] of this.buckets) if (now - b.at > full) this.buckets.delete(k);
  }
}
