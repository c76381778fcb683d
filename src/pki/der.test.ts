import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZtError } from '../errors.ts';
import * as der from './der.ts';

describe('DER codec', () => {
  it('encodes integers minimally and positive', () => {
    assert.equal(der.integer(0).toString('hex'), '020100');
    assert.equal(der.integer(127).toString('hex'), '02017f');
    assert.equal(der.integer(128).toString('hex'), '02020080');
    assert.equal(der.integer(Buffer.from([0, 0, 0x80])).toString('hex'), '02020080');
    assert.equal(der.readSmallInt(der.read(der.integer(65537))), 65537);
  });

  it('round-trips object identifiers, including large arcs', () => {
    for (const o of ['1.2.840.113549.1.1.11', '2.5.29.37.0', '0.9.2342.19200300.100.1.25', '2.999.3']) {
      assert.equal(der.readOid(der.read(der.oid(o))), o);
    }
  });

  it('uses UTCTime through 2049 and GeneralizedTime from 2050', () => {
    const a = der.read(der.time(new Date('2049-12-31T23:59:59Z')));
    const b = der.read(der.time(new Date('2050-01-01T00:00:00Z')));
    assert.equal(a.tag, der.TAG.UTC_TIME);
    assert.equal(b.tag, der.TAG.GENERALIZED_TIME);
    assert.equal(der.readTime(a).toISOString(), '2049-12-31T23:59:59.000Z');
    assert.equal(der.readTime(b).toISOString(), '2050-01-01T00:00:00.000Z');
  });

  it('encodes long lengths', () => {
    const big = der.octetString(Buffer.alloc(300));
    assert.equal(big.subarray(0, 4).toString('hex'), '0482012c');
    assert.equal(der.read(big).content.length, 300);
  });

  it('rejects truncated input, trailing bytes and indefinite lengths with DER_MALFORMED', () => {
    const bad = [
      Buffer.from('3005020101', 'hex'),
      Buffer.from('30030201010000', 'hex'),
      Buffer.from('3080020101', 'hex'),
      Buffer.from('30', 'hex'),
    ];
    for (const b of bad) {
      assert.throws(
        () => der.children(der.read(b)),
        (e) => isZtError(e, 'DER_MALFORMED'),
      );
    }
  });
});
