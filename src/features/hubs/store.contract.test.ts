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

  it('keeps the settings of mosquitto and webhook hubs and finds a hub by host name', async () => {
    const t = await newTenant(getStore());
    const mosquitto = { url: 'mqtts://broker:8883', username: 'zt', password: 'pw', caCertificate: 'PEM' };
    await store().upsertHub(t.id, { ...hub('m.example.com'), kind: 'mosquitto', mosquitto }, now());
    await store().upsertHub(
      t.id,
      { ...hub('w.example.com'), kind: 'webhook', webhook: { url: 'https://x', secret: 's'.repeat(16) } },
      now(),
    );
    assert.deepEqual((await store().findHub(t.id, 'M.example.com'))?.mosquitto, mosquitto);
    assert.equal((await store().findHub(t.id, 'w.example.com'))?.webhook?.url, 'https://x');
    assert.equal((await store().findHub(t.id, 'w.example.com'))?.kind, 'webhook');
    assert.equal(await store().findHub(t.id, 'x.example.com'), undefined);
    await store().upsertHub(t.id, hub('m.example.com'), now());
    assert.equal(
      (await store().findHub(t.id, 'm.example.com'))?.mosquitto,
      undefined,
      'a record hub keeps none',
    );
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
