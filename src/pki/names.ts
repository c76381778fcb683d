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
}

/** A decoded name: its exact DER (for issuer/subject matching) and its attributes in order. */
export interface DistinguishedName {
  der: Buffer;
  attributes: NameAttributeValue[];
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

/** Decodes a Name node. */
export function decodeName(node: der.Node): DistinguishedName {
  der.expect(node, der.TAG.SEQUENCE, 'name');
  const attributes: NameAttributeValue[] = [];
  for (const rdn of der.children(node)) {
    for (const atv of der.children(rdn)) {
      const [t, v] = der.children(atv);
      const oid = der.readOid(t);
      attributes.push({ type: attributeName(oid), oid, value: der.readString(v) });
    }
  }
  return { der: node.raw, attributes };
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
