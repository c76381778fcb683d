import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { it } from 'node:test';
import { createLogger } from '../../logger.ts';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { AuditTrail } from './service.ts';
import { AuditStore } from './store.ts';

describeEachStore('audit records noted without waiting', (getStore) => {
  /** A trail over the test store whose inserts are counted and can be made to fail. */
  function trail() {
    const store = new AuditStore(getStore().db);
    const calls = { inserts: 0, failing: false };
    const append = store.append.bind(store);
    store.append = async (records) => {
      calls.inserts++;
      if (calls.failing) throw new Error('the database is down');
      return append(records);
    };
    const logs: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
    const events: string[] = [];
    const t = new AuditTrail(store, {
      logger: createLogger('info', sink),
      events: (_tenant, _action, record) => events.push(record.target),
    });
    return { t, calls, logs, events };
  }

  it('writes the records of one turn with one insert, in order, and their events after', async () => {
    const tenant = await newTenant(getStore());
    const { t, calls, events } = trail();
    for (let i = 0; i < 250; i++)
      t.note({ tenantId: tenant.id, action: 'registration.assigned', target: `registration/d${i}` });
    assert.equal(calls.inserts, 0, 'nothing is written before the turn ends');
    await t.flush();
    assert.equal(calls.inserts, 1);
    t.note({ tenantId: tenant.id, action: 'registration.assigned', target: 'registration/last' });
    await t.stop();
    assert.equal(calls.inserts, 2, 'stop writes what is still noted');
    const rows = await t.list(tenant.id, { max: 1000 });
    assert.deepEqual(
      rows.map((r) => r.target),
      [...Array.from({ length: 250 }, (_, i) => `registration/d${i}`), 'registration/last'],
    );
    assert.ok(rows.every((r, i) => i === 0 || r.seq > rows[i - 1]!.seq));
    assert.equal(events.length, 251);
  });

  it('writes the others of a turn when the store refuses one record of it', async () => {
    const tenant = await newTenant(getStore());
    const store = new AuditStore(getStore().db);
    const append = store.append.bind(store);
    store.append = async (records) => {
      if (records.some((r) => r.input.target === 'registration/refused'))
        throw new Error('value too long for type character varying');
      return append(records);
    };
    const logs: string[] = [];
    const sink = new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) });
    const t = new AuditTrail(store, { logger: createLogger('info', sink) });
    for (const target of ['registration/a', 'registration/refused', 'registration/b'])
      t.note({ tenantId: tenant.id, action: 'registration.assigned', target });
    await t.flush();
    assert.deepEqual(
      (await t.list(tenant.id, {})).map((r) => r.target),
      ['registration/a', 'registration/b'],
    );
    const warned = logs.filter((l) => l.includes('an audit record could not be stored'));
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /registration\/refused/);
  });

  it('logs records it could not store, sends no event for them, and writes later ones once the store is back', async () => {
    const tenant = await newTenant(getStore());
    const { t, calls, logs, events } = trail();
    calls.failing = true;
    t.note({ tenantId: tenant.id, action: 'registration.assigned', target: 'registration/lost-1' });
    t.note({ tenantId: tenant.id, action: 'registration.failed', target: 'registration/lost-2' });
    await t.flush();
    const warned = logs.filter((l) => l.includes('an audit record could not be stored'));
    assert.equal(warned.length, 2);
    assert.match(warned[1]!, /registration\/lost-2/);
    assert.deepEqual(events, []);
    calls.failing = false;
    t.note({ tenantId: tenant.id, action: 'registration.assigned', target: 'registration/kept' });
    await t.flush();
    assert.deepEqual(
      (await t.list(tenant.id, {})).map((r) => r.target),
      ['registration/kept'],
    );
    assert.deepEqual(events, ['registration/kept']);
  });
});
