/**
 * Adapts node:sqlite's DatabaseSync to the better-sqlite3 shape Kysely's SqliteDialect drives,
 * so the embedded store needs no native addon.
 */
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { WalCheckpointer } from './sqlite-checkpointer.ts';

function bindable(v: unknown): SQLInputValue {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Date) return v.toISOString();
  if (v === undefined) return null;
  return v as SQLInputValue;
}

class Statement implements SqliteStatement {
  readonly reader: boolean;
  private readonly stmt: StatementSync;
  private readonly fresh: () => StatementSync;
  /** Called after each run of a statement that may write (an insert with RETURNING reads too). */
  private readonly wrote: (() => void) | undefined;

  constructor(stmt: StatementSync, fresh: () => StatementSync, wrote: (() => void) | undefined) {
    this.stmt = stmt;
    this.fresh = fresh;
    this.reader = stmt.columns().length > 0;
    this.wrote = /^\s*select\b/i.test(stmt.sourceSQL) ? undefined : wrote;
  }

  all(parameters: ReadonlyArray<unknown>): unknown[] {
    const rows = this.stmt.all(...parameters.map(bindable));
    this.wrote?.();
    return rows;
  }

  run(parameters: ReadonlyArray<unknown>): { changes: number | bigint; lastInsertRowid: number | bigint } {
    const result = this.stmt.run(...parameters.map(bindable));
    this.wrote?.();
    return result;
  }

  iterate(parameters: ReadonlyArray<unknown>): IterableIterator<unknown> {
    // A cached statement may be in use by another open iterator: stream from a fresh one.
    return this.fresh().iterate(...parameters.map(bindable)) as IterableIterator<unknown>;
  }
}

const STATEMENT_CACHE_SIZE = 500;

/** How hard SQLite flushes a commit: NORMAL survives a process crash in WAL mode, FULL a power cut. */
export type SqliteSynchronous = 'normal' | 'full';

/** Opens a SQLite file in WAL mode with the settings a provisioning server wants; checkpoints run on a thread. */
export function openNodeSqlite(
  path: string,
  synchronous: SqliteSynchronous = 'normal',
  checkpointThread = true,
): SqliteDatabase & { raw: DatabaseSync } {
  const db = new DatabaseSync(path);
  // WAL lets readers run during writes; the busy timeout lets worker processes queue for the
  // writer. It comes first: switching to WAL waits for a connection that is closing (and
  // checkpointing) the same file, e.g. the server this process ran before a restart.
  db.exec(
    `PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = ${synchronous === 'full' ? 'FULL' : 'NORMAL'}; PRAGMA foreign_keys = ON;`,
  );
  const checkpointer = checkpointThread && path !== ':memory:' ? new WalCheckpointer(path, db) : undefined;
  const wrote = checkpointer ? () => checkpointer.wrote() : undefined;
  // Kysely prepares every query anew; parsing SQL was a visible share of a registration's CPU.
  const cache = new Map<string, Statement>();
  const prepare = (text: string): Statement => {
    // Kysely opens transactions DEFERRED. With several processes on one file, a transaction that
    // read first cannot take the write lock once another process committed (SQLITE_BUSY, no
    // waiting); IMMEDIATE takes it up front and waits its turn under the busy timeout.
    const sql = text === 'begin' ? 'begin immediate' : text;
    let st = cache.get(sql);
    if (!st) {
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.clear();
      st = new Statement(db.prepare(sql), () => db.prepare(sql), wrote);
      cache.set(sql, st);
    }
    return st;
  };
  return {
    raw: db,
    prepare,
    close: () => {
      checkpointer?.close();
      db.close();
    },
  };
}
