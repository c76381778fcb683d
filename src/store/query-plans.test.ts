// Every registration list and query is one index range read in list order, at any depth: the
// plan the database chooses for the store's own SQL never scans the table or sorts it. (The scale
// bench measures the time at a million devices: `npm run bench -- scale`.)
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { type CompiledQuery, type KyselyPlugin, sql } from 'kysely';
import { KyselyRegistrationStore } from '../features/provisioning/store.ts';
import type { Store } from './database.ts';
import { describeEachStore } from './testing.ts';

/** Runs `list` on a store that records the SQL it sends, and returns each query's plan text. */
async function plansOf(
  store: Store,
  list: (s: KyselyRegistrationStore) => Promise<unknown>,
): Promise<string[]> {
  const seen: CompiledQuery[] = [];
  const executor = store.db.getExecutor();
  const recorder: KyselyPlugin = {
    transformQuery(args) {
      seen.push(executor.compileQuery(args.node, args.queryId));
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  await list(new KyselyRegistrationStore(store.db.withPlugin(recorder)));
  const plans: string[] = [];
  for (const q of seen) {
    if (store.dialect === 'sqlite') {
      const rows = await store.db.executeQuery<{ detail: string }>({
        ...q,
        sql: `explain query plan ${q.sql}`,
      });
      plans.push(rows.rows.map((x) => x.detail).join('\n'));
    } else {
      const rows = await store.db.connection().execute(async (c) => {
        // On a near-empty table the planner scans anyway; forbid it to see whether an index serves.
        await sql`set enable_seqscan = off`.execute(c);
        try {
          return await c.executeQuery<{ 'QUERY PLAN': string }>({ ...q, sql: `explain ${q.sql}` });
        } finally {
          await sql`set enable_seqscan = on`.execute(c);
        }
      });
      plans.push(rows.rows.map((x) => x['QUERY PLAN']).join('\n'));
    }
  }
  return plans;
}

describeEachStore('registration list plans', (getStore) => {
  const cases: Array<[string, (s: KyselyRegistrationStore) => Promise<unknown>]> = [
    ['all, first page', (s) => s.listRegistrations('t1', 100)],
    [
      'all, a deep page',
      (s) => s.listRegistrations('t1', 100, Buffer.from('["dev-500000"]').toString('base64url')),
    ],
    [
      'one group (the service API query)',
      (s) => s.listRegistrations('t1', 100, undefined, { groupId: 'fleet' }),
    ],
    [
      'one group, a deep page',
      (s) =>
        s.listRegistrations('t1', 100, Buffer.from('["dev-500000"]').toString('base64url'), {
          groupId: 'fleet',
        }),
    ],
    ['one status', (s) => s.listRegistrations('t1', 100, undefined, { status: 'failed' })],
  ];
  for (const [name, list] of cases) {
    it(`${name}: an index range in list order, no scan, no sort`, async () => {
      const plans = await plansOf(getStore(), list);
      assert.ok(plans.length > 0);
      for (const p of plans) {
        assert.doesNotMatch(p, /SCAN registrations|Seq Scan on registrations/, p);
        assert.doesNotMatch(p, /USE TEMP B-TREE FOR ORDER BY|Sort\b/, p);
        assert.match(p, /USING (COVERING )?INDEX|PRIMARY KEY|Index (Only )?Scan/, p);
      }
    });
  }
});
