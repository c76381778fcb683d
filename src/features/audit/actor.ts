/**
 * Who is acting: set once where a request is authenticated (an admin API token, a device) and
 * read wherever something is audited, so "revoked by" needs no parameter through every call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

/** The caller an audit record names. */
export interface Actor {
  kind: 'token' | 'device' | 'system';
  /** Token id, or the device's registration ID or certificate SHA-256. */
  id: string;
  name?: string;
}

const SYSTEM: Actor = { kind: 'system', id: 'zerotouch' };
const storage = new AsyncLocalStorage<Actor>();

/** The actor of the current request, or the system (timers, start-up). */
export function currentActor(): Actor {
  return storage.getStore() ?? SYSTEM;
}

/** Makes `actor` the current one for the rest of this asynchronous flow (a request's hooks and handler). */
export function actAs(actor: Actor): void {
  storage.enterWith(actor);
}

/** Runs `fn` as `actor`. */
export function runAs<T>(actor: Actor, fn: () => T): T {
  return storage.run(actor, fn);
}
