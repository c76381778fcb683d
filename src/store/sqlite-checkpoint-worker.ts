/**
 * The WAL checkpointer's thread (see sqlite-checkpointer.ts): one passive checkpoint of the store
 * file per request from the main thread, so the copy and its disk flushes never run on the event loop.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

const port = parentPort!;
const { path, shared } = workerData as { path: string; shared: Int32Array };
const db = new DatabaseSync(path);
// PASSIVE never waits for a lock: it copies what no reader still needs and leaves the rest.
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

port.on('message', (m: 'checkpoint' | 'stop') => {
  if (m === 'stop') {
    db.close();
    port.close();
    // The main thread waits for this before it closes its own connection.
    Atomics.store(shared, 1, 1);
    Atomics.notify(shared, 1);
    return;
  }
  try {
    checkpoint.get();
  } catch {
    // Another process's checkpoint holds the file (server.workers): a later request tries again.
  } finally {
    Atomics.store(shared, 0, 0);
  }
});
