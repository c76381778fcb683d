/** Distinguished names: encode from fields, decode to attributes, format for people. */
import { ZtError } from '../errors.ts';
import * as der from './der.ts';
import { attributeName, NAME_ATTRIBUTES, type NameAttribute, OID } from './oids.ts';

/** Subject fields a user can set; values may repeat (e.g. several OU). */
export type NameFields = Partial<Record<NameAttribute, string | string[]>>;

export interface NameAttributeValue {
  type: string;
  oid: string;
  value: string;
  /** The value's ASN.1 tag (UTF8String, PrintableString, ...). */
  tag: number;
}

/** A decoded name: its exact DER (for display and fast matching), its attributes in order, its RDNs. */
export interface DistinguishedName {
  der: Buffer;
  attributes: NameAttributeValue[];
  /** The relative distinguished names, each a set of one or more of `attributes`. */
  rdns: NameAttributeValue[][];
}

// PrintableString where RFC 5280 requires it; UTF8String elsewhere (RFC 5280 4.1.2.6).
const PRINTABLE_ONLY = new Set<string>([OID.countryName, OID.serialNumber, OID.dnQualifier]);
const IA5_ONLY = new Set<string>([OID.emailAddress, OID.domainComponent]);

/** Encodes fields as a Name in the conventional order (C, ST, L, O, OU, CN, ...), one attribute per RDN. */
export function encodeName(fields: NameFields): Buffer {
  const rdns: Buffer[] = [];
  for (const [key, oid] of NAME_ATTRIBUTES) {
    const v = fields[key];
    if (v === undefined) continue;
    for (const value of Array.isArray(v) ? v : [v]) {
      const encoded = PRINTABLE_ONLY.has(oid)
        ? der.printable(value)
        : IA5_ONLY.has(oid)
          ? der.ia5(value)
          : der.utf8(value);
      rdns.push(der.setOf(der.seq(der.oid(oid), encoded)));
    }
  }
  return der.seq(...rdns);
}

/**
 * Attribute value types a name may hold: the DirectoryString choices, IA5 and Numeric strings,
 * and BIT STRING and SEQUENCE for the few X.520 attributes that are not strings. It is the set
 * OpenSSL reads (ASN1_PRINTABLE), so no name zerotouch accepts is one OpenSSL cannot read.
 */
const VALUE_TAGS = new Set<number>([0x0c, 0x12, 0x13, 0x14, 0x16, 0x1c, 0x1e, 0x03, 0x30]);

/** Decodes a Name node strictly: non-empty RDN sets of (type, value) pairs, strings in their charset. */
export function decodeName(node: der.Node, what = 'name'): DistinguishedName {
  der.expect(node, der.TAG.SEQUENCE, what);
  const attributes: NameAttributeValue[] = [];
  const rdns: NameAttributeValue[][] = [];
  for (const rdnNode of der.children(node)) {
    der.expect(rdnNode, der.TAG.SET, `${what} RDN`);
    const rdn: NameAttributeValue[] = [];
    for (const atv of der.children(rdnNode)) {
      const parts = der.children(der.expect(atv, der.TAG.SEQUENCE, `${what} attribute`));
      const [t, v] = parts;
      if (!v) der.malformed('name-attribute', `${what} has an attribute without a value`);
      der.noMore(parts, 2, `${what} attribute`);
      const oid = der.readOid(t!);
      const type = attributeName(oid);
      let value: string;
      if (!VALUE_TAGS.has(v.tag)) {
        der.malformed(
          'name-attribute',
          `${what} ${type} has a value of tag 0x${v.tag.toString(16)}, not a string type`,
        );
      }
      if (der.isStringTag(v.tag)) value = der.readString(v, `${what} ${type}`);
      else {
        der.checkTree(v);
        value = `#${v.raw.toString('hex')}`;
      }
      const a = { type, oid, value, tag: v.tag };
      rdn.push(a);
      attributes.push(a);
    }
    if (rdn.length === 0) der.malformed('name-empty-rdn', `${what} has an empty RDN`);
    rdns.push(rdn);
  }
  return { der: node.raw, attributes, rdns };
}

// Characters RFC 4518 2.2 maps to nothing, and the ones it maps to a space.
const MAP_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF\uFFFC]/g;
const MAP_TO_SPACE = /[\t\n\v\f\r\u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]/g;

/**
 * An attribute value prepared for caseIgnoreMatch (RFC 5280 7.1 via RFC 4518): mapped, case
 * folded, NFKC, insignificant spaces removed. String types do not matter, so a PrintableString
 * "ACME  Corp" equals a UTF8String "acme corp". Values that are not strings compare by encoding.
 */
export function prepareValue(a: NameAttributeValue): string {
  if (!der.isStringTag(a.tag)) return a.value;
  const mapped = a.value.replace(MAP_TO_NOTHING, '').replace(MAP_TO_SPACE, ' ');
  const folded = mapped.toUpperCase().toLowerCase().normalize('NFKC');
  return '"' + folded.trim().replace(/ +/g, ' ');
}

const nameKeys = new WeakMap<DistinguishedName, string>();

/** The comparison key of a name: RDNs in order, each its set of prepared (type, value) pairs. */
export function nameMatchKey(name: DistinguishedName): string {
  let k = nameKeys.get(name);
  if (k === undefined) {
    k = JSON.stringify(name.rdns.map((rdn) => rdn.map((a) => `${a.oid}=${prepareValue(a)}`).sort()));
    nameKeys.set(name, k);
  }
  return k;
}

/** True when two names are equal under RFC 5280 7.1 (byte-equal names are equal at once). */
export function namesEqual(a: DistinguishedName, b: DistinguishedName): boolean {
  return a.der.equals(b.der) || nameMatchKey(a) === nameMatchKey(b);
}

/** True when `name` lies within the subtree `base`: base's RDNs are a prefix of the name's (7.1 rules). */
export function nameWithin(name: DistinguishedName, base: DistinguishedName): boolean {
  if (base.rdns.length > name.rdns.length) return false;
  const key = (rdn: NameAttributeValue[]) =>
    JSON.stringify(rdn.map((a) => `${a.oid}=${prepareValue(a)}`).sort());
  return base.rdns.every((rdn, i) => key(rdn) === key(name.rdns[i]!));
}

/** "C=US, O=Acme, CN=dev-01", in the order the certificate holds them (as openssl prints). */
export function formatName(name: DistinguishedName): string {
  return name.attributes.map((a) => `${a.type}=${a.value.replace(/([,+\\])/g, '\\$1')}`).join(', ');
}

/** First value of an attribute (e.g. the CN), if present. */
export function nameValue(name: DistinguishedName, type: NameAttribute): string | undefined {
  return name.attributes.find((a) => a.type === type)?.value;
}

/** The name as field map, for copying a subject onto a new certificate. */
export function nameFields(name: DistinguishedName): NameFields {
  const out: Record<string, string[]> = {};
  for (const a of name.attributes) {
    out[a.type] ??= [];
    out[a.type].push(a.value);
  }
  return out as NameFields;
}

/**
 * Parses a subject written as openssl does ("/C=US/O=Acme/CN=dev-01") or as a comma list
 * ("C=US, O=Acme, CN=dev-01") into fields.
 */
export function parseSubject(text: string): NameFields {
  const parts = text.startsWith('/') ? text.slice(1).split('/') : text.split(/\s*,\s*/);
  const out: Record<string, string[]> = {};
  const known = new Map<string, string>(NAME_ATTRIBUTES.map(([k]) => [k.toLowerCase(), k]));
  for (const part of parts.filter((p) => p.trim() !== '')) {
    const eq = part.indexOf('=');
    const key = known.get(part.slice(0, eq).trim().toLowerCase());
    if (eq < 0 || !key) {
      throw new ZtError(
        'BAD_REQUEST',
        `cannot read subject part "${part}"; use ${NAME_ATTRIBUTES.map(([k]) => k).join(', ')} as in "/C=US/O=Acme/CN=dev-01"`,
      );
    }
    out[key] ??= [];
    out[key].push(part.slice(eq + 1).trim());
  }
  return out as NameFields;
}
