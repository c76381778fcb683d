import assert from 'node:assert/strict';
import { it } from 'node:test';
import { newTenant } from '../testing/store.ts';
import { migrate } from './database.ts';
import { describeEachStore } from './testing.ts';

describeEachStore('migrations', (getStore) => {
  it('0005 leaves one default EST label, the latest written, where a race had left several', async () => {
    const store = getStore();
    const db = store.db;
    const t = await newTenant(store);
    // Back to the state before 0005, with the damage the race could do.
    await db.schema.dropIndex('est_labels_one_default').execute();
    await db
      .deleteFrom('kysely_migration' as never)
      .where('name' as never, '=', '0005_one_default_est_label' as never)
      .execute();
    const row = (label: string, at: string) => ({
      label_key: label,
      tenant_id: t.id,
      doc: JSON.stringify({ label, default: true }),
      is_default: 1,
      updated_at: at,
    });
    await db
      .insertInto('est_labels')
      .values([
        row('old', '2026-01-01T00:00:00.000Z'),
        row('newest', '2026-03-01T00:00:00.000Z'),
        row('mid', '2026-02-01T00:00:00.000Z'),
      ])
      .execute();
    // Later migrations already ran in this database; only 0005 is run again.
    assert.deepEqual(await migrate(store, { allowUnordered: true }), ['0005_one_default_est_label']);
    const defaults = await db
      .selectFrom('est_labels')
      .select('label_key')
      .where('is_default', '=', 1)
      .execute();
    assert.deepEqual(
      defaults.map((d) => d.label_key),
      ['newest'],
    );
    await assert.rejects(
      db.updateTable('est_labels').set({ is_default: 1 }).where('label_key', '=', 'old').execute(),
    );
  });
});
