/** Paging of lists: a page of items and an opaque continuation token (today an offset). */
import { ZtError } from '../errors.ts';

/** Page of results with an opaque continuation token. */
export interface Page<T> {
  items: T[];
  continuation?: string;
}

/** Limit and offset for a page request: `max` 1-1000 (default 100), a token from the last page. */
export function pageArgs(
  max: number | undefined,
  continuation: string | undefined,
): { limit: number; offset: number } {
  const offset = continuation ? Number.parseInt(continuation, 10) : 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new ZtError('BAD_REQUEST', 'continuation token is not valid');
  return { limit: Math.min(Math.max(max ?? 100, 1), 1000), offset };
}

/** The page of `rows` (read with limit + 1) and the token for the next one. */
export function pageOf<R, T>(rows: R[], limit: number, offset: number, map: (r: R) => T): Page<T> {
  return {
    items: rows.slice(0, limit).map(map),
    continuation: rows.length > limit ? String(offset + limit) : undefined,
  };
}
