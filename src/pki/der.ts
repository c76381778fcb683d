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

/** Octets of the length field for `n` content octets. */
function lengthOctets(n: number): number {
  let octets = 1;
  if (n >= 0x80) for (let v = n; v > 0; v = Math.floor(v / 256)) octets++;
  return octets;
}

/** One TLV of `tag` around `parts` written back to back: one allocation, one copy of each part. */
function wrap(tag: number, parts: readonly Buffer[]): Buffer {
  let n = 0;
  for (const p of parts) n += p.length;
  const head = 1 + lengthOctets(n);
  const out = Buffer.allocUnsafe(head + n);
  out[0] = tag;
  if (n < 0x80) out[1] = n;
  else {
    out[1] = 0x80 | (head - 2);
    for (let i = head - 1, v = n; i >= 2; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  }
  let at = head;
  for (const p of parts) at += p.copy(out, at);
  return out;
}

/** Encodes one TLV with the given identifier octet. */
export function tlv(tag: number, content: Buffer): Buffer {
  return wrap(tag, [content]);
}

/** SEQUENCE of already-encoded elements. */
export function seq(...items: Buffer[]): Buffer {
  return wrap(TAG.SEQUENCE, items);
}

/** SET of already-encoded elements, sorted as DER requires for SET OF. */
export function setOf(...items: Buffer[]): Buffer {
  return wrap(TAG.SET, [...items].sort(Buffer.compare));
}

/** SET of elements in the given order (certs-only PKCS#7 keeps the leaf first, as EST clients expect). */
export function setOrdered(...items: Buffer[]): Buffer {
  return wrap(TAG.SET, items);
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
  return wrap(TAG.BIT_STRING, [Buffer.of(unusedBits), b]);
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
//
// A strict DER reader (X.690 section 10, RFC 5280 profile for times): it refuses what DER
// forbids instead of normalising it, never looks past the value it was given, and does work
// linear in its input. Every refusal is DER_MALFORMED with a `rule` in the detail, so tests,
// the fuzz corpus and the OpenSSL differential can name the rule that fired.

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

/** Longest OBJECT IDENTIFIER content accepted (OpenSSL prints at most 586 characters). */
export const MAX_OID_BYTES = 128;
/** Longest single OID arc in octets: 20 octets hold the 128-bit UUID arcs of 2.25.x. */
export const MAX_OID_ARC_BYTES = 20;

/** Throws DER_MALFORMED naming the rule; `what` says what was wrong in words. */
export function malformed(rule: string, what: string): never {
  throw new ZtError('DER_MALFORMED', `DER decoding failed: ${what}`, { rule });
}

/** Reads the TLV starting at `offset` of `buf`: low tag numbers, definite minimal lengths only. */
export function readAt(buf: Buffer, offset = 0): Node {
  if (offset >= buf.length) malformed('der-truncated', 'the input ends where a value should start');
  const tag = buf[offset]!;
  if ((tag & 0x1f) === 0x1f) malformed('der-high-tag', 'multi-byte tags are not used by X.509');
  let pos = offset + 1;
  if (pos >= buf.length) malformed('der-truncated', 'the input ends inside a length');
  let len = buf[pos++]!;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0) malformed('der-indefinite-length', 'indefinite length is not DER');
    if (n > 4) malformed('der-length-too-long', `a length of ${n} octets is longer than any input here`);
    if (pos + n > buf.length) malformed('der-truncated', 'the input ends inside a length');
    if (buf[pos] === 0) malformed('der-length-not-minimal', 'a length has a leading zero octet');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[pos++]!;
    if (len < 0x80) malformed('der-length-not-minimal', `length ${len} is written in the long form`);
  }
  if (pos + len > buf.length) {
    malformed('der-truncated', `a value of ${len} bytes runs past the end of the input`);
  }
  return {
    tag,
    constructed: (tag & 0x20) !== 0,
    tagClass: CLASSES[tag >> 6]!,
    tagNumber: tag & 0x1f,
    raw: buf.subarray(offset, pos + len),
    content: buf.subarray(pos, pos + len),
  };
}

/** Reads exactly one TLV filling the whole buffer. */
export function read(buf: Buffer): Node {
  const node = readAt(buf, 0);
  if (node.raw.length !== buf.length) {
    malformed('der-trailing-data', `${buf.length - node.raw.length} trailing bytes after the value`);
  }
  return node;
}

/** Most elements one constructed value may hold; no structure zerotouch reads comes close. */
export const MAX_ELEMENTS = 1024;

/** The elements of a constructed value (at most `max`, so a huge SET costs nothing to refuse). */
export function children(node: Node, max = MAX_ELEMENTS): Node[] {
  if (!node.constructed) {
    malformed('der-not-constructed', `expected a constructed value, got tag 0x${node.tag.toString(16)}`);
  }
  const out: Node[] = [];
  let pos = 0;
  while (pos < node.content.length) {
    if (out.length === max) malformed('der-too-many-elements', `a value holds more than ${max} elements`);
    const child = readAt(node.content, pos);
    out.push(child);
    pos += child.raw.length;
  }
  return out;
}

/** Asserts a tag and returns the node, so parsers fail with a position-free but clear reason. */
export function expect(node: Node | undefined, tag: number, what: string): Node {
  if (!node) malformed('der-missing', `${what} is missing`);
  if (node.tag !== tag) {
    malformed(
      'der-unexpected-tag',
      `${what}: expected tag 0x${tag.toString(16)}, got 0x${node.tag.toString(16)}`,
    );
  }
  return node;
}

/** Asserts that a SEQUENCE (or other constructed value) has no elements after the last one read. */
export function noMore(items: Node[], used: number, what: string): void {
  if (items.length > used) {
    malformed('der-extra-element', `${what} has ${items.length - used} unexpected element(s) at its end`);
  }
}

/** Checks that every nested TLV of `node` is well-formed DER, to `depth` levels (for ANY values). */
export function checkTree(node: Node, depth = 8): void {
  if (!node.constructed) return;
  if (depth === 0) malformed('der-too-deep', 'values are nested too deeply');
  for (const c of children(node)) checkTree(c, depth - 1);
}

// Decoded OIDs by their content bytes: the same few dozen repeat in every certificate.
const oidText = new Map<string, string>();

/** Dotted OID from an OID node: minimal subidentifiers, bounded arcs, no dangling octet. */
export function readOid(node: Node): string {
  expect(node, TAG.OID, 'object identifier');
  const b = node.content;
  if (b.length === 0) malformed('oid-empty', 'an object identifier is empty');
  if (b.length > MAX_OID_BYTES) {
    malformed('oid-too-long', `an object identifier of ${b.length} bytes is longer than ${MAX_OID_BYTES}`);
  }
  const key = b.toString('latin1');
  const cached = oidText.get(key);
  if (cached !== undefined) return cached;
  if (b[b.length - 1]! & 0x80) malformed('oid-truncated', 'an object identifier ends inside an arc');
  const arcs: Array<number | bigint> = [];
  let start = 0;
  for (let i = 0; i < b.length; i++) {
    if (i === start && b[i] === 0x80) {
      malformed('oid-not-minimal', 'an object identifier arc has a leading 0x80 octet');
    }
    if (b[i]! & 0x80) continue;
    const octets = i - start + 1;
    if (octets > MAX_OID_ARC_BYTES) {
      malformed('oid-arc-too-long', `an object identifier arc of ${octets} octets is too long`);
    }
    // Up to 7 octets (49 bits) fits a double exactly; longer arcs (bounded above) use BigInt.
    if (octets <= 7) {
      let v = 0;
      for (let j = start; j <= i; j++) v = v * 128 + (b[j]! & 0x7f);
      arcs.push(v);
    } else {
      let v = 0n;
      for (let j = start; j <= i; j++) v = (v << 7n) | BigInt(b[j]! & 0x7f);
      arcs.push(v);
    }
    start = i + 1;
  }
  const first = arcs[0]!;
  const head =
    typeof first === 'bigint'
      ? `2.${first - 80n}`
      : first < 40
        ? `0.${first}`
        : first < 80
          ? `1.${first - 40}`
          : `2.${first - 80}`;
  const text = arcs.length === 1 ? head : `${head}.${arcs.slice(1).join('.')}`;
  if (oidText.size > 4096) oidText.clear();
  oidText.set(key, text);
  return text;
}

/** Checks an INTEGER's encoding: non-empty and minimal two's complement (X.690 8.3.2). */
function checkInteger(node: Node, what: string): Buffer {
  expect(node, TAG.INTEGER, what);
  const b = node.content;
  if (b.length === 0) malformed('integer-empty', `${what} is an empty INTEGER`);
  if (b.length > 1 && ((b[0] === 0 && !(b[1]! & 0x80)) || (b[0] === 0xff && b[1]! & 0x80))) {
    malformed('integer-not-minimal', `${what} is not a minimal INTEGER`);
  }
  return b;
}

/** True when a (well-formed) INTEGER is negative. */
export function isNegativeInteger(node: Node): boolean {
  return (checkInteger(node, 'integer')[0]! & 0x80) !== 0;
}

/** Unsigned big-endian bytes of a non-negative INTEGER (the sign octet dropped). */
export function readIntegerBytes(node: Node, what = 'integer'): Buffer {
  const b = checkInteger(node, what);
  if (b[0]! & 0x80) malformed('integer-negative', `${what} is negative`);
  return b.length > 1 && b[0] === 0 ? b.subarray(1) : b;
}

/** A non-negative INTEGER that fits in 31 bits (versions, path lengths). */
export function readSmallInt(node: Node, what = 'integer'): number {
  const b = readIntegerBytes(node, what);
  if (b.length > 4 || (b.length === 4 && b[0]! & 0x80))
    malformed('integer-too-large', `${what} is too large`);
  return b.reduce((acc, x) => acc * 256 + x, 0);
}

/** BOOLEAN: exactly one octet, 00 or FF (X.690 11.1). */
export function readBool(node: Node, what = 'boolean'): boolean {
  expect(node, TAG.BOOLEAN, what);
  const b = node.content;
  if (b.length !== 1) malformed('boolean-length', `${what} is a BOOLEAN of ${b.length} octets; DER uses one`);
  if (b[0] !== 0 && b[0] !== 0xff) {
    malformed('boolean-not-ff', `${what} is a BOOLEAN 0x${b[0]!.toString(16)}; DER writes TRUE as 0xFF`);
  }
  return b[0] === 0xff;
}

/** NULL with no content. */
export function readNull(node: Node, what = 'null'): void {
  expect(node, TAG.NULL, what);
  if (node.content.length !== 0) malformed('null-not-empty', `${what} is a NULL with content`);
}

/** BIT STRING: unused-bit count 0-7, 0 when empty, padding bits zero (X.690 8.6.2, 11.2). */
export function readBitString(node: Node, what = 'bit string'): { bytes: Buffer; unusedBits: number } {
  expect(node, TAG.BIT_STRING, what);
  const c = node.content;
  if (c.length === 0) malformed('bitstring-empty', `${what} has no unused-bits octet`);
  const unused = c[0]!;
  if (unused > 7) malformed('bitstring-unused-bits', `${what} claims ${unused} unused bits`);
  if (c.length === 1 && unused !== 0)
    malformed('bitstring-unused-bits', `${what} is empty but claims unused bits`);
  if (unused && c[c.length - 1]! & ((1 << unused) - 1)) {
    malformed('bitstring-padding', `${what} has non-zero padding bits`);
  }
  return { bytes: c.subarray(1), unusedBits: unused };
}

/** A BIT STRING that must hold whole octets (signatures, public keys). */
export function readOctetBits(node: Node, what: string): Buffer {
  const { bytes, unusedBits } = readBitString(node, what);
  if (unusedBits !== 0)
    malformed('bitstring-unused-bits', `${what} must have 0 unused bits, has ${unusedBits}`);
  return bytes;
}

const PRINTABLE = /^[A-Za-z0-9 '()+,\-./:=?*&]*$/;
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** True when `tag` is one of the ASN.1 character string types. */
export function isStringTag(tag: number): boolean {
  return (
    tag === TAG.UTF8_STRING ||
    tag === TAG.PRINTABLE_STRING ||
    tag === TAG.IA5_STRING ||
    tag === TAG.T61_STRING ||
    tag === TAG.BMP_STRING ||
    tag === TAG.UNIVERSAL_STRING ||
    tag === 0x12 || // NumericString
    tag === 0x1a // VisibleString
  );
}

/** A character string, checked against its type's character set (X.680 41, RFC 5280 4.1.2.4). */
export function readString(node: Node, what = 'string'): string {
  const c = node.content;
  switch (node.tag) {
    case TAG.UTF8_STRING:
      try {
        return utf8Decoder.decode(c);
      } catch {
        return malformed('string-charset', `${what} is a UTF8String that is not valid UTF-8`);
      }
    case TAG.PRINTABLE_STRING: {
      const s = c.toString('latin1');
      if (!PRINTABLE.test(s))
        malformed('string-charset', `${what} has characters a PrintableString cannot hold`);
      return s;
    }
    case TAG.IA5_STRING:
      return readAscii(node, what);
    case 0x12: {
      const s = c.toString('latin1');
      if (!/^[0-9 ]*$/.test(s)) malformed('string-charset', `${what} is a NumericString with non-digits`);
      return s;
    }
    case 0x1a: {
      const s = c.toString('latin1');
      if (!/^[\x20-\x7e]*$/.test(s))
        malformed('string-charset', `${what} is a VisibleString with invisible characters`);
      return s;
    }
    case TAG.T61_STRING:
      return c.toString('latin1');
    case TAG.BMP_STRING: {
      if (c.length % 2) malformed('string-charset', `${what} is a BMPString of odd length`);
      let s = '';
      for (let i = 0; i < c.length; i += 2) {
        const u = c.readUInt16BE(i);
        if (u >= 0xd800 && u <= 0xdfff)
          malformed('string-charset', `${what} is a BMPString with a surrogate`);
        s += String.fromCharCode(u);
      }
      return s;
    }
    case TAG.UNIVERSAL_STRING: {
      if (c.length % 4)
        malformed('string-charset', `${what} is a UniversalString whose length is not a multiple of 4`);
      let s = '';
      for (let i = 0; i < c.length; i += 4) {
        const u = c.readUInt32BE(i);
        if (u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
          malformed('string-charset', `${what} is a UniversalString with an invalid character`);
        }
        s += String.fromCodePoint(u);
      }
      return s;
    }
    default:
      return malformed(
        'string-type',
        `${what}: expected a character string, got tag 0x${node.tag.toString(16)}`,
      );
  }
}

/** IA5 (ASCII) content of a node with any tag (SAN names are IMPLICIT IA5String). */
export function readAscii(node: Node, what: string): string {
  const c = node.content;
  for (let i = 0; i < c.length; i++) {
    if (c[i]! & 0x80) malformed('string-charset', `${what} is an IA5String with non-ASCII bytes`);
  }
  return c.toString('latin1');
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digits(c: Buffer, from: number, to: number): number {
  let v = 0;
  for (let i = from; i < to; i++) {
    const d = c[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/**
 * UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`) exactly as RFC 5280 4.1.2.5
 * fixes them: seconds present, Zulu, no fraction or offset, a real calendar date and time.
 */
export function readTime(node: Node, what = 'time'): Date {
  const c = node.content;
  let year: number;
  let p: number;
  if (node.tag === TAG.UTC_TIME) {
    if (c.length !== 13 || c[12] !== 0x5a) {
      malformed('time-format', `${what} "${c.toString('latin1').slice(0, 32)}" is not YYMMDDHHMMSSZ`);
    }
    const yy = digits(c, 0, 2);
    year = yy < 0 ? -1 : yy < 50 ? 2000 + yy : 1900 + yy;
    p = 2;
  } else if (node.tag === TAG.GENERALIZED_TIME) {
    if (c.length !== 15 || c[14] !== 0x5a) {
      malformed('time-format', `${what} "${c.toString('latin1').slice(0, 32)}" is not YYYYMMDDHHMMSSZ`);
    }
    year = digits(c, 0, 4);
    p = 4;
  } else {
    return malformed(
      'time-type',
      `${what}: expected UTCTime or GeneralizedTime, got tag 0x${node.tag.toString(16)}`,
    );
  }
  const month = digits(c, p, p + 2);
  const day = digits(c, p + 2, p + 4);
  const hour = digits(c, p + 4, p + 6);
  const minute = digits(c, p + 6, p + 8);
  const second = digits(c, p + 8, p + 10);
  if ([year, month, day, hour, minute, second].some((v) => v < 0)) {
    malformed('time-format', `${what} has a non-digit where a digit belongs`);
  }
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const monthDays = month === 2 && leap ? 29 : DAYS[month - 1];
  if (month < 1 || month > 12 || day < 1 || day > monthDays! || hour > 23 || minute > 59 || second > 59) {
    malformed('time-range', `${what} "${c.toString('latin1')}" is not a real date and time`);
  }
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(hour, minute, second, 0);
  return d;
}
