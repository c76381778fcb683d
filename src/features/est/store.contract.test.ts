import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { KyselyEstStore, type StoredLabel } from './store.ts';

let n = 0;
const label = (name: string, over: Partial<StoredLabel> = {}): StoredLabel => ({
  label: name,
  profile: 'device',
  basicAuth: true,
  certAuth: true,
  bootstrapCas: [],
  requireTlsUnique: false,
  manualApproval: false,
  default: false,
  ...over,
});
// Labels are unique per server, so every test takes its own names.
const fresh = (base: string) => `${base}-${process.pid}-${++n}`;

describeEachStore('EST store', (getStore) => {
  const store = () => new KyselyEstStore(getStore().db);

  it('keeps a label to the tenant that made it, found in any case', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    const s = store();
    const name = fresh('Line');
    assert.equal(await s.putLabel(a.id, label(name)), true);
    assert.equal(await s.putLabel(b.id, label(name.toLowerCase())), false);
    assert.equal(await s.putLabel(a.id, label(name, { profile: 'sensor' })), true);
    const found = await s.findLabel(name.toUpperCase());
    assert.equal(found?.tenantId, a.id);
    assert.equal(found?.label.profile, 'sensor');
    assert.deepEqual(
      (await s.listLabels(a.id)).map((l) => l.label),
      [name],
    );
    assert.deepEqual(await s.listLabels(b.id), []);
    assert.equal(await s.deleteLabel(b.id, name), false);
    assert.equal(await s.deleteLabel(a.id, name), true);
    assert.equal(await s.findLabel(name), undefined);
  });

  it('has at most one default label, also when two are made default at once', async () => {
    const t = await newTenant(getStore());
    const s = store();
    const [x, y, z] = [fresh('x'), fresh('y'), fresh('z')];
    await s.putLabel(t.id, label(x, { default: true }));
    await s.putLabel(t.id, label(y, { default: true }));
    assert.equal((await s.findDefault())?.label.label, y);
    assert.equal((await s.findLabel(x))?.label.default, false, 'a label that lost the default says so');
    assert.deepEqual(
      (await s.listLabels(t.id)).map((l) => [l.label, l.default]),
      [
        [x, false],
        [y, true],
      ],
    );
    const racers = [z, x, ...Array.from({ length: 6 }, () => fresh('r'))];
    await Promise.all(racers.map((r) => s.putLabel(t.id, label(r, { default: true }))));
    const defaults = await getStore()
      .db.selectFrom('est_labels')
      .select('label_key')
      .where('is_default', '=', 1)
      .execute();
    assert.equal(defaults.length, 1);
  });

  it('keeps users per label and drops them with it', async () => {
    const t = await newTenant(getStore());
    const s = store();
    const name = fresh('users');
    await s.putLabel(t.id, label(name));
    await s.putUser(name, 'bob', 'h1');
    await s.putUser(name.toUpperCase(), 'alice', 'h2');
    await s.putUser(name, 'bob', 'h3');
    assert.deepEqual(await s.listUsers(name), ['alice', 'bob']);
    assert.equal(await s.findUserHash(name, 'bob'), 'h3');
    assert.equal(await s.findUserHash(name, 'BOB'), undefined);
    assert.equal(await s.deleteUser(name, 'alice'), true);
    assert.equal(await s.deleteUser(name, 'alice'), false);
    await s.deleteLabel(t.id, name);
    assert.deepEqual(await s.listUsers(name), []);
  });

  it('records a pending enrollment once per key, decides it once and clears it', async () => {
    const t = await newTenant(getStore());
    const s = store();
    const name = fresh('approve');
    await s.putLabel(t.id, label(name, { manualApproval: true }));
    const [p1, p2] = await Promise.all([
      s.pending(name, 'k1', 'CN=dev', 'est-basic:bob'),
      s.pending(name, 'k1', 'CN=dev', 'est-basic:bob'),
    ]);
    assert.equal(p1.status, 'pending');
    assert.deepEqual(p1, p2);
    await s.pending(name, 'k2', 'CN=dev2', 'est-basic:bob');
    assert.deepEqual((await s.listPending(name)).map((p) => p.keyHash).sort(), ['k1', 'k2']);
    assert.equal(await s.decide(name, 'k1', 'approved'), true);
    assert.equal(await s.decide(name, 'k1', 'rejected'), false);
    const decided = await s.findPending(name, 'k1');
    assert.equal(decided?.status, 'approved');
    assert.ok(decided?.decidedDateTimeUtc);
    await s.clearPending(name, 'k1');
    assert.equal(await s.findPending(name, 'k1'), undefined);
    await t.remove();
    assert.deepEqual(await s.listPending(name), []);
  });
});
