import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';

describe('last resort', () => {
  it('logs an uncaught exception and an unhandled rejection, and the process carries on', () => {
    const script = `
      import { installLastResort } from ${JSON.stringify(new URL('./last-resort.ts', import.meta.url).href)};
      import { createLogger } from ${JSON.stringify(new URL('./logger.ts', import.meta.url).href)};
      installLastResort(process, createLogger('info'));
      setTimeout(() => { throw new Error('thrown from a timer'); }, 5);
      setTimeout(() => { Promise.reject(new Error('rejected and never caught')); }, 10);
      setTimeout(() => { console.log('still serving'); }, 50);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    // The log lines and the last console line may interleave on a loaded machine; all must be there.
    assert.ok(lines.includes('still serving'), r.stdout);
    const logged = lines.filter((l) => l !== 'still serving').map((l) => JSON.parse(l));
    assert.deepEqual(
      logged.map((l) => [l.origin, l.err.message]),
      [
        ['uncaughtException', 'thrown from a timer'],
        ['unhandledRejection', 'rejected and never caught'],
      ],
    );
  });
});
