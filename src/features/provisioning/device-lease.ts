/**
 * One device's registrations run one at a time across every server on the store: a lease row
 * per device, taken before the assignment and given back after. The holder renews it while the
 * assignment runs, so a node that dies holding one frees it within LEASE_TTL_MS, and other nodes
 * can tell that its operation is no longer running.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ZtError } from '../../errors.ts';
import type { RegistrationStore } from './store.ts';

/** How long a lease outlives its holder's last renewal. */
export const LEASE_TTL_MS = 15_000;

/**
 * How long a registration waits for another registration of the same device to give the lease
 * back: longer than any assignment (the custom-allocation webhook alone may take its timeout).
 */
const WAIT_LIMIT_MS = 65_000;

type LeaseStore = Pick<RegistrationStore, 'tryLease' | 'renewLease' | 'releaseLease'>;

/** Runs `fn` while `owner` holds the lease on `key` (already taken), renewing it, and gives it back after. */
export async function whileLeased<T>(
  store: LeaseStore,
  key: string,
  owner: string,
  fn: () => Promise<T>,
  ttlMs = LEASE_TTL_MS,
): Promise<T> {
  // A failed renewal is tried again at the next beat; the lease lasts three beats.
  const beat = setInterval(() => void store.renewLease(key, owner, ttlMs).catch(() => undefined), ttlMs / 3);
  beat.unref();
  try {
    return await fn();
  } finally {
    clearInterval(beat);
    // A failure to give the lease back only delays the device's next registration until expiry.
    await store.releaseLease(key, owner).catch(() => undefined);
  }
}

/** Runs `fn` holding the lease on `key` for `owner`; waits, backing off, while another holds it. */
export async function withDeviceLease<T>(
  store: LeaseStore,
  key: string,
  owner: string,
  fn: () => Promise<T>,
  ttlMs = LEASE_TTL_MS,
  waitLimitMs = WAIT_LIMIT_MS,
): Promise<T> {
  const giveUp = Date.now() + waitLimitMs;
  for (let wait = 5; !(await store.tryLease(key, owner, ttlMs)); wait = Math.min(wait * 2, 200)) {
    if (Date.now() > giveUp)
      throw new ZtError(
        'THROTTLED',
        'another registration of this device is still running; register again in a few seconds',
        { retryAfter: 5 },
      );
    await sleep(wait);
  }
  return whileLeased(store, key, owner, fn, ttlMs);
}
