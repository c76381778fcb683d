import assert from 'node:assert/strict';
import { it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { isZtError } from '../../errors.ts';
import { describeEachStore } from '../../store/testing.ts';
import { whileLeased, withDeviceLease } from './device-lease.ts';
import { KyselyRegistrationStore } from './store.ts';

describeEachStore('device leases held by a running registration', (getStore) => {
  const store = () => new KyselyRegistrationStore(getStore().db);

  it('keeps the lease for as long as the work runs, well past its time to live, and gives it back after', async () => {
    const s = store();
    const key = `t/${Math.random()}`;
    let takenMeanwhile = 0;
    const work = withDeviceLease(
      s,
      key,
      'a',
      async () => {
        // Five times the lease's life: only the renewals keep others out.
        for (let i = 0; i < 10; i++) {
          await sleep(50);
          if (await s.tryLease(key, `b${i}`, 60_000)) takenMeanwhile++;
        }
        return 'done';
      },
      100,
    );
    assert.equal(await work, 'done');
    assert.equal(takenMeanwhile, 0);
    assert.equal(await s.leaseHeld(key), false, 'given back');
  });

  it('waits for another holder, and gives up with THROTTLED when it holds on too long', async () => {
    const s = store();
    const key = `t/${Math.random()}`;
    assert.equal(await s.tryLease(key, 'a', 60_000), true);
    const order: string[] = [];
    const waiting = withDeviceLease(s, key, 'b', async () => void order.push('b'), 100, 5_000);
    await sleep(100);
    order.push('a done');
    await s.releaseLease(key, 'a');
    await waiting;
    assert.deepEqual(order, ['a done', 'b']);

    assert.equal(await s.tryLease(key, 'c', 60_000), true);
    await assert.rejects(
      withDeviceLease(s, key, 'd', async () => assert.fail('must not run'), 100, 150),
      (e) => isZtError(e, 'THROTTLED'),
    );
    await s.releaseLease(key, 'c');
  });

  it('lets the lease of a holder that stopped renewing expire, for the next to take', async () => {
    const s = store();
    const key = `t/${Math.random()}`;
    // The holder "dies": its store calls stop reaching the database, renewals included.
    let dead = false;
    const dying = {
      tryLease: s.tryLease.bind(s),
      releaseLease: async (k: string, o: string) => (dead ? undefined : s.releaseLease(k, o)),
      renewLease: async (k: string, o: string, t: number) => (dead ? false : s.renewLease(k, o, t)),
    };
    assert.equal(await s.tryLease(key, 'a', 100), true);
    const stuck = whileLeased(dying, key, 'a', () => sleep(400), 100);
    await sleep(150);
    assert.equal(await s.leaseHeld(key), true, 'renewed while alive');
    dead = true;
    await sleep(200);
    assert.equal(await s.leaseHeld(key), false, 'expired once renewals stopped');
    assert.equal(await s.tryLease(key, 'b', 60_000), true);
    await stuck;
    await s.releaseLease(key, 'b');
  });
});
