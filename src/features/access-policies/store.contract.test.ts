import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { KyselyAccessPolicyStore } from './store.ts';

const policy = (keyName: string, key = 'k1', rights = ['EnrollmentRead']) => ({
  keyName,
  primaryKey: `${key}-primary`,
  secondaryKey: `${key}-secondary`,
  rights,
});

describeEachStore('access policy store', (getStore) => {
  const store = () => new KyselyAccessPolicyStore(getStore().db);
  const now = () => new Date().toISOString();

  it('creates policies, lists them by name and rotates keys and rights in place', async () => {
    const t = await newTenant(getStore());
    await store().putPolicy(t.id, policy('writer', 'w', ['EnrollmentRead', 'EnrollmentWrite']), now());
    await store().putPolicy(t.id, policy('reader'), now());
    assert.deepEqual(await store().listPolicies(t.id), [
      policy('reader'),
      policy('writer', 'w', ['EnrollmentRead', 'EnrollmentWrite']),
    ]);
    await store().putPolicy(t.id, policy('reader', 'k2', ['RegistrationStatusRead']), now());
    assert.deepEqual(
      (await store().listPolicies(t.id))[0],
      policy('reader', 'k2', ['RegistrationStatusRead']),
    );
  });

  it('finds a key name in every tenant, exactly as spelled, and forgets a deleted tenant', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    await store().putPolicy(a.id, policy('provisioningserviceowner', 'a'), now());
    await store().putPolicy(b.id, policy('provisioningserviceowner', 'b'), now());
    const found = await store().findPoliciesByName('provisioningserviceowner');
    const mine = found.filter((p) => p.tenantId === a.id || p.tenantId === b.id);
    assert.deepEqual(mine.map((p) => p.primaryKey).sort(), ['a-primary', 'b-primary']);
    assert.deepEqual(await store().findPoliciesByName('ProvisioningServiceOwner'), []);
    await a.remove();
    const left = await store().findPoliciesByName('provisioningserviceowner');
    assert.ok(!left.some((p) => p.tenantId === a.id));
    assert.ok(left.some((p) => p.tenantId === b.id));
  });
});
