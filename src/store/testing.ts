/**
 * Runs one contract suite against every store dialect: SQLite in a temp file, and PostgreSQL
 * (ZEROTOUCH_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432/test) in a throw-away database.
 * Without a reachable PostgreSQL the PostgreSQL half is skipped with the reason, except under CI,
 * where that is a failure.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pg from 'pg';
import { openMigratedStore, type Store } from './database.ts';

export const TEST_PG_URL = process.env.ZEROTOUCH_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

async function postgresReachable(): Promise<string | null> {
  const client = new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    await client.query('select 1');
    return null;
  } catch (e) {
    return (e as Error).message || String(e);
  } finally {
    await client.end().catch(() => {});
  }
}

const pgProblem = await postgresReachable();

/** A fresh, migrated store of the given dialect and a function that removes it. */
export async function createTestStore(
  dialect: 'sqlite' | 'postgres',
): Promise<{ store: Store; dispose: () => Promise<void> }> {
  if (dialect === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'zt-store-'));
    const store = await openMigratedStore({ url: '', dataDir: dir });
    return {
      store,
      dispose: async () => {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const db = await createTestDatabase();
  const store = await openMigratedStore({ url: db.url, dataDir: '', poolSize: 5 });
  return {
    store,
    dispose: async () => {
      await store.close();
      await db.dispose();
    },
  };
}

/** True when the PostgreSQL of the tests can be reached (and why not, otherwise). */
export const postgresProblem = (): string | null => pgProblem;

/**
 * A throw-away PostgreSQL database: its URL and a function that drops it. A database of its
 * own, not a schema: Kysely's migrator reads the catalogue of the whole database, which fails
 * while another test process drops its schema.
 */
export async function createTestDatabase(): Promise<{ url: string; dispose: () => Promise<void> }> {
  const database = `zt_test_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = async (q: string) => {
    const c = new pg.Client({ connectionString: TEST_PG_URL });
    await c.connect();
    try {
      await c.query(q);
    } finally {
      await c.end();
    }
  };
  await admin(`create database ${database}`);
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${database}`;
  return { url: url.toString(), dispose: () => admin(`drop database if exists ${database} with (force)`) };
}

/** Declares `suite` once per dialect; `getStore()` returns that dialect's fresh store. */
export function describeEachStore(name: string, suite: (getStore: () => Store) => void): void {
  for (const dialect of ['sqlite', 'postgres'] as const) {
    const skip =
      dialect === 'postgres' && pgProblem !== null && !process.env.CI
        ? `PostgreSQL at ${TEST_PG_URL} is not reachable (${pgProblem}); start it or set ZEROTOUCH_TEST_PG_URL`
        : false;
    describe(`${name} [${dialect}]`, { skip }, () => {
      let current: Store | undefined;
      let dispose: (() => Promise<void>) | undefined;
      before(async () => {
        if (dialect === 'postgres' && pgProblem)
          throw new Error(`PostgreSQL at ${TEST_PG_URL} is not reachable: ${pgProblem}`);
        ({ store: current, dispose } = await createTestStore(dialect));
      });
      after(async () => {
        await dispose?.();
      });
      suite(() => {
        if (!current) throw new Error('store not ready');
        return current;
      });
    });
  }
}
