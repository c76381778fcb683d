import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { KyselyRegistrationStore } from './store.ts';
import type { DeviceRegistrationState, RegistrationStatus } from './types.ts';

function state(
  registrationId: string,
  status: RegistrationStatus,
  etag: string,
  group?: string,
): DeviceRegistrationState {
  const now = new Date().toISOString();
  return {
    registrationId,
    status,
    ...(group ? { x509: { enrollmentGroupId: group } } : {}),
    createdDateTimeUtc: now,
    lastUpdatedDateTimeUtc: now,
    etag,
  };
}

describeEachStore('registration record store', (getStore) => {
  const store = () => new KyselyRegistrationStore(getStore().db);

  it('keeps one record per registration ID (any case), replaced by the latest operation', async () => {
    const t = await newTenant(getStore());
    const s = store();
    await s.putRegistration(t.id, 'op-1', state('Dev-1', 'failed', 'e1'));
    await s.putRegistration(t.id, 'op-2', {
      ...state('dev-1', 'assigned', 'e2'),
      assignedHub: 'h.example.com',
    });
    const r = await s.findRegistration(t.id, 'DEV-1');
    assert.equal(r?.operationId, 'op-2');
    assert.equal(r?.status, 'assigned');
    assert.equal(r?.etag, 'e2');
    assert.equal(r?.state.assignedHub, 'h.example.com');
    assert.equal((await s.listRegistrations(t.id)).items.length, 1);
  });

  it('lists records of a tenant or of one enrollment group, in pages', async () => {
    const t = await newTenant(getStore());
    const s = store();
    for (const id of ['r1', 'r2', 'r3'])
      await s.putRegistration(t.id, `op-${id}`, state(id, 'assigned', id, 'Line-A'));
    await s.putRegistration(t.id, 'op-r4', state('r4', 'assigned', 'r4', 'line-b'));
    await s.putRegistration(t.id, 'op-r5', state('r5', 'assigned', 'r5'));
    assert.equal((await s.listRegistrations(t.id)).items.length, 5);
    const first = await s.listRegistrations(t.id, 2, undefined, 'line-a');
    const rest = await s.listRegistrations(t.id, 2, first.continuation, 'line-a');
    assert.deepEqual(
      [...first.items, ...rest.items].map((r) => r.registrationId),
      ['r1', 'r2', 'r3'],
    );
    assert.equal(rest.continuation, undefined);
    assert.deepEqual(
      (await s.listRegistrations(t.id, 10, undefined, 'LINE-B')).items.map((r) => r.registrationId),
      ['r4'],
    );
  });

  it('deletes on a matching etag only, and keeps tenants apart', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    const s = store();
    await s.putRegistration(a.id, 'op', state('same', 'assigned', 'ea'));
    await s.putRegistration(b.id, 'op', state('same', 'failed', 'eb'));
    assert.equal(await s.deleteRegistration(a.id, 'same', 'eb'), false);
    assert.equal((await s.findRegistration(b.id, 'same'))?.status, 'failed');
    assert.equal(await s.deleteRegistration(a.id, 'SAME', 'ea'), true);
    assert.equal(await s.deleteRegistration(a.id, 'same'), false);
    assert.ok(await s.findRegistration(b.id, 'same'));
    await b.remove();
    assert.equal(await s.findRegistration(b.id, 'same'), undefined);
  });
});

describeEachStore('device leases and shared secrets', (getStore) => {
  const store = () => new KyselyRegistrationStore(getStore().db);

  it('gives a lease to one owner at a time, takes an expired one over, and frees it only for its owner', async () => {
    const s = store();
    const key = `t/${Math.random()}`;
    assert.equal(await s.tryLease(key, 'a', 60_000), true);
    assert.equal(await s.tryLease(key, 'b', 60_000), false);
    await s.releaseLease(key, 'b');
    assert.equal(await s.tryLease(key, 'b', 60_000), false, 'b cannot free a lease of a');
    await s.releaseLease(key, 'a');
    assert.equal(await s.tryLease(key, 'b', 1), true);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await s.tryLease(key, 'c', 60_000), true, 'an expired lease is taken over');
    await s.releaseLease(key, 'c');
  });

  it('renews a lease only for its owner, and says whether a key is held', async () => {
    const s = store();
    const key = `t/${Math.random()}`;
    assert.equal(await s.leaseHeld(key), false);
    assert.equal(await s.tryLease(key, 'a', 50), true);
    assert.equal(await s.leaseHeld(key), true);
    assert.equal(await s.renewLease(key, 'b', 60_000), false, 'b cannot renew a lease of a');
    assert.equal(await s.renewLease(key, 'a', 60_000), true);
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(await s.leaseHeld(key), true, 'the renewal outlasts the first expiry');
    assert.equal(await s.tryLease(key, 'b', 60_000), false);
    await s.releaseLease(key, 'a');
    assert.equal(await s.leaseHeld(key), false);
    assert.equal(await s.renewLease(key, 'a', 60_000), false, 'a given-back lease is not renewed');
    assert.equal(await s.tryLease(key, 'c', 1), true);
    await new Promise((r) => setTimeout(r, 5));
    assert.equal(await s.leaseHeld(key), false, 'an expired lease is not held');
  });

  it('lets exactly one of many racing owners take a free lease', async () => {
    const s = store();
    const key = `t/${Math.random()}`;
    const won = await Promise.all(Array.from({ length: 20 }, (_, i) => s.tryLease(key, `o${i}`, 60_000)));
    assert.equal(won.filter(Boolean).length, 1);
  });

  it('makes a shared secret once: every later reader gets the same 32 bytes', async () => {
    const name = `test-${Math.random()}`;
    const [a, b] = await Promise.all([store().sharedSecret(name), store().sharedSecret(name)]);
    assert.equal(a.length, 32);
    assert.deepEqual(a, b);
    assert.deepEqual(await store().sharedSecret(name), a);
  });
});

describeEachStore('registration lists paged by the last key seen', (getStore) => {
  const store = () => new KyselyRegistrationStore(getStore().db);

  it('walks a whole list once, unshaken by rows added before the cursor, and refuses a made-up token', async () => {
    const t = await newTenant(getStore());
    const s = store();
    for (let i = 0; i < 250; i++)
      await s.putRegistration(
        t.id,
        `op-${i}`,
        state(`dev-${String(i).padStart(3, '0')}`, 'assigned', `e${i}`, 'g'),
      );
    const seen: string[] = [];
    let continuation: string | undefined;
    let pages = 0;
    do {
      const page = await s.listRegistrations(t.id, 100, continuation, { groupId: 'g', status: 'assigned' });
      seen.push(...page.items.map((r) => r.registrationId));
      continuation = page.continuation;
      // A device registering meanwhile, sorting before the cursor, shifts nothing.
      if (pages++ === 0) await s.putRegistration(t.id, 'op-x', state('aaa-new', 'assigned', 'ex', 'g'));
    } while (continuation);
    assert.equal(seen.length, 250);
    assert.equal(new Set(seen).size, 250);
    assert.deepEqual(seen, [...seen].sort());
    for (const bad of ['x', '100', Buffer.from('{"a":1}').toString('base64url'), 'A'.repeat(3000)])
      await assert.rejects(s.listRegistrations(t.id, 10, bad), (e) => isZtError(e, 'BAD_REQUEST'), bad);
  });
});
