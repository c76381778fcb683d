import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { runDifferential } from './differential.ts';

const EXPECTED = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'fuzz', 'differential-expected.json'), 'utf8'),
) as Record<'zerotouch-only' | 'openssl-only', Record<string, string>>;

describe('differential against OpenSSL', () => {
  it('agrees with OpenSSL on 5,000 generated certificates, but for the disagreements listed with their reason', async (t) => {
    const report = await runDifferential(5000, 5000);
    t.diagnostic(
      `agreement ${report.agreed}/${report.total} (${((100 * report.agreed) / report.total).toFixed(1)}%): ` +
        `both accept ${report.bothAccepted}, both refuse ${report.bothRefused}`,
    );
    for (const d of report.disagreements)
      t.diagnostic(`${d.side} ${d.count} ${d.reason} (e.g. ${d.examples[0]})`);
    assert.deepEqual(report.bugs, [], 'zerotouch threw something other than a catalogued error');
    assert.ok(report.bothAccepted > 500, 'the generator makes valid certificates too');
    const unlisted = report.disagreements.filter((d) => !(d.reason in EXPECTED[d.side]));
    assert.deepEqual(
      unlisted.map((d) => `${d.side}: ${d.reason} (${d.count}, e.g. ${d.examples.join(', ')})`),
      [],
      'every disagreement is fixed or listed with its reason in fuzz/differential-expected.json',
    );
    // zerotouch never lets through what OpenSSL refuses.
    assert.deepEqual(
      report.disagreements.filter((d) => d.side === 'openssl-only').map((d) => d.reason),
      [],
    );
  });
});
