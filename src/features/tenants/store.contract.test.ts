import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { migrate } from '../../store/database.ts';
import { describeEachStore } from '../../store/testing.ts';
import { TenantService } from './service.ts';
import { KyselyTenantStore } from './store.ts';

describeEachStore('tenant and token store', (getStore) => {
  const service = () => new TenantService(new KyselyTenantStore(getStore().db));

  it('migrates idempotently', async () => {
    assert.deepEqual(await migrate(getStore()), []);
    assert.equal(await getStore().ping(), true);
  });

  it('creates, finds by id or scope, lists and deletes tenants', async () => {
    const s = service();
    const a = await s.createTenant({ name: 'factory A' });
    assert.match(a.idScope, /^0ne[0-9A-F]{8}$/);
    const b = await s.createTenant({ name: 'factory B', idScope: '0neCUSTOM01' });
    assert.equal((await s.getTenant('0neCUSTOM01')).id, b.id);
    assert.equal((await s.getTenant(a.id)).name, 'factory A');
    const names = (await s.listTenants()).map((t) => t.name);
    assert.ok(names.includes('factory A') && names.includes('factory B'));
    await s.deleteTenant(b.idScope);
    await assert.rejects(s.getTenant(b.idScope), (e) => isZtError(e, 'NOT_FOUND'));
  });

  it('refuses a duplicate ID scope, also when two requests race', async () => {
    const s = service();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, () => s.createTenant({ name: 'race', idScope: '0neRACE0001' })),
    );
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results)
      if (r.status === 'rejected') assert.ok(isZtError(r.reason, 'CONFLICT'), String(r.reason));
  });

  it('issues tokens that authenticate, and refuses revoked, expired and unknown ones', async () => {
    const s = service();
    const { token, secret } = await s.createToken({ name: 'ci', scopes: ['read'] });
    const p = await s.authenticate(secret);
    assert.equal(p.tokenId, token.id);
    assert.deepEqual(p.scopes, ['read']);
    await assert.rejects(s.authenticate(secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A')), (e) =>
      isZtError(e, 'UNAUTHENTICATED'),
    );
    await assert.rejects(s.authenticate('Bearer nonsense'), (e) => isZtError(e, 'UNAUTHENTICATED'));
    await s.revokeToken(token.id);
    await assert.rejects(
      s.authenticate(secret),
      (e) => isZtError(e, 'UNAUTHENTICATED') && /revoked/.test(e.message),
    );
    await assert.rejects(s.revokeToken(token.id), (e) => isZtError(e, 'CONFLICT'));
    const old = await s.createToken({ name: 'old', expiresAt: '2020-01-01T00:00:00Z' });
    await assert.rejects(
      s.authenticate(old.secret),
      (e) => isZtError(e, 'UNAUTHENTICATED') && /expired/.test(e.message),
    );
    assert.ok((await s.countTokens()) >= 2);
  });

  it('deletes a tenant together with its tokens', async () => {
    const s = service();
    const t = await s.createTenant({ name: 'short-lived' });
    const { secret } = await s.createToken({ name: 'scoped', tenant: t.idScope, scopes: ['write'] });
    assert.equal((await s.authenticate(secret)).tenantId, t.id);
    await s.deleteTenant(t.id);
    await assert.rejects(s.authenticate(secret), (e) => isZtError(e, 'UNAUTHENTICATED'));
  });
});
