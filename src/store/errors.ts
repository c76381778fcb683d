/** Recognises database errors that mean something to users, across both dialects. */

/** True for a unique-constraint violation in SQLite or PostgreSQL. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; message?: string; errcode?: number };
  return err?.code === '23505' || /UNIQUE constraint failed/.test(err?.message ?? '');
}

/** True for a PostgreSQL deadlock or serialization failure: the transaction may simply be run again. */
export function isRetryableConflict(e: unknown): boolean {
  const code = (e as { code?: string })?.code;
  return code === '40P01' || code === '40001';
}
