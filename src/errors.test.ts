import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_CATALOGUE, type ErrorCode, ZtError } from './errors.ts';
import { dpsErrorCode, dpsHttpStatus } from './features/provisioning/dps-error-codes.ts';
import { estHttpStatus } from './transports/device-https/est.ts';

describe('error catalogue', () => {
  it('documents every code with its HTTP status, DPS and EST mapping and what to do, in docs/errors.md', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', 'docs', 'errors.md'), 'utf8');
    const rows = new Map(
      doc
        .split('\n')
        .filter((l) => l.startsWith('| `'))
        .map((l) => {
          const cells = l.split('|').map((c) => c.trim());
          return [cells[1]!.replace(/`/g, ''), cells.slice(2, 6)] as const;
        }),
    );
    const codes = Object.keys(ERROR_CATALOGUE) as ErrorCode[];
    assert.deepEqual([...rows.keys()].sort(), [...codes].sort(), 'one row per code, no other rows');
    for (const code of codes) {
      const [http, dps, est, what] = rows.get(code)!;
      const e = new ZtError(code, '');
      assert.equal(http, String(ERROR_CATALOGUE[code].status), `${code}: admin HTTP status`);
      const dpsCode = code === 'WEBHOOK_FAILED' ? '4002xx' : String(dpsErrorCode(e));
      assert.equal(dps, `${dpsHttpStatus(e)} / ${dpsCode}`, `${code}: DPS mapping`);
      assert.equal(est, String(estHttpStatus(e)), `${code}: EST status`);
      assert.ok(what!.length > 20, `${code}: says what it means and what to do`);
    }
  });
});
