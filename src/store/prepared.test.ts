// A prepared query gives the rows the same query built each time would give, for every call's
// values, and refuses a builder that does not pass an argument through as a value. On PostgreSQL
// it runs as a named statement, and unnamed once the server refuses the statement's cached plan.
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sql } from 'kysely';
import { prepared, statementName } from './prepared.ts';
import { openStore } from './database.ts';
import { createTestDatabase, describeEachStore } from './testing.ts';

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

  it('runs as a named statement on PostgreSQL, and unnamed once a table it reads changes shape', async (t) => {
    const store = getStore();
    if (store.dialect !== 'postgres') return t.skip('named statements are a PostgreSQL matter');
    // One connection throughout: prepared statements belong to the connection.
    await store.db.connection().execute(async (db) => {
      await sql`create table prep_shape (a int)`.execute(db);
      await sql`insert into prep_shape values (1), (2)`.execute(db);
      const rowsOf = prepared(db, (a: number) =>
        (db as any).selectFrom('prep_shape').selectAll().where('a', '=', a),
      );
      assert.deepEqual((await rowsOf(1)).rows, [{ a: 1 }]);
      assert.deepEqual((await rowsOf(2)).rows, [{ a: 2 }]);
      const named = await sql<{ name: string; statement: string }>`
        select name, statement from pg_prepared_statements where name like 'zt\_%' and statement like '%prep_shape%'`.execute(
        db,
      );
      assert.equal(named.rows.length, 1, JSON.stringify(named.rows));
      const text = named.rows[0]!.statement;
      assert.match(text, /prep_shape/);
      assert.equal(statementName(text), named.rows[0]!.name);
      // The server refuses the cached plan of `select *` after a column is added: run it unnamed.
      await sql`alter table prep_shape add column b int`.execute(db);
      assert.deepEqual((await rowsOf(2)).rows, [{ a: 2, b: null }]);
      assert.equal(statementName(text), undefined);
      assert.deepEqual((await rowsOf(1)).rows, [{ a: 1, b: null }]);
    });
  });

  it('runs unnamed on PostgreSQL with store.postgres_prepared_statements = false', async (t) => {
    if (getStore().dialect !== 'postgres') return t.skip('named statements are a PostgreSQL matter');
    const database = await createTestDatabase();
    const store = openStore({ url: database.url, dataDir: '', postgresPreparedStatements: false });
    try {
      await store.db.connection().execute(async (db) => {
        const now = prepared(db, (tag: string) => (db as any).selectNoFrom(sql<string>`${tag}`.as('tag')));
        assert.deepEqual((await now('unnamed-1')).rows, [{ tag: 'unnamed-1' }]);
        assert.deepEqual((await now('unnamed-2')).rows, [{ tag: 'unnamed-2' }]);
        const named = await sql`select name from pg_prepared_statements`.execute(db);
        assert.deepEqual(named.rows, []);
      });
    } finally {
      await store.close();
      await database.dispose();
    }
  });
});
