import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { newOperationId, operationCreatedAt } from './operation-id.ts';

describe('DPS operation IDs checked by any node', () => {
  const key = randomBytes(32);

  it('keeps the DPS shape and says when it was made, for its own binding only', () => {
    const id = newOperationId(key, 'tenant\ndev-1\ntbs', 1_800_000_000_123);
    assert.match(id, /^5\.[0-9a-f]{16}\.[0-9a-f-]{36}$/);
    assert.equal(operationCreatedAt(key, id, 'tenant\ndev-1\ntbs'), 1_800_000_000_123);
    assert.equal(operationCreatedAt(key, id, 'tenant\ndev-2\ntbs'), undefined);
    assert.equal(operationCreatedAt(key, id, 'other\ndev-1\ntbs'), undefined);
    assert.equal(operationCreatedAt(randomBytes(32), id, 'tenant\ndev-1\ntbs'), undefined);
  });

  it('refuses every changed character and every string that is not one (never throws)', () => {
    const id = newOperationId(key, 'b');
    for (let i = 0; i < id.length; i++) {
      const c = id[i] === 'a' ? 'b' : 'a';
      assert.equal(operationCreatedAt(key, id.slice(0, i) + c + id.slice(i + 1), 'b'), undefined, `at ${i}`);
    }
    fc.assert(fc.property(fc.string(), (s) => operationCreatedAt(key, s, 'b') === undefined));
  });
});
