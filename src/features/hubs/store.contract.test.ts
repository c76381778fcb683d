import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { KyselyHubStore } from './store.ts';

const hub = (
  hostName: string,
  region = 'eu',
  allocationWeight = 1,
  applyAllocationPolicy = true,
  kind: 'record' | 'builtin' = 'record',
) => ({
  hostName,
  kind,
  region,
  allocationWeight,
  applyAllocationPolicy,
});

describeEachStore('linked hub store', (getStore) => {
  const store = () => new KyselyHubStore(getStore().db);
  const now = () => new Date().toISOString();

  it('links hubs, lists them by host name and updates one linked again in another case', async () => {
    const t = await newTenant(getStore());
    await store().upsertHub(t.id, hub('b.example.com'), now());
    await store().upsertHub(t.id, hub('A.example.com', 'us', 3, false), now());
    assert.deepEqual(await store().listHubs(t.id), [
      hub('A.example.com', 'us', 3, false),
      hub('b.example.com'),
    ]);
    await store().upsertHub(t.id, hub('B.EXAMPLE.COM', 'asia', 7), now());
    const hubs = await store().listHubs(t.id);
    assert.equal(hubs.length, 2);
    assert.deepEqual(hubs[1], hub('B.EXAMPLE.COM', 'asia', 7));
  });

  it('finds the scopes that link a host name as a builtin hub', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    await store().upsertHub(a.id, hub('gw.example.com', 'eu', 1, true, 'builtin'), now());
    await store().upsertHub(b.id, hub('gw.example.com'), now());
    assert.deepEqual(await store().builtinScopes('GW.example.com'), [a.id]);
    assert.equal((await store().listHubs(a.id))[0]!.kind, 'builtin');
  });

  it('unlinks in any case, says whether there was a hub, and keeps tenants apart', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    await store().upsertHub(a.id, hub('h.example.com'), now());
    await store().upsertHub(b.id, hub('h.example.com', 'us'), now());
    assert.equal(await store().deleteHub(a.id, 'H.example.com'), true);
    assert.equal(await store().deleteHub(a.id, 'h.example.com'), false);
    assert.deepEqual(await store().listHubs(b.id), [hub('h.example.com', 'us')]);
    await b.remove();
    assert.deepEqual(await store().listHubs(b.id), []);
  });
});
