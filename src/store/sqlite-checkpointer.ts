/**
 * Moves SQLite's WAL checkpoints off the event loop. By default SQLite checkpoints inside the
 * commit that grows the WAL past 1,000 pages: that commit copies the pages into the database and
 * flushes both files, stalling every connection the process serves for milliseconds (4-8 ms per
 * checkpoint on the project's VM disk, more on a slow disk). Here a worker thread with its own
 * connection checkpoints whenever enough writes have piled up, and the main connection's own
 * automatic checkpoint only backs it up at a larger WAL.
 */
import { Worker } from 'node:worker_threads';
import type { DatabaseSync } from 'node:sqlite';

/** Writes between checkpoints: light use (a CLI command, a test) never starts the thread. */
const WRITES_PER_CHECKPOINT = 64;
/** The main connection's own checkpoint, for when the thread falls behind: about 40 MB of WAL. */
export const BACKSTOP_PAGES = 10_000;
/** SQLite's default, restored if the thread fails. */
const SQLITE_DEFAULT_PAGES = 1_000;

/** Requests passive checkpoints of `path` from a worker thread as writes accumulate. */
export class WalCheckpointer {
  private pending = 0;
  private worker: Worker | undefined;
  private failed = false;
  /**
   * Shared with the thread, so no event-loop turn is needed: [0] is 1 from a request until the
   * thread has run it, [1] turns 1 once the thread's connection is closed.
   */
  private readonly shared = new Int32Array(new SharedArrayBuffer(8));
  private readonly path: string;
  private readonly db: DatabaseSync;

  constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.db = db;
    db.exec(`PRAGMA wal_autocheckpoint = ${BACKSTOP_PAGES}`);
  }

  /** Counts one write statement; every WRITES_PER_CHECKPOINT, asks the thread for a checkpoint. */
  wrote(): void {
    if (++this.pending < WRITES_PER_CHECKPOINT || this.failed) return;
    // A checkpoint still running will be followed by one at the next write.
    if (Atomics.load(this.shared, 0) === 1) return;
    this.pending = 0;
    Atomics.store(this.shared, 0, 1);
    (this.worker ??= this.start()).postMessage('checkpoint');
  }

  /**
   * Stops the thread and waits (at most 5 s) until its connection is closed, so the main
   * connection closes last: it alone then does the final checkpoint and removes the WAL, and the
   * files are settled when the store's close returns (a restart reopens them, a test deletes them).
   */
  close(): void {
    this.failed = true;
    const worker = this.worker;
    this.worker = undefined;
    if (!worker) return;
    worker.postMessage('stop');
    Atomics.wait(this.shared, 1, 0, 5000);
  }

  private start(): Worker {
    const worker = new Worker(new URL('./sqlite-checkpoint-worker.ts', import.meta.url), {
      workerData: { path: this.path, shared: this.shared },
    });
    worker.unref();
    // Without the thread, SQLite checkpoints on the main connection again, as by default.
    worker.on('error', () => this.fallBack());
    worker.on('exit', () => {
      if (this.worker === worker) this.fallBack();
    });
    return worker;
  }

  private fallBack(): void {
    if (this.failed) return;
    this.failed = true;
    this.worker = undefined;
    try {
      this.db.exec(`PRAGMA wal_autocheckpoint = ${SQLITE_DEFAULT_PAGES}`);
    } catch {
      // the main connection is closed already
    }
  }
}
