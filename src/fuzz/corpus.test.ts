import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadCertificates } from '../pki/certificate.ts';
import { mutateMany, Rng } from './mutate.ts';
import { type Outcome, runTarget, setCertificateAnchors, TARGETS } from './targets.ts';

const CORPUS = join(import.meta.dirname, '..', '..', 'fuzz', 'corpus');
setCertificateAnchors(loadCertificates(readFileSync(join(CORPUS, 'anchors', 'root.pem'))));

const files = (target: string) => {
  const dir = join(CORPUS, target);
  return existsSync(dir) ? readdirSync(dir).sort() : [];
};

function describeOutcome(o: Outcome): string {
  if (o.kind === 'accepted') return 'accepted';
  if (o.kind === 'refused') return `refused ${o.code}${o.rule ? ` (${o.rule})` : ''}: ${o.message}`;
  return `BUG: ${(o.error as Error)?.stack ?? String(o.error)}`;
}

describe('fuzz regression corpus (fuzz/corpus)', () => {
  for (const t of TARGETS) {
    it(`${t.name}: every committed input gets its recorded answer, never an uncatalogued error`, () => {
      const names = files(t.name);
      assert.ok(
        names.some((n) => n.startsWith('accept--')),
        `fuzz/corpus/${t.name} needs at least one accepted seed`,
      );
      for (const name of names) {
        const outcome = runTarget(t, readFileSync(join(CORPUS, t.name, name)));
        assert.notEqual(outcome.kind, 'bug', `${t.name}/${name}: ${describeOutcome(outcome)}`);
        if (name.startsWith('accept--')) {
          assert.equal(outcome.kind, 'accepted', `${t.name}/${name}: ${describeOutcome(outcome)}`);
        } else if (name.startsWith('refuse--')) {
          const want = name.replace(/\.[a-z0-9]+$/, '').split('--')[1]!;
          assert.ok(
            outcome.kind === 'refused' && (outcome.rule === want || outcome.code === want),
            `${t.name}/${name}: expected refusal ${want}, got ${describeOutcome(outcome)}`,
          );
        }
      }
    });
  }

  it('a short mutation round over every target finds no uncatalogued error (npm run fuzz runs longer)', () => {
    const rng = new Rng(20261201);
    for (const t of TARGETS) {
      const seeds = files(t.name).map((n) => readFileSync(join(CORPUS, t.name, n)));
      for (let i = 0; i < 300; i++) {
        const input = mutateMany(rng.pick(seeds), rng, seeds);
        const o = runTarget(t, input);
        assert.notEqual(
          o.kind,
          'bug',
          `${t.name}: input ${input.subarray(0, 64).toString('hex')}... (${input.length} bytes): ${describeOutcome(o)}`,
        );
      }
    }
  });
});
