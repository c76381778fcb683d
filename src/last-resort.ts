/**
 * The process-level last resort of `zerotouch server`: an error that every hook, handler and
 * listener let through is logged with its stack and the process keeps serving, since one
 * device's bytes must never end the service for all the others. Every such line is a bug to fix.
 */
import type { Logger } from 'pino';

/** Installs the last resort on `proc`; returns a function that removes it. */
export function installLastResort(proc: NodeJS.Process, logger: Logger): () => void {
  const onException = (err: Error, origin: string) =>
    logger.error({ err, origin }, 'uncaught error: zerotouch keeps serving; please report this log line');
  const onRejection = (reason: unknown) =>
    logger.error(
      { err: reason instanceof Error ? reason : new Error(String(reason)), origin: 'unhandledRejection' },
      'uncaught error: zerotouch keeps serving; please report this log line',
    );
  proc.on('uncaughtException', onException);
  proc.on('unhandledRejection', onRejection);
  return () => {
    proc.off('uncaughtException', onException);
    proc.off('unhandledRejection', onRejection);
  };
}
