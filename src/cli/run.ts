/** Shared CLI plumbing: turn thrown errors into a one-line message and an exit code. */
import { InvalidArgumentError } from 'commander';
import { isZtError } from '../errors.ts';

/** Wraps a command action so that catalogued errors print "error [CODE]: message" and exit 1. */
export function action<A extends unknown[]>(fn: (...args: A) => unknown): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (e) {
      if (isZtError(e)) {
        process.stderr.write(`error [${e.code}]: ${e.message}\n`);
      } else {
        const err = e as NodeJS.ErrnoException;
        process.stderr.write(
          `error: ${err.code === 'ENOENT' ? `file not found: ${err.path}` : err.message}\n`,
        );
      }
      process.exitCode = 1;
    }
  };
}

/** Commander parser for a whole-number option; commander names the option in its message. */
export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`must be a whole number, got "${v}"`);
  return n;
}
