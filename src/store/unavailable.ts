/**
 * Store outages as one catalogued error: a dialect wrapper turns every driver error that means
 * "the database cannot be reached right now" (a refused or dropped PostgreSQL connection, a
 * PostgreSQL shutdown, a busy or failing SQLite file) into STORE_UNAVAILABLE, which every face
 * answers with 503 and Retry-After. Other errors pass through unchanged.
 */
import type {
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  QueryCompiler,
  QueryResult,
  TransactionSettings,
} from 'kysely';
import { ZtError } from '../errors.ts';

/** Seconds clients are told to wait when the store is down. */
export const STORE_RETRY_AFTER_SECONDS = 5;

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  // PostgreSQL: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections
  '57P01',
  '57P02',
  '57P03',
  '53300',
]);
const PG_MESSAGES =
  /Connection terminated|connection error|not queryable|timeout exceeded when trying to connect|Client was closed|Connection ended|Connection closed/i;
// SQLite primary result codes: BUSY, LOCKED, IOERR, FULL, CANTOPEN.
const SQLITE_CODES = new Set([5, 6, 10, 13, 14]);

/** True when a driver error means the database cannot be reached or used right now. */
export function isStoreUnavailable(e: unknown): boolean {
  const err = e as { code?: unknown; errcode?: unknown; message?: unknown };
  if (!err || typeof err !== 'object') return false;
  const code = typeof err.code === 'string' ? err.code : '';
  if (NETWORK_CODES.has(code) || code.startsWith('08')) return true;
  if (code === 'ERR_SQLITE_ERROR' && typeof err.errcode === 'number')
    return SQLITE_CODES.has(err.errcode & 0xff);
  return typeof err.message === 'string' && PG_MESSAGES.test(err.message);
}

const outageObservers = new Set<() => void>();

/** Calls `f` on each query that fails for an outage (metrics); returns how to stop. */
export function onStoreUnavailable(f: () => void): () => void {
  outageObservers.add(f);
  return () => outageObservers.delete(f);
}

/** The error to throw for `e`: STORE_UNAVAILABLE for an outage, `e` itself otherwise. */
export function storeError(e: unknown): unknown {
  if (!isStoreUnavailable(e)) return e;
  for (const f of outageObservers) f();
  return new ZtError(
    'STORE_UNAVAILABLE',
    `the store is not reachable right now; retry in ${STORE_RETRY_AFTER_SECONDS} seconds`,
    { retryAfter: STORE_RETRY_AFTER_SECONDS },
    `the store is not reachable: ${(e as Error).message}`,
  );
}

function rethrow(e: unknown): never {
  throw storeError(e);
}

/** The promise, with an outage error replaced by STORE_UNAVAILABLE (one extra promise, no await). */
function mapped<T>(p: Promise<T>): Promise<T> {
  return p.catch(rethrow);
}

class Connection implements DatabaseConnection {
  readonly inner: DatabaseConnection;

  constructor(inner: DatabaseConnection) {
    this.inner = inner;
  }

  executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    return mapped(this.inner.executeQuery<R>(q));
  }

  async *streamQuery<R>(q: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    try {
      yield* this.inner.streamQuery<R>(q, chunkSize);
    } catch (e) {
      throw storeError(e);
    }
  }
}

const innerOf = (c: DatabaseConnection) => (c instanceof Connection ? c.inner : c);

class UnavailableDriver implements Driver {
  private readonly d: Driver;

  constructor(d: Driver) {
    this.d = d;
  }

  init(): Promise<void> {
    return mapped(this.d.init());
  }
  async acquireConnection(): Promise<DatabaseConnection> {
    return new Connection(await mapped(this.d.acquireConnection()));
  }
  beginTransaction(c: DatabaseConnection, s: TransactionSettings): Promise<void> {
    return mapped(this.d.beginTransaction(innerOf(c), s));
  }
  commitTransaction(c: DatabaseConnection): Promise<void> {
    return mapped(this.d.commitTransaction(innerOf(c)));
  }
  rollbackTransaction(c: DatabaseConnection): Promise<void> {
    return mapped(this.d.rollbackTransaction(innerOf(c)));
  }
  savepoint(c: DatabaseConnection, name: string, compile: QueryCompiler['compileQuery']): Promise<void> {
    return mapped(this.d.savepoint!(innerOf(c), name, compile));
  }
  rollbackToSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return mapped(this.d.rollbackToSavepoint!(innerOf(c), name, compile));
  }
  releaseSavepoint(
    c: DatabaseConnection,
    name: string,
    compile: QueryCompiler['compileQuery'],
  ): Promise<void> {
    return mapped(this.d.releaseSavepoint!(innerOf(c), name, compile));
  }
  releaseConnection(c: DatabaseConnection): Promise<void> {
    return this.d.releaseConnection(innerOf(c));
  }
  destroy(): Promise<void> {
    return this.d.destroy();
  }
}

/** A dialect whose driver reports outages as STORE_UNAVAILABLE. */
export function reportingOutages(dialect: Dialect): Dialect {
  return {
    createAdapter: () => dialect.createAdapter(),
    createDriver: () => new UnavailableDriver(dialect.createDriver()),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
  };
}
