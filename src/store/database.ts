/** Opens the store: SQLite (node:sqlite, WAL) by default, PostgreSQL for a postgres:// URL; runs migrations. */
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Kysely, PostgresDialect, SqliteDialect, sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import pg from 'pg';
import { ZtError } from '../errors.ts';
import { migrationProvider } from './migrations.ts';
import { openNodeSqlite, type SqliteSynchronous } from './node-sqlite.ts';
import { namedStatementPool } from './pg-statements.ts';
import { reportingOutages } from './unavailable.ts';
import type { Database } from './schema.ts';

export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Kysely<Database>;
  dialect: Dialect;
  /** Where the data lives, with any password removed (for logs). */
  location: string;
  /** True when the store answers a trivial query. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** "" or "sqlite:<path>" or a file path for SQLite; "postgres://..." for PostgreSQL. */
  url: string;
  /** Where the default SQLite file goes. */
  dataDir: string;
  /** Pool size for PostgreSQL. */
  poolSize?: number;
  /** SQLite's synchronous level (store.sqlite_synchronous); NORMAL when absent. */
  sqliteSynchronous?: SqliteSynchronous;
  /** SQLite: WAL checkpoints on a worker thread (true when absent); false only for the bench's baseline. */
  sqliteCheckpointThread?: boolean;
  /** PostgreSQL: run prepared queries as named statements (store.postgres_prepared_statements); true when absent. */
  postgresPreparedStatements?: boolean;
}

/** URL with the password replaced, safe to log. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/** Opens the store described by `opts` (without migrating). */
export function openStore(opts: StoreOptions): Store {
  if (/^postgres(ql)?:\/\//.test(opts.url)) {
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      // During an outage a request fails in seconds with 503 instead of waiting for a socket.
      connectionTimeoutMillis: 5000,
    });
    // A client that loses its connection, idle or checked out, emits 'error'; with no listener
    // that ends the process. The query in flight fails on its own and the pool drops the client.
    pool.on('error', () => {});
    pool.on('connect', (client) => client.on('error', () => {}));
    const db = new Kysely<Database>({
      dialect: reportingOutages(
        new PostgresDialect({
          pool: opts.postgresPreparedStatements === false ? pool : namedStatementPool(pool),
        }),
      ),
    });
    return wrap(db, 'postgres', redactUrl(opts.url));
  }
  const path =
    opts.url === '' ? join(opts.dataDir, 'zerotouch.db') : resolve(opts.url.replace(/^sqlite:(\/\/)?/, ''));
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  ownerOnly(path);
  const database = openNodeSqlite(path, opts.sqliteSynchronous, opts.sqliteCheckpointThread ?? true);
  // The WAL and shared-memory files hold the same data (SAS keys, password hashes).
  for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const db = new Kysely<Database>({ dialect: reportingOutages(new SqliteDialect({ database })) });
  return wrap(db, 'sqlite', path);
}

/** Creates the database file readable by its owner only, or narrows an existing one to that. */
function ownerOnly(path: string): void {
  if (existsSync(path)) chmodSync(path, 0o600);
  else closeSync(openSync(path, 'a', 0o600));
}

function wrap(db: Kysely<Database>, dialect: Dialect, location: string): Store {
  return {
    db,
    dialect,
    location,
    async ping() {
      try {
        await sql`select 1`.execute(db);
        return true;
      } catch {
        return false;
      }
    },
    close: () => db.destroy(),
  };
}

/** Applies pending migrations; throws STORE_UNAVAILABLE with the reason when it cannot. */
export async function migrate(store: Store, o: { allowUnordered?: boolean } = {}): Promise<string[]> {
  // Kysely looks for its own tables in every schema it can see unless told which one: with a
  // second zerotouch (or a test) in another schema of the database it would find theirs.
  let migrationTableSchema: string | undefined;
  if (store.dialect === 'postgres') {
    try {
      const r = await sql<{ s: string }>`select current_schema() as s`.execute(store.db);
      migrationTableSchema = r.rows[0]?.s ?? undefined;
    } catch {
      // unreachable: the migration below reports it
    }
  }
  const migrator = new Migrator({
    db: store.db,
    provider: migrationProvider,
    migrationTableSchema,
    allowUnorderedMigrations: o.allowUnordered ?? false,
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const reason = (error as Error).message || String(error);
    throw new ZtError('STORE_UNAVAILABLE', `store at ${store.location} could not be migrated: ${reason}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Opens and migrates in one step. */
export async function openMigratedStore(opts: StoreOptions): Promise<Store> {
  const store = openStore(opts);
  try {
    await migrate(store);
  } catch (e) {
    await store.close().catch(() => {});
    throw e;
  }
  return store;
}
