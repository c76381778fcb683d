import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { certificatePem } from '../../pki/certificate.ts';
import { describeEachStore } from '../../store/testing.ts';
import { makeRoot } from '../../testing/pki.ts';
import { newTenant } from '../../testing/store.ts';
import { certificateDetails, KyselyCaStore } from './store.ts';
import type { CaCertificate } from './types.ts';

const root = makeRoot('Contract Root');
const other = makeRoot('Other Root');

function ca(name: string, c = root, verified = false): CaCertificate {
  const now = new Date().toISOString();
  return {
    name,
    certificate: certificatePem(c.cert),
    ...certificateDetails(c.cert),
    isVerified: verified,
    etag: '"e1"',
    createdDateTimeUtc: now,
    lastUpdatedDateTimeUtc: now,
  };
}

describeEachStore('CA certificate store', (getStore) => {
  const store = () => new KyselyCaStore(getStore().db);

  it('stores a CA and finds it by name in any case, with details read back from the certificate', async () => {
    const t = await newTenant(getStore());
    await store().insertCa(t.id, ca('Plant-Root'));
    const got = await store().findCa(t.id, 'plant-root');
    assert.equal(got?.name, 'Plant-Root');
    assert.equal(got?.sha256Thumbprint, root.cert.sha256);
    assert.equal(got?.subject, 'CN=Contract Root');
    assert.equal(got?.isVerified, false);
    assert.equal(await store().findCa(t.id, 'nope'), undefined);
  });

  it('refuses a second CA of the same name or the same certificate in a tenant with CONFLICT', async () => {
    const t = await newTenant(getStore());
    await store().insertCa(t.id, ca('a'));
    await assert.rejects(store().insertCa(t.id, ca('A', other)), (e) => isZtError(e, 'CONFLICT'));
    await assert.rejects(store().insertCa(t.id, ca('b')), (e) => isZtError(e, 'CONFLICT'));
    const raced = await Promise.allSettled([1, 2, 3, 4].map(() => store().insertCa(t.id, ca('race', other))));
    assert.equal(raced.filter((r) => r.status === 'fulfilled').length, 1);
  });

  it('keeps tenants apart: the same certificate and name in two tenants are two CAs', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    await store().insertCa(a.id, ca('shared', root, true));
    assert.equal(await store().findCa(b.id, 'shared'), undefined);
    assert.deepEqual(await store().listCas(b.id), []);
    await store().insertCa(b.id, ca('shared'));
    assert.equal((await store().findCa(a.id, 'shared'))?.isVerified, true);
    assert.equal((await store().findCa(b.id, 'shared'))?.isVerified, false);
    assert.equal(await store().deleteCa(b.id, 'shared'), true);
    assert.ok(await store().findCa(a.id, 'shared'));
  });

  it('updates verification state, lists by name and deletes', async () => {
    const t = await newTenant(getStore());
    await store().insertCa(t.id, ca('zeta', other));
    await store().insertCa(t.id, ca('Alpha'));
    const code = {
      ...ca('alpha'),
      verificationCode: 'ABC',
      verificationCodeExpiresUtc: '2030-01-01T00:00:00.000Z',
    };
    await store().updateCa(t.id, { ...code, etag: '"e2"' });
    const mid = await store().findCa(t.id, 'ALPHA');
    assert.equal(mid?.verificationCode, 'ABC');
    assert.equal(mid?.etag, '"e2"');
    await store().updateCa(t.id, { ...ca('Alpha'), isVerified: true, etag: '"e3"' });
    const done = await store().findCa(t.id, 'alpha');
    assert.equal(done?.isVerified, true);
    assert.equal(done?.verificationCode, undefined);
    assert.deepEqual(
      (await store().listCas(t.id)).map((c) => c.name),
      ['Alpha', 'zeta'],
    );
    assert.equal(await store().deleteCa(t.id, 'ZETA'), true);
    assert.equal(await store().deleteCa(t.id, 'zeta'), false);
  });

  it('goes with its tenant', async () => {
    const t = await newTenant(getStore());
    await store().insertCa(t.id, ca('gone'));
    await t.remove();
    assert.deepEqual(await store().listCas(t.id), []);
  });
});
