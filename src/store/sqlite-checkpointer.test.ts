import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { openMigratedStore, type Store } from './database.ts';
import { DatabaseSync } from 'node:sqlite';
import type { Worker } from 'node:worker_threads';
import { BACKSTOP_PAGES, WalCheckpointer } from './sqlite-checkpointer.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

async function freshStore(): Promise<{ store: Store; dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'zt-checkpoint-'));
  dirs.push(dir);
  const store = await openMigratedStore({ url: '', dataDir: dir });
  await sql`create table filler (n integer primary key, body text not null)`.execute(store.db);
  return { store, dir };
}

/** Inserts `rows` rows of 8 KB, yielding now and then as a server's event loop does. */
async function fill(store: Store, from: number, rows: number): Promise<void> {
  const body = 'x'.repeat(8192);
  for (let n = from; n < from + rows; n++) {
    await sql`insert into filler (n, body) values (${n}, ${body})`.execute(store.db);
    if (n % 20 === 0) await sleep(1);
  }
}

describe('SQLite WAL checkpoints off the event loop', () => {
  it('copies a busy WAL into the database from a thread, long before the commit-time backstop', async () => {
    const { store, dir } = await freshStore();
    try {
      const { rows } = await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(store.db);
      assert.equal(rows[0].wal_autocheckpoint, BACKSTOP_PAGES);
      const file = join(dir, 'zerotouch.db');
      const before = statSync(file).size;
      // About 3 MB of WAL: far under the backstop (40 MB), so only the thread can have copied it.
      await fill(store, 0, 400);
      let grown = 0;
      for (let i = 0; i < 50 && grown < 3_000_000; i++) {
        await sleep(100);
        grown = statSync(file).size - before;
      }
      assert.ok(
        grown >= 3_000_000,
        `the database file grew by ${grown} bytes, expected the checkpointed rows`,
      );
    } finally {
      await store.close();
    }
  });

  it('loses nothing when the store closes while a checkpoint was just requested', async () => {
    const { store, dir } = await freshStore();
    await fill(store, 0, 200);
    await sleep(120);
    await fill(store, 200, 100);
    await store.close();
    const again = await openMigratedStore({ url: '', dataDir: dir });
    try {
      const { rows } = await sql<{ c: number }>`select count(*) as c from filler`.execute(again.db);
      assert.equal(Number(rows[0].c), 300);
    } finally {
      await again.close();
    }
  });

  it('closes the thread before the main connection, so the files are settled when close returns', async () => {
    const { store, dir } = await freshStore();
    await store.close();
    const file = join(dir, 'zerotouch.db');
    for (let round = 0; round < 5; round++) {
      const db = new DatabaseSync(file);
      const checkpointer = new WalCheckpointer(file, db);
      db.exec(`insert into filler (n, body) values (${round}, 'x')`);
      for (let i = 0; i < 64; i++) checkpointer.wrote();
      await sleep(100); // the thread is up and has checkpointed
      checkpointer.close();
      db.close();
      // Only the last connection to close removes the WAL: here that must be the main one.
      assert.equal(existsSync(`${file}-wal`), false, `round ${round}: the WAL is still there`);
    }
    // A restart on the same directory right away (the server's own restart does this).
    const again = await openMigratedStore({ url: '', dataDir: dir });
    await again.close();
  });

  it('gives the checkpoints back to SQLite on the main connection when the thread dies', async () => {
    const { store, dir } = await freshStore();
    await store.close();
    const db = new DatabaseSync(join(dir, 'zerotouch.db'));
    const pages = () =>
      (db.prepare('pragma wal_autocheckpoint').get() as { wal_autocheckpoint: number }).wal_autocheckpoint;
    const checkpointer = new WalCheckpointer(join(dir, 'zerotouch.db'), db);
    try {
      assert.equal(pages(), BACKSTOP_PAGES);
      for (let i = 0; i < 64; i++) checkpointer.wrote();
      const worker = (checkpointer as unknown as { worker: Worker }).worker;
      assert.ok(worker, 'the thread starts after 64 writes');
      const exited = new Promise((r) => worker.once('exit', r));
      await worker.terminate();
      await exited;
      assert.equal(pages(), 1000, "SQLite's own checkpoint threshold is back");
      for (let i = 0; i < 200; i++) checkpointer.wrote();
      assert.equal((checkpointer as unknown as { worker?: Worker }).worker, undefined, 'no new thread');
    } finally {
      checkpointer.close();
      db.close();
    }
  });
});
