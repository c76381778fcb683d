// A prepared query gives the rows the same query built each time would give, for every call's
// values, and refuses a builder that does not pass an argument through as a value.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { prepared } from './prepared.ts';
import { describeEachStore } from './testing.ts';

describeEachStore('prepared queries', (getStore) => {
  it('runs with each call’s values, keeps constants, and matches the query built anew', async () => {
    const db = getStore().db;
    const now = new Date().toISOString();
    for (const [id, scope] of [
      ['t-1', '0nePREP0001'],
      ['t-2', '0nePREP0002'],
    ]) {
      await db
        .insertInto('tenants')
        .values({ id, id_scope: scope, name: `n-${id}`, created_at: now })
        .execute();
    }
    const find = prepared(db, (idOrScope: string) =>
      db
        .selectFrom('tenants')
        .select(['id', 'name'])
        .where((eb) => eb.or([eb('id', '=', idOrScope), eb('id_scope', '=', idOrScope)]))
        // A constant of the builder stays in the query.
        .where('name', 'like', 'n-%'),
    );
    for (const key of ['t-1', '0nePREP0002', 't-2', 'missing', '0nePREP0001']) {
      const built = await db
        .selectFrom('tenants')
        .select(['id', 'name'])
        .where((eb) => eb.or([eb('id', '=', key), eb('id_scope', '=', key)]))
        .where('name', 'like', 'n-%')
        .execute();
      assert.deepEqual((await find(key)).rows, built, key);
    }
    // Writes too: an upsert whose values appear twice (insert and update).
    const rename = prepared(db, (id: string, scope: string, name: string) => {
      const values = { name };
      return db
        .insertInto('tenants')
        .values({ id, id_scope: scope, name, created_at: now })
        .onConflict((oc) => oc.column('id').doUpdateSet(values));
    });
    await rename('t-1', '0nePREP0001', 'renamed');
    await rename('t-3', '0nePREP0003', 'third');
    const rows = await db.selectFrom('tenants').select(['id', 'name']).orderBy('id').execute();
    assert.deepEqual(
      rows.filter((r) => r.id.startsWith('t-')).map((r) => ({ ...r })),
      [
        { id: 't-1', name: 'renamed' },
        { id: 't-2', name: 'n-t-2' },
        { id: 't-3', name: 'third' },
      ],
    );
  });

  it('refuses a builder that changes an argument instead of passing it as a value', async () => {
    const db = getStore().db;
    const bad = prepared(db, (id: string) =>
      db.selectFrom('tenants').select('id').where('id', '=', id.toLowerCase()),
    );
    await assert.rejects(async () => bad('T-1'), /argument 0 is not a parameter/);
    const derived = prepared(db, (id: string) =>
      db.selectFrom('tenants').select('id').where('id', '=', id).where('id_scope', '=', `0ne${id}`),
    );
    await assert.rejects(async () => derived('t-1'), /a parameter is made from an argument/);
  });
});
