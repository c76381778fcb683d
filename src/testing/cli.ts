/** Test helper: runs the real `zerotouch` CLI in a child process against a test server. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { TestServer } from './server.ts';

const main = join(import.meta.dirname, '..', 'cli', 'main.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The server a CLI runner talks to: its admin URL and data directory (for the admin token). */
export type CliTarget = Pick<TestServer, 'adminUrl'> & { config: { dataDir: string } };

/** Returns `zt(...args)` (any exit code) and `ok(...args)` (asserts exit 0, returns stdout). */
export function cliRunner(server: () => CliTarget, cwd: string) {
  async function zt(...args: string[]): Promise<CliResult> {
    try {
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [main, ...args], {
        cwd,
        env: {
          ...process.env,
          ZEROTOUCH_URL: server().adminUrl,
          ZEROTOUCH_DATA_DIR: server().config.dataDir,
        },
      });
      return { code: 0, stdout, stderr };
    } catch (e) {
      const err = e as { code: number; stdout: string; stderr: string };
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  }
  async function ok(...args: string[]): Promise<string> {
    const r = await zt(...args);
    assert.equal(r.code, 0, `zerotouch ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  }
  return { zt, ok };
}
