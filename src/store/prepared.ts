/**
 * Queries built and compiled once, then run with new values: Kysely otherwise builds and
 * compiles every query anew, which was an eighth of a registration's CPU (its builders and
 * compiler, for the fifteen queries of one registration). The SQL and the operation tree are
 * kept; only the parameter values change from call to call.
 */
import { createHash } from 'node:crypto';
import { type Compilable, createQueryId, type Kysely, type QueryResult } from 'kysely';

/** The statement name of each prepared query's SQL (PostgreSQL runs those as named statements). */
const statementNames = new Map<string, string>();

/** The name a prepared query's SQL runs under as a named statement, or undefined. */
export function statementName(sql: string): string | undefined {
  return statementNames.get(sql);
}

/** Runs `sql` unnamed from now on (the server refused its cached plan). */
export function forgetStatementName(sql: string): void {
  statementNames.delete(sql);
}

/** A value that stands for the i-th argument while the query is compiled once. */
const mark = (i: number) => `\u0000ZeroTouch-Prepared-Argument-${i}\u0000`;

/** Where the i-th argument goes among the parameters. */
class Slot {
  readonly index: number;
  constructor(index: number) {
    this.index = index;
  }
}

/**
 * Returns `run(...args)`, which executes the query `build(...args)` would make, compiling it only
 * on the first call. `build` must put each argument into the query as a value, unchanged (no
 * idKey or JSON.stringify inside: do that before calling), and the query's shape must not
 * depend on the values; other values it uses stay as they were at the first call.
 */
export function prepared<A extends unknown[], R>(
  db: Kysely<any>,
  build: (...args: A) => Compilable<R>,
  /** How many arguments; needed when `build` takes them as a rest parameter. */
  arity = build.length,
): (...args: A) => Promise<QueryResult<R>> {
  let compiled:
    { sql: string; query: ReturnType<Compilable<R>['compile']>['query']; slots: unknown[] } | undefined;
  return (...args: A) => {
    if (!compiled) {
      const marks = Array.from({ length: arity }, (_, i) => mark(i));
      const c = build(...(marks as A)).compile();
      const slots = c.parameters.map((p) => {
        const i = typeof p === 'string' ? marks.indexOf(p) : -1;
        return i >= 0 ? new Slot(i) : p;
      });
      // An argument that did not come through as a value, or came through changed (a value
      // made from it), would be frozen at its first call's value: refuse the builder.
      const used = new Set(c.parameters);
      const lost = marks.findIndex((m) => !used.has(m));
      if (lost >= 0) throw new Error(`prepared query: argument ${lost} is not a parameter of: ${c.sql}`);
      const changed = c.parameters.find(
        (p) => typeof p === 'string' && p.includes('\u0000') && !marks.includes(p),
      );
      if (changed !== undefined)
        throw new Error(`prepared query: a parameter is made from an argument: ${c.sql}`);
      compiled = { sql: c.sql, query: c.query, slots };
      statementNames.set(c.sql, `zt_${createHash('sha256').update(c.sql).digest('hex').slice(0, 24)}`);
    }
    const parameters = compiled.slots.map((s) => (s instanceof Slot ? args[s.index] : s));
    return db.executeQuery<R>({
      sql: compiled.sql,
      query: compiled.query,
      parameters,
      queryId: createQueryId(),
    });
  };
}
