/**
 * Password hashes for EST users: scrypt with a random salt, compared in constant time. scrypt
 * runs on the libuv pool, never on the event loop, a few at a time; an unknown user costs the
 * same scrypt as a known one, so timing does not tell which user names exist.
 */
import { randomBytes, scrypt, type ScryptOptions, timingSafeEqual } from 'node:crypto';
import { ZtError } from '../../errors.ts';

const N = 16384;
const R = 8;
const P = 1;
/** scrypt computations at once (each holds 16 MiB and a pool thread); the rest wait in line. */
const MAX_RUNNING = 2;
/** Checks that may wait; beyond this, callers are asked to come back. */
const MAX_WAITING = 64;

let running = 0;
const waiting: Array<() => void> = [];

function derive(password: string, salt: Buffer, length: number, o: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password, salt, length, { ...o, maxmem: 64 * 1024 * 1024 }, (e, key) =>
      e ? reject(e) : resolve(key),
    ),
  );
}

/** Runs one scrypt in a bounded pool slot. */
async function limited(password: string, salt: Buffer, length: number, o: ScryptOptions): Promise<Buffer> {
  if (running >= MAX_RUNNING) {
    if (waiting.length >= MAX_WAITING) {
      throw new ZtError('THROTTLED', 'too many password checks are in progress; retry in a few seconds', {
        retryAfter: 2,
      });
    }
    await new Promise<void>((r) => waiting.push(r));
  }
  running++;
  try {
    return await derive(password, salt, length, o);
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Hashes a password as "scrypt$N$r$p$salt$hash" (base64 parts). */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await limited(password, salt, 32, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

/**
 * True when `password` matches a hash made by hashPassword. Without a stored hash (an unknown
 * user) the same scrypt runs against a random salt and the answer is false.
 */
export async function checkPassword(password: string, stored: string | undefined): Promise<boolean> {
  const [alg, n, r, p, salt, hash] = (stored ?? '').split('$');
  const known = alg === 'scrypt' && !!salt && !!hash;
  const want = known ? Buffer.from(hash, 'base64') : randomBytes(32);
  const got = await limited(password, known ? Buffer.from(salt, 'base64') : randomBytes(16), want.length, {
    N: known ? Number(n) : N,
    r: known ? Number(r) : R,
    p: known ? Number(p) : P,
  });
  return known && timingSafeEqual(want, got);
}
