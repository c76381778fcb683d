/**
 * Paging of lists: a page of items and an opaque continuation token. The token is the last key
 * the page held (keyset paging), so a deep page costs what the first does and a list walked to
 * its end is read once.
 */
import { type RawBuilder, sql } from 'kysely';
import { ZtError } from '../errors.ts';

/** Page of results with an opaque continuation token. */
export interface Page<T> {
  items: T[];
  continuation?: string;
}

type Key = Array<string | number>;

const BAD_TOKEN =
  'continuation token is not valid: pass the one the last page returned, or none to start again';

/** Limit and the key to start after, for a page request: `max` 1-1000 (default 100), a token from the last page. */
export function pageArgs(
  max: number | undefined,
  continuation: string | undefined,
): { limit: number; after?: Key } {
  const limit = Math.min(Math.max(max ?? 100, 1), 1000);
  if (!continuation) return { limit };
  let key: unknown;
  try {
    if (continuation.length > 2048) throw new Error('too long');
    key = JSON.parse(Buffer.from(continuation, 'base64url').toString('utf8'));
  } catch {
    throw new ZtError('BAD_REQUEST', BAD_TOKEN);
  }
  const ok =
    Array.isArray(key) &&
    key.length >= 1 &&
    key.length <= 4 &&
    key.every((k) => (typeof k === 'string' && k.length <= 512) || Number.isSafeInteger(k));
  if (!ok) throw new ZtError('BAD_REQUEST', BAD_TOKEN);
  return { limit, after: key as Key };
}

/** The condition "the row's (columns) come after `key`" in a list sorted by them, ascending or descending. */
export function after(columns: string[], key: Key, order: 'asc' | 'desc' = 'asc'): RawBuilder<boolean> {
  if (key.length !== columns.length) throw new ZtError('BAD_REQUEST', BAD_TOKEN);
  const cols = sql.join(columns.map((c) => sql.ref(c)));
  return order === 'asc'
    ? sql<boolean>`(${cols}) > (${sql.join(key)})`
    : sql<boolean>`(${cols}) < (${sql.join(key)})`;
}

/** The page of `rows` (read with limit + 1) and the token for the next one: the last row's key. */
export function pageOf<R, T>(rows: R[], limit: number, keyOf: (r: R) => Key, map: (r: R) => T): Page<T> {
  const page = rows.slice(0, limit);
  return {
    items: page.map(map),
    continuation:
      rows.length > limit
        ? Buffer.from(JSON.stringify(keyOf(page.at(-1)!))).toString('base64url')
        : undefined,
  };
}
