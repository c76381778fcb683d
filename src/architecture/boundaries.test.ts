import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { findCycles, importsOf, localGraph, sourceFiles } from './import-graph.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const files = sourceFiles(root).filter((f) => !f.endsWith('.test.ts'));
const edges = files.flatMap((f) => importsOf(root, f));

/** The imports that break a rule, as "file -> target" lines. */
const offending = (from: (f: string) => boolean, target: (t: string, local: boolean) => boolean) =>
  edges.filter((e) => from(e.from) && target(e.target, e.local)).map((e) => `${e.from} -> ${e.target}`);

describe('the shape of the codebase', () => {
  it('reads imports of every kind and finds a cycle where there is one', () => {
    const server = importsOf(root, 'src/server.ts');
    assert.ok(server.some((e) => e.local && e.target === 'src/services.ts'));
    assert.ok(server.some((e) => !e.local && e.target === 'fastify'));
    const cli = importsOf(root, 'src/cli/main.ts');
    assert.ok(
      cli.some((e) => e.target === 'src/cli/server.ts'),
      'dynamic import() counts',
    );
    const g = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['a']],
    ]);
    assert.deepEqual(findCycles(g), [['a', 'b', 'c']]);
  });

  it('has no import cycle under src/ (npm run cycles)', () => {
    assert.deepEqual(findCycles(localGraph(root).graph), []);
  });

  it('keeps features free of transports, the CLI, fastify, aedes and MQTT', () => {
    const bad = offending(
      (f) => f.startsWith('src/features/'),
      (t, local) =>
        local
          ? t.startsWith('src/transports/') || t.startsWith('src/cli/') || t === 'src/server.ts'
          : t === 'fastify' || t.startsWith('@fastify/') || t === 'aedes' || t === 'mqtt',
    );
    assert.deepEqual(bad, []);
  });

  it('keeps transports off the stores: they call services', () => {
    const bad = offending(
      (f) => f.startsWith('src/transports/'),
      (t, local) => local && (t.startsWith('src/store/') || /^src\/features\/[^/]+\/store\.ts$/.test(t)),
    );
    assert.deepEqual(bad, []);
  });
});
