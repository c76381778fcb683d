import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { checkPassword, hashPassword } from './passwords.ts';

describe('EST password hashes', () => {
  it('verifies the right password and refuses a wrong one, an unknown user and a damaged hash', async () => {
    const h = await hashPassword('edge-password-1');
    assert.match(h, /^scrypt\$16384\$8\$1\$/);
    assert.equal(await checkPassword('edge-password-1', h), true);
    assert.equal(await checkPassword('edge-password-2', h), false);
    assert.equal(await checkPassword('edge-password-1', undefined), false);
    assert.equal(await checkPassword('edge-password-1', 'md5$abc'), false);
  });

  it('keeps the event loop free while hashing: timers run between checks', async () => {
    const h = await hashPassword('edge-password-1');
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    await Promise.all(Array.from({ length: 8 }, () => checkPassword('wrong-password', h)));
    clearInterval(timer);
    // A synchronous scrypt would have held the loop for every one of the eight checks.
    assert.ok(ticks > 0, 'the timer ran while scrypt worked');
  });

  it('asks callers to come back when too many checks wait, instead of queueing without bound', async () => {
    const h = await hashPassword('edge-password-1');
    const results = await Promise.allSettled(Array.from({ length: 80 }, () => checkPassword('x', h)));
    const refused = results.filter((r) => r.status === 'rejected');
    assert.ok(refused.length > 0, 'some checks were refused');
    for (const r of refused) assert.ok(isZtError((r as PromiseRejectedResult).reason, 'THROTTLED'));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 66, 'two running and 64 waiting');
  });
});
