/**
 * Input mutation for the fuzz suite: a seeded random source, byte-level mutations, DER-aware
 * ones (length forms, tags, nesting) and text ones (tokens that PEM, JSON and TOML readers care
 * about). Outputs stay under MAX_FUZZ_BYTES.
 */
import * as der from '../pki/der.ts';

/** Largest input the fuzz suite makes (the budget is stated for inputs up to 1 MiB). */
export const MAX_FUZZ_BYTES = 1024 * 1024;

/** A small fast seeded PRNG (mulberry32), so every run can be replayed from its seed. */
export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0;
  }
  /** A float in [0, 1). */
  next(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }
}

const INTERESTING = [
  0x00, 0x01, 0x02, 0x05, 0x06, 0x0c, 0x13, 0x17, 0x18, 0x30, 0x31, 0x7f, 0x80, 0x81, 0x82, 0x84, 0xa0, 0xa3,
  0xff,
];
const TOKENS = [
  '-----BEGIN CERTIFICATE-----\n',
  '-----END CERTIFICATE-----\n',
  '-----BEGIN ',
  '-----',
  'Proc-Type: 4,ENCRYPTED\n',
  '=',
  '==',
  '\n',
  '\r\n',
  '[',
  ']',
  '[[',
  '{',
  '}',
  '"',
  "'",
  '"""',
  '.',
  ',',
  '#',
  '\\u0000',
  '\u0000',
  'null',
  '1e400',
  '__proto__',
  'constructor',
  '&sig=',
  '&se=99999999999',
  '/registrations/',
  'api-version=2025-07-01-preview',
];

/** Offsets of the TLV headers in `buf`, found by reading it as DER as far as that goes. */
function tlvOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  const visit = (b: Buffer, base: number, depth: number) => {
    let pos = 0;
    while (pos < b.length && out.length < 4096) {
      let n: der.Node;
      try {
        n = der.readAt(b, pos);
      } catch {
        return;
      }
      out.push(base + pos);
      if (n.constructed && depth < 32)
        visit(n.content, base + pos + (n.raw.length - n.content.length), depth + 1);
      pos += n.raw.length;
    }
  };
  visit(buf, 0, 0);
  return out;
}

/** Re-encodes the length of the TLV at `off` in a non-minimal long form (or as indefinite). */
function longLength(buf: Buffer, off: number, rng: Rng): Buffer {
  let n: der.Node;
  try {
    n = der.readAt(buf, off);
  } catch {
    return buf;
  }
  const headerLen = n.raw.length - n.content.length;
  const len = n.content.length;
  const forms = [
    Buffer.from([0x81, len & 0xff]),
    Buffer.from([0x82, (len >> 8) & 0xff, len & 0xff]),
    Buffer.from([0x84, 0, 0, (len >> 8) & 0xff, len & 0xff]),
    Buffer.from([0x80]),
  ];
  const f = rng.pick(forms);
  return Buffer.concat([buf.subarray(0, off + 1), f, buf.subarray(off + headerLen)]);
}

/** `v` inside `depth` SEQUENCEs, built in one pass (headers from the inside out). */
function nest(v: Buffer, depth: number): Buffer {
  const headers: Buffer[] = [];
  let len = v.length;
  for (let k = 0; k < depth && len < MAX_FUZZ_BYTES / 2; k++) {
    const octets: number[] = [];
    for (let x = len; x > 0; x = Math.floor(x / 256)) octets.unshift(x & 0xff);
    const h = Buffer.from(
      len < 0x80 ? [der.TAG.SEQUENCE, len] : [der.TAG.SEQUENCE, 0x80 | octets.length, ...octets],
    );
    headers.push(h);
    len += h.length;
  }
  return Buffer.concat([...headers.reverse(), v]);
}

/** One random mutation of `input`; `others` may be spliced in. */
export function mutate(input: Buffer, rng: Rng, others: Buffer[] = []): Buffer {
  let b = Buffer.from(input);
  const at = () => (b.length ? rng.int(b.length) : 0);
  switch (rng.int(14)) {
    case 0: {
      if (!b.length) return rng.bytes(1 + rng.int(8));
      const i = at();
      b[i] = b[i]! ^ (1 << rng.int(8));
      return b;
    }
    case 1: {
      if (!b.length) return Buffer.from([rng.pick(INTERESTING)]);
      b[at()] = rng.pick(INTERESTING);
      return b;
    }
    case 2: {
      const i = at();
      return Buffer.concat([b.subarray(0, i), rng.bytes(1 + rng.int(16)), b.subarray(i)]);
    }
    case 3: {
      const i = at();
      return Buffer.concat([b.subarray(0, i), b.subarray(i + 1 + rng.int(32))]);
    }
    case 4: {
      const i = at();
      const len = 1 + rng.int(Math.min(256, Math.max(1, b.length - i)));
      const chunk = b.subarray(i, i + len);
      const times = rng.pick([1, 2, 16, 1000, 50_000]);
      const rep = Buffer.alloc(Math.max(0, Math.min(MAX_FUZZ_BYTES - b.length, chunk.length * times)));
      for (let k = 0; k < rep.length; k += chunk.length || 1) chunk.copy(rep, k);
      return Buffer.concat([b.subarray(0, i), rep, b.subarray(i)]);
    }
    case 5:
      return b.subarray(0, at());
    case 6:
      return Buffer.concat([b, rng.bytes(1 + rng.int(4))]);
    case 7: {
      const offs = tlvOffsets(b);
      return offs.length ? longLength(b, rng.pick(offs), rng) : b;
    }
    case 8: {
      const offs = tlvOffsets(b);
      if (!offs.length) return b;
      const o = rng.pick(offs);
      b[o] = rng.pick([b[o]! ^ 0x20, b[o]! ^ 0x80, b[o]! | 0x1f, rng.pick(INTERESTING)]);
      return b;
    }
    case 9: {
      // Wrap a value in many SEQUENCEs: depth is what recursive readers trip on.
      return nest(rng.int(2) ? b : Buffer.from([5, 0]), rng.pick([10, 100, 5000]));
    }
    case 10: {
      const i = at();
      return Buffer.concat([b.subarray(0, i), Buffer.from(rng.pick(TOKENS), 'latin1'), b.subarray(i)]);
    }
    case 11: {
      const token = Buffer.from(rng.pick(TOKENS), 'latin1');
      const times = rng.pick([10, 1000, 30_000]);
      const rep = Buffer.alloc(Math.max(0, Math.min(MAX_FUZZ_BYTES - b.length, token.length * times)));
      for (let k = 0; k < rep.length; k += token.length) token.copy(rep, k);
      const i = at();
      return Buffer.concat([b.subarray(0, i), rep, b.subarray(i)]);
    }
    case 12: {
      if (!others.length) return b;
      const o = rng.pick(others);
      const i = at();
      const j = o.length ? rng.int(o.length) : 0;
      return Buffer.concat([b.subarray(0, i), o.subarray(j, j + 1 + rng.int(512))]);
    }
    default: {
      // A length field that claims more than there is, or huge.
      const offs = tlvOffsets(b);
      if (!offs.length) return b;
      const o = rng.pick(offs);
      if (o + 1 < b.length) b[o + 1] = rng.pick([0x84, 0xff, 0x7f, 0x00, 0x85]);
      return b;
    }
  }
}

/** Several mutations in a row, capped at MAX_FUZZ_BYTES. */
export function mutateMany(input: Buffer, rng: Rng, others: Buffer[] = []): Buffer {
  let b: Buffer = input;
  const n = 1 + rng.int(rng.int(4) === 0 ? 8 : 3);
  for (let k = 0; k < n; k++) b = mutate(b, rng, others);
  return b.length > MAX_FUZZ_BYTES ? b.subarray(0, MAX_FUZZ_BYTES) : b;
}
