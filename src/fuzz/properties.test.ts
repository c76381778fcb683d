import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isZtError } from '../errors.ts';
import { parseTomlText } from '../config/toml.ts';
import { readRegisterBody } from '../features/provisioning/register-body.ts';
import { parseCertificate } from '../pki/certificate.ts';
import { createCsr, parseCsr } from '../pki/csr.ts';
import * as der from '../pki/der.ts';
import { generateKey } from '../pki/keys.ts';
import { decodeName, encodeName, namesEqual } from '../pki/names.ts';
import { OID } from '../pki/oids.ts';
import { decodeInput, parsePem, toPem } from '../pki/pem.ts';
import { forgeCertificate } from '../testing/forge.ts';
import { makeRoot } from '../testing/pki.ts';

const runs = { numRuns: 300, seed: 20261201 };

/** Asserts that `fn` returns or throws a ZtError with one of `codes`. */
function onlyRefuses(fn: () => unknown, codes: string[]): void {
  try {
    fn();
  } catch (e) {
    assert.ok(isZtError(e), `not a catalogued error: ${(e as Error)?.stack ?? String(e)}`);
    assert.ok(codes.includes(e.code), `unexpected code ${e.code}: ${e.message}`);
  }
}

/** Re-encodes a decoded node from its parts; strict DER means this gives back the same bytes. */
function reencode(n: der.Node): Buffer {
  return der.tlv(n.tag, n.constructed ? Buffer.concat(der.children(n).map(reencode)) : n.content);
}

const dottedOid = fc
  .tuple(
    fc.integer({ min: 0, max: 2 }),
    fc.integer({ min: 0, max: 39 }),
    fc.array(fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }), fc.bigInt({ min: 0n, max: 2n ** 64n })), {
      maxLength: 8,
    }),
  )
  .map(([a, b, rest]) => [a, b, ...rest].join('.'));

const value: fc.Arbitrary<Buffer> = fc.letrec<{ v: Buffer }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    fc.bigInt({ min: 0n, max: 2n ** 160n }).map((n) => der.integer(n)),
    fc.uint8Array({ maxLength: 40 }).map((b) => der.octetString(Buffer.from(b))),
    fc.boolean().map(der.bool),
    fc.constant(der.NULL),
    dottedOid.map(der.oid),
    fc.string({ maxLength: 20 }).map(der.utf8),
    fc
      .date({
        min: new Date('1950-01-01T00:00:00Z'),
        max: new Date('9999-12-31T23:59:59Z'),
        noInvalidDate: true,
      })
      .map((d) => der.time(new Date(Math.floor(d.getTime() / 1000) * 1000))),
    fc.array(tie('v'), { maxLength: 4 }).map((xs) => der.seq(...xs)),
    fc.array(tie('v'), { maxLength: 4 }).map((xs) => der.setOf(...xs)),
  ),
})).v;

describe('property tests of the parsers of outside input', () => {
  it('DER: what the writer writes, the reader reads back to the same bytes', () => {
    fc.assert(
      fc.property(value, (v) => {
        assert.ok(reencode(der.read(v)).equals(v));
      }),
      runs,
    );
  });

  it('DER: any bytes are refused with DER_MALFORMED or read canonically (one encoding per value)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        const b = Buffer.from(bytes);
        try {
          const n = der.read(b);
          assert.ok(reencode(n).equals(b), 'a value the reader accepts has exactly one encoding');
        } catch (e) {
          assert.ok(isZtError(e, 'DER_MALFORMED'), String(e));
        }
      }),
      { ...runs, numRuns: 2000 },
    );
  });

  it('OIDs: dotted text round-trips, and any accepted encoding is the minimal one', () => {
    fc.assert(
      fc.property(dottedOid, (o) => assert.equal(der.readOid(der.read(der.oid(o))), o)),
      runs,
    );
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 24 }), (bytes) => {
        const node = der.read(der.tlv(der.TAG.OID, Buffer.from(bytes)));
        try {
          const text = der.readOid(node);
          // Arcs like 0.45 are not writable; everything the reader returns re-encodes exactly.
          const [a, b] = text.split('.').map(Number);
          if (a! < 2 && b! >= 40) return;
          assert.ok(der.oid(text).equals(node.raw), `${text} re-encodes to other bytes`);
        } catch (e) {
          assert.ok(isZtError(e, 'DER_MALFORMED'), String(e));
        }
      }),
      { ...runs, numRuns: 2000 },
    );
  });

  it('times: every RFC 5280 time reads back as written, and text that is not one is refused', () => {
    fc.assert(
      fc.property(
        fc.date({
          min: new Date('1950-01-01T00:00:00Z'),
          max: new Date('9999-12-31T23:59:59Z'),
          noInvalidDate: true,
        }),
        (d) => {
          const whole = new Date(Math.floor(d.getTime() / 1000) * 1000);
          assert.equal(der.readTime(der.read(der.time(whole))).getTime(), whole.getTime());
        },
      ),
      runs,
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 16 }), fc.boolean(), (s, utc) => {
        const node = der.read(
          der.tlv(utc ? der.TAG.UTC_TIME : der.TAG.GENERALIZED_TIME, Buffer.from(s, 'latin1')),
        );
        try {
          const d = der.readTime(node);
          assert.ok(!Number.isNaN(d.getTime()));
          assert.match(s, utc ? /^\d{12}Z$/ : /^\d{14}Z$/);
        } catch (e) {
          assert.ok(isZtError(e, 'DER_MALFORMED'), String(e));
        }
      }),
      { ...runs, numRuns: 1000 },
    );
  });

  it('certificates: a mutated certificate is refused as CERT_MALFORMED or read without normalising a byte', () => {
    const root = makeRoot('Property Root');
    const cert = forgeCertificate(root);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (edits) => {
          const b = Buffer.from(cert);
          for (const [i, v] of edits) b[i % b.length] = v;
          try {
            const c = parseCertificate(b);
            assert.ok(c.der.equals(b));
          } catch (e) {
            assert.ok(isZtError(e, 'CERT_MALFORMED'), String(e));
          }
        },
      ),
      { ...runs, numRuns: 2000 },
    );
  });

  it('CSRs: a mutated request is refused with a CSR or PEM error, never anything else', () => {
    const csr = createCsr(generateKey('p256'), { CN: 'dev-01' }, [{ type: 'dns', value: 'dev-01.example' }]);
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (edits) => {
          const b = Buffer.from(csr);
          for (const [i, v] of edits) b[i % b.length] = v;
          onlyRefuses(() => parseCsr(b), ['CSR_MALFORMED', 'PEM_MALFORMED']);
        },
      ),
      { ...runs, numRuns: 1000 },
    );
  });

  it('PEM: any text is read or refused with PEM_MALFORMED, and any DER survives a PEM round trip', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => onlyRefuses(() => parsePem(s), ['PEM_MALFORMED'])),
      { ...runs, numRuns: 2000 },
    );
    fc.assert(
      fc.property(
        fc.array(
          fc.constantFrom(
            '-----BEGIN CERTIFICATE-----\n',
            '-----END CERTIFICATE-----\n',
            'AAAA',
            '\n',
            ':',
            '-----',
          ),
          {
            maxLength: 40,
          },
        ),
        (parts) =>
          onlyRefuses(() => decodeInput(parts.join(''), ['CERTIFICATE'], 'a certificate'), ['PEM_MALFORMED']),
      ),
      runs,
    );
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const [block] = parsePem(toPem('CERTIFICATE', Buffer.from(bytes)));
        assert.ok(block!.der.equals(Buffer.from(bytes)));
      }),
      runs,
    );
  });

  it('names: RFC 5280 7.1 equality ignores string type, case and extra spaces, and is symmetric', () => {
    const word = fc.stringMatching(/^[A-Za-z0-9]{1,8}( [A-Za-z0-9]{1,8}){0,2}$/);
    fc.assert(
      fc.property(word, (w) => {
        const printable = decodeName(
          der.read(
            der.seq(
              der.setOf(
                der.seq(der.oid(OID.commonName), der.printable(` ${w.toUpperCase().replace(/ /g, '   ')} `)),
              ),
            ),
          ),
        );
        const utf8 = decodeName(der.read(encodeName({ CN: w.toLowerCase() })));
        assert.ok(namesEqual(printable, utf8) && namesEqual(utf8, printable));
        const other = decodeName(der.read(encodeName({ CN: `${w}x` })));
        assert.ok(!namesEqual(utf8, other));
      }),
      runs,
    );
  });

  it('DPS register bodies: any JSON value is accepted or refused with a catalogued error', () => {
    fc.assert(
      fc.property(
        fc.jsonValue(),
        fc.option(fc.constantFrom('2021-06-01', '2025-07-01-preview')),
        (body, apiVersion) => {
          onlyRefuses(
            () => readRegisterBody(body, 'dev-01', apiVersion ?? undefined),
            ['BAD_REQUEST', 'REGISTRATION_ID_MISMATCH'],
          );
        },
      ),
      { ...runs, numRuns: 1000 },
    );
  });

  it('TOML configuration: any text is read or refused with CONFIG_INVALID', () => {
    fc.assert(
      fc.property(
        fc.string({
          maxLength: 200,
          unit: fc.constantFrom('[', ']', '=', '"', "'", '.', 'a', '1', '\n', ' ', '{', '}', ',', '#'),
        }),
        (s) => onlyRefuses(() => parseTomlText(s, 'fuzz.toml'), ['CONFIG_INVALID']),
      ),
      { ...runs, numRuns: 2000 },
    );
  });
});
