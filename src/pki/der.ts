/**
 * A small DER reader and writer: just what X.509, PKCS#10 and PKCS#7 need. The issuance hot path
 * builds TBSCertificates with these functions instead of a generic ASN.1 object model.
 */
import { ZtError } from '../errors.ts';

export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  ENUMERATED: 0x0a,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  T61_STRING: 0x14,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  UNIVERSAL_STRING: 0x1c,
  BMP_STRING: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

// ---------------------------------------------------------------- writer

function encodeLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** Encodes one TLV with the given identifier octet. */
export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

/** SEQUENCE of already-encoded elements. */
export function seq(...items: Buffer[]): Buffer {
  return tlv(TAG.SEQUENCE, Buffer.concat(items));
}

/** SET of already-encoded elements, sorted as DER requires for SET OF. */
export function setOf(...items: Buffer[]): Buffer {
  return tlv(TAG.SET, Buffer.concat([...items].sort(Buffer.compare)));
}

/** SET of elements in the given order (certs-only PKCS#7 keeps the leaf first, as EST clients expect). */
export function setOrdered(...items: Buffer[]): Buffer {
  return tlv(TAG.SET, Buffer.concat(items));
}

/** Context-specific constructed tag [n] wrapping encoded content (EXPLICIT tagging). */
export function explicit(n: number, content: Buffer): Buffer {
  return tlv(0xa0 | n, content);
}

/** Context-specific tag [n] replacing the content's own tag (IMPLICIT tagging). */
export function implicit(n: number, content: Buffer, constructed = false): Buffer {
  return tlv((constructed ? 0xa0 : 0x80) | n, content);
}

/** INTEGER from a non-negative bigint, a number, or big-endian unsigned bytes. */
export function integer(value: bigint | number | Buffer): Buffer {
  let bytes: Buffer;
  if (Buffer.isBuffer(value)) {
    let i = 0;
    while (i < value.length - 1 && value[i] === 0) i++;
    bytes = value.subarray(i);
    if (bytes.length === 0) bytes = Buffer.from([0]);
  } else {
    let hex = BigInt(value).toString(16);
    if (hex.length % 2) hex = '0' + hex;
    bytes = Buffer.from(hex, 'hex');
  }
  if (bytes[0] & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(TAG.INTEGER, bytes);
}

const oidCache = new Map<string, Buffer>();

/** OBJECT IDENTIFIER from dotted form; encodings are cached since a handful of OIDs repeat. */
export function oid(dotted: string): Buffer {
  const cached = oidCache.get(dotted);
  if (cached) return cached;
  const arcs = dotted.split('.').map((a) => BigInt(a));
  const out: number[] = [];
  const first = arcs[0] * 40n + arcs[1];
  for (const arc of [first, ...arcs.slice(2)]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] |= 0x80;
    out.push(...chunk);
  }
  const encoded = tlv(TAG.OID, Buffer.from(out));
  oidCache.set(dotted, encoded);
  return encoded;
}

export const NULL = Buffer.from([TAG.NULL, 0]);

export function bool(v: boolean): Buffer {
  return Buffer.from([TAG.BOOLEAN, 1, v ? 0xff : 0]);
}

export function octetString(b: Buffer): Buffer {
  return tlv(TAG.OCTET_STRING, b);
}

export function bitString(b: Buffer, unusedBits = 0): Buffer {
  return tlv(TAG.BIT_STRING, Buffer.concat([Buffer.from([unusedBits]), b]));
}

export function utf8(s: string): Buffer {
  return tlv(TAG.UTF8_STRING, Buffer.from(s, 'utf8'));
}

export function printable(s: string): Buffer {
  return tlv(TAG.PRINTABLE_STRING, Buffer.from(s, 'ascii'));
}

export function ia5(s: string): Buffer {
  return tlv(TAG.IA5_STRING, Buffer.from(s, 'ascii'));
}

const pad2 = (n: number) => (n < 10 ? '0' : '') + n;

/** Time as RFC 5280 wants it: UTCTime through 2049, GeneralizedTime from 2050, whole seconds, Z. */
export function time(d: Date): Buffer {
  const y = d.getUTCFullYear();
  const rest =
    pad2(d.getUTCMonth() + 1) +
    pad2(d.getUTCDate()) +
    pad2(d.getUTCHours()) +
    pad2(d.getUTCMinutes()) +
    pad2(d.getUTCSeconds()) +
    'Z';
  if (y >= 1950 && y < 2050) return tlv(TAG.UTC_TIME, Buffer.from(pad2(y % 100) + rest, 'ascii'));
  return tlv(TAG.GENERALIZED_TIME, Buffer.from(String(y).padStart(4, '0') + rest, 'ascii'));
}

// ---------------------------------------------------------------- reader

/** One decoded TLV. `raw` includes the header; `content` is the value bytes. Both share memory. */
export interface Node {
  tag: number;
  constructed: boolean;
  tagClass: 'universal' | 'application' | 'context' | 'private';
  tagNumber: number;
  raw: Buffer;
  content: Buffer;
}

const CLASSES = ['universal', 'application', 'context', 'private'] as const;

function malformed(what: string): never {
  throw new ZtError('DER_MALFORMED', `DER decoding failed: ${what}; check that the input is DER or PEM`);
}

/** Reads the TLV starting at `offset` of `buf`. */
export function readAt(buf: Buffer, offset = 0): Node {
  if (offset + 2 > buf.length) malformed('input ends inside a tag');
  const tag = buf[offset];
  if ((tag & 0x1f) === 0x1f) malformed('multi-byte tags are not used by X.509');
  let pos = offset + 1;
  let len = buf[pos++];
  if (len === 0x80) malformed('indefinite length is not DER');
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n > 4 || pos + n > buf.length) malformed('length field is too long');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++];
  }
  if (pos + len > buf.length) malformed(`value of ${len} bytes runs past the end of the input`);
  return {
    tag,
    constructed: (tag & 0x20) !== 0,
    tagClass: CLASSES[tag >> 6],
    tagNumber: tag & 0x1f,
    raw: buf.subarray(offset, pos + len),
    content: buf.subarray(pos, pos + len),
  };
}

/** Reads exactly one TLV filling the whole buffer. */
export function read(buf: Buffer): Node {
  const node = readAt(buf, 0);
  if (node.raw.length !== buf.length)
    malformed(`${buf.length - node.raw.length} trailing bytes after the value`);
  return node;
}

/** The elements of a constructed value. */
export function children(node: Node): Node[] {
  if (!node.constructed) malformed(`expected a constructed value, got tag 0x${node.tag.toString(16)}`);
  const out: Node[] = [];
  let pos = 0;
  while (pos < node.content.length) {
    const child = readAt(node.content, pos);
    out.push(child);
    pos += child.raw.length;
  }
  return out;
}

/** Asserts a tag and returns the node, so parsers fail with a position-free but clear reason. */
export function expect(node: Node | undefined, tag: number, what: string): Node {
  if (!node) malformed(`${what} is missing`);
  if (node.tag !== tag)
    malformed(`${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`);
  return node;
}

/** Dotted OID from an OID node. */
export function readOid(node: Node): string {
  expect(node, TAG.OID, 'object identifier');
  const b = node.content;
  if (b.length === 0) malformed('empty object identifier');
  const arcs: bigint[] = [];
  let v = 0n;
  for (const byte of b) {
    v = (v << 7n) | BigInt(byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(v);
      v = 0n;
    }
  }
  const first = arcs[0];
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** Unsigned big-endian bytes of an INTEGER (leading zero dropped). */
export function readIntegerBytes(node: Node): Buffer {
  expect(node, TAG.INTEGER, 'integer');
  let b = node.content;
  if (b.length > 1 && b[0] === 0) b = b.subarray(1);
  return b;
}

export function readSmallInt(node: Node): number {
  const b = readIntegerBytes(node);
  if (b.length > 6) malformed('integer too large');
  return b.reduce((acc, x) => acc * 256 + x, 0);
}

export function readBool(node: Node): boolean {
  expect(node, TAG.BOOLEAN, 'boolean');
  return node.content[0] !== 0;
}

/** Bytes of a BIT STRING (unused-bits count dropped). */
export function readBitString(node: Node): { bytes: Buffer; unusedBits: number } {
  expect(node, TAG.BIT_STRING, 'bit string');
  if (node.content.length === 0) malformed('empty bit string');
  return { bytes: node.content.subarray(1), unusedBits: node.content[0] };
}

/** A decoded string type as JS string. */
export function readString(node: Node): string {
  switch (node.tag) {
    case TAG.UTF8_STRING:
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case TAG.T61_STRING:
      return node.content.toString(node.tag === TAG.UTF8_STRING ? 'utf8' : 'latin1');
    case TAG.BMP_STRING: {
      const swapped = Buffer.from(node.content);
      swapped.swap16();
      return swapped.toString('utf16le');
    }
    case TAG.UNIVERSAL_STRING: {
      let s = '';
      for (let i = 0; i + 3 < node.content.length; i += 4)
        s += String.fromCodePoint(node.content.readUInt32BE(i));
      return s;
    }
    default:
      return node.content.toString('hex');
  }
}

/** UTCTime or GeneralizedTime as a Date. */
export function readTime(node: Node): Date {
  const s = node.content.toString('ascii');
  let m: RegExpMatchArray | null;
  if (node.tag === TAG.UTC_TIME) {
    m = s.match(/^(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)?Z$/);
    if (!m) malformed(`bad UTCTime "${s}"`);
    const yy = Number(m[1]);
    return new Date(
      Date.UTC(yy < 50 ? 2000 + yy : 1900 + yy, +m[2] - 1, +m[3], +m[4], +m[5], m[6] ? +m[6] : 0),
    );
  }
  if (node.tag === TAG.GENERALIZED_TIME) {
    m = s.match(/^(\d{4})(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d+)?Z$/);
    if (!m) malformed(`bad GeneralizedTime "${s}"`);
    return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  }
  return malformed(`expected a time, got tag 0x${node.tag.toString(16)}`);
}
