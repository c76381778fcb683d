/**
 * One device's registrations run one at a time across every server on the store: a lease row
 * per device, taken before the assignment and given back after. A node that dies holding one
 * frees it when the lease expires.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ZtError } from '../../errors.ts';
import type { RegistrationStore } from './store.ts';

/** Longer than any assignment (the custom-allocation webhook alone may take its timeout). */
export const LEASE_TTL_MS = 60_000;

/** Runs `fn` holding the lease on `key` for `owner`; waits, backing off, while another holds it. */
export async function withDeviceLease<T>(
  store: Pick<RegistrationStore, 'tryLease' | 'releaseLease'>,
  key: string,
  owner: string,
  fn: () => Promise<T>,
  ttlMs = LEASE_TTL_MS,
): Promise<T> {
  const giveUp = Date.now() + ttlMs + 5_000;
  for (let wait = 5; !(await store.tryLease(key, owner, ttlMs)); wait = Math.min(wait * 2, 200)) {
    if (Date.now() > giveUp)
      throw new ZtError(
        'THROTTLED',
        'another registration of this device is still running; register again in a few seconds',
        { retryAfter: 5 },
      );
    await sleep(wait);
  }
  try {
    return await fn();
  } finally {
    // A failure to give the lease back only delays the device's next registration until expiry.
    await store.releaseLease(key, owner).catch(() => undefined);
  }
}
