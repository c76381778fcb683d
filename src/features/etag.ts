/** ETags in the Azure style (a quoted UUID) and If-Match comparison that tolerates quoting. */
import { randomUUID } from 'node:crypto';

/** A fresh etag value. */
export function newEtag(): string {
  return `"${randomUUID()}"`;
}

const bare = (e: string) =>
  e
    .trim()
    .replace(/^W\//, '')
    .replace(/^"(.*)"$/, '$1');

/** True when an If-Match value (possibly `*`, possibly unquoted) allows writing over `current`. */
export function etagMatches(ifMatch: string, current: string): boolean {
  return ifMatch
    .split(',')
    .map((x) => x.trim())
    .some((x) => x === '*' || bare(x) === bare(current));
}
