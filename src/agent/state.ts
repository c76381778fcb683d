/**
 * The agent's state directory. Credentials are written as a generation (cert.pem and key.pem in
 * a new directory, fsynced) and committed by renaming one small pointer file, so a crash at any
 * point leaves either the old pair or the new pair, never half of one.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface StoredCredential {
  certPem: string;
  keyPem: string;
  /** Generation directory name. */
  generation: string;
}

export interface Assignment {
  registrationId: string;
  assignedHub: string;
  deviceId: string;
  /** What the custom allocation webhook returned (aziot drops it; the agent keeps it). */
  payload?: unknown;
  substatus?: string;
  /** SHA-256 of the certificate that registered. */
  certificateSha256: string;
  assignedAt: string;
}

export interface AgentStatus {
  state: 'starting' | 'assigned' | 'failed' | 'offline';
  message: string;
  nextRenewal?: string;
  updatedAt: string;
}

/** Writes a file and fsyncs it before returning. */
function writeSynced(path: string, content: string, mode: number): void {
  const fd = openSync(path, 'w', mode);
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Atomically replaces `path` (write, fsync, rename). */
export function writeAtomic(path: string, content: string, mode = 0o600): void {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  writeSynced(tmp, content, mode);
  renameSync(tmp, path);
}

/** One agent state directory. */
export class AgentState {
  readonly dir: string;
  /** Test hook: called between the steps of a credential commit, to simulate a crash. */
  crashPoint?: (step: 'before-commit') => void;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
  }

  private pointer(name: string): string {
    return join(this.dir, `${name}.current`);
  }

  /** The committed credential `name` (e.g. "device-identity", "est-identity"), if any. */
  readCredential(name: string): StoredCredential | undefined {
    const p = this.pointer(name);
    if (!existsSync(p)) return undefined;
    const generation = readFileSync(p, 'utf8').trim();
    const dir = join(this.dir, name, generation);
    try {
      return {
        certPem: readFileSync(join(dir, 'cert.pem'), 'utf8'),
        keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'),
        generation,
      };
    } catch {
      return undefined;
    }
  }

  /** Writes a new generation of a credential and commits it; older generations are removed. */
  writeCredential(name: string, certPem: string, keyPem: string): void {
    const generation = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
    const dir = join(this.dir, name, generation);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeSynced(join(dir, 'key.pem'), keyPem, 0o600);
    writeSynced(join(dir, 'cert.pem'), certPem, 0o644);
    this.crashPoint?.('before-commit');
    writeAtomic(this.pointer(name), generation + '\n');
    for (const old of readdirSync(join(this.dir, name))) {
      if (old !== generation) rmSync(join(this.dir, name, old), { recursive: true, force: true });
    }
  }

  readJson<T>(name: string): T | undefined {
    const p = join(this.dir, `${name}.json`);
    if (!existsSync(p)) return undefined;
    try {
      return JSON.parse(readFileSync(p, 'utf8')) as T;
    } catch {
      return undefined;
    }
  }

  writeJson(name: string, value: unknown): void {
    writeAtomic(join(this.dir, `${name}.json`), JSON.stringify(value, null, 2) + '\n', 0o644);
  }

  removeJson(name: string): void {
    rmSync(join(this.dir, `${name}.json`), { force: true });
  }

  get logFile(): string {
    return join(this.dir, 'agent.log');
  }
}
