/** X.509 v3 extensions: encoding what we issue and decoding what we check or show. */
import { isIP } from 'node:net';
import { ZtError } from '../errors.ts';
import * as der from './der.ts';
import { decodeName, formatName } from './names.ts';
import { ekuName, extensionName, KEY_USAGE_BITS, type KeyUsage, OID } from './oids.ts';

export interface Extension {
  oid: string;
  name: string;
  critical: boolean;
  value: Buffer;
}

export interface BasicConstraints {
  ca: boolean;
  pathLen?: number;
}

export type SanType = 'dns' | 'ip' | 'uri' | 'email' | 'dirName' | 'otherName';

export interface SubjectAltName {
  type: SanType;
  value: string;
}

// ---------------------------------------------------------------- encoding

/** Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue OCTET STRING } */
export function encodeExtension(oid: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? der.seq(der.oid(oid), der.bool(true), der.octetString(value))
    : der.seq(der.oid(oid), der.octetString(value));
}

export function encodeBasicConstraints(bc: BasicConstraints): Buffer {
  const parts: Buffer[] = [];
  if (bc.ca) parts.push(der.bool(true));
  if (bc.ca && bc.pathLen !== undefined) parts.push(der.integer(bc.pathLen));
  return der.seq(...parts);
}

/** KeyUsage as a DER BIT STRING: trailing zero bits dropped, as DER requires. */
export function encodeKeyUsage(usages: KeyUsage[]): Buffer {
  let bits = 0;
  for (const u of usages) bits |= 1 << KEY_USAGE_BITS.indexOf(u);
  if (bits === 0) throw new ZtError('BAD_REQUEST', 'keyUsage needs at least one usage');
  let highest = 0;
  for (let i = 0; i < 9; i++) if (bits & (1 << i)) highest = i;
  const bytes = Buffer.alloc(highest >= 8 ? 2 : 1);
  for (let i = 0; i <= highest; i++) if (bits & (1 << i)) bytes[i >> 3] |= 0x80 >> (i & 7);
  const unused = bytes.length * 8 - (highest + 1);
  return der.bitString(bytes, unused);
}

export function encodeExtKeyUsage(oids: string[]): Buffer {
  return der.seq(...oids.map((o) => der.oid(o)));
}

function ipBytes(ip: string): Buffer {
  const v = isIP(ip);
  if (v === 4) return Buffer.from(ip.split('.').map(Number));
  if (v === 6) {
    const [head, tail] = ip.split('::');
    const h = head ? head.split(':') : [];
    const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
    const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
    const out = Buffer.alloc(16);
    for (const [i, g] of groups.entries()) out.writeUInt16BE(Number.parseInt(g, 16), i * 2);
    return out;
  }
  throw new ZtError('BAD_REQUEST', `"${ip}" is not an IP address`);
}

export function encodeGeneralName(san: SubjectAltName): Buffer {
  switch (san.type) {
    case 'email':
      return der.implicit(1, Buffer.from(san.value, 'ascii'));
    case 'dns':
      return der.implicit(2, Buffer.from(san.value, 'ascii'));
    case 'uri':
      return der.implicit(6, Buffer.from(san.value, 'ascii'));
    case 'ip':
      return der.implicit(7, ipBytes(san.value));
    default:
      throw new ZtError('BAD_REQUEST', `cannot issue a ${san.type} subject alternative name`);
  }
}

export function encodeSubjectAltName(sans: SubjectAltName[]): Buffer {
  return der.seq(...sans.map(encodeGeneralName));
}

export function encodeSubjectKeyIdentifier(keyId: Buffer): Buffer {
  return der.octetString(keyId);
}

export function encodeAuthorityKeyIdentifier(keyId: Buffer): Buffer {
  return der.seq(der.implicit(0, keyId));
}

export function encodeCrlDistributionPoints(urls: string[]): Buffer {
  return der.seq(
    ...urls.map((u) =>
      der.seq(der.explicit(0, der.implicit(0, der.implicit(6, Buffer.from(u, 'ascii')), true))),
    ),
  );
}

/** Parses "DNS:host", "IP:1.2.3.4", "URI:...", "email:..." or a bare host/IP into a SAN. */
export function parseSanSpec(spec: string): SubjectAltName {
  const m = spec.match(/^(dns|ip|uri|email):(.+)$/i);
  if (m) return { type: m[1].toLowerCase() as SanType, value: m[2] };
  return isIP(spec) ? { type: 'ip', value: spec } : { type: 'dns', value: spec };
}

// ---------------------------------------------------------------- decoding

/** Decodes the Extensions SEQUENCE. */
export function decodeExtensions(node: der.Node): Extension[] {
  return der.children(node).map((ext) => {
    const parts = der.children(ext);
    const oid = der.readOid(parts[0]);
    const critical = parts.length === 3 ? der.readBool(parts[1]) : false;
    const value = der.expect(parts[parts.length - 1], der.TAG.OCTET_STRING, `extension ${oid} value`).content;
    return { oid, name: extensionName(oid), critical, value };
  });
}

export function decodeBasicConstraints(value: Buffer): BasicConstraints {
  const items = der.children(der.read(value));
  let ca = false;
  let pathLen: number | undefined;
  for (const item of items) {
    if (item.tag === der.TAG.BOOLEAN) ca = der.readBool(item);
    else if (item.tag === der.TAG.INTEGER) pathLen = der.readSmallInt(item);
  }
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

export function decodeKeyUsage(value: Buffer): KeyUsage[] {
  const { bytes } = der.readBitString(der.read(value));
  return KEY_USAGE_BITS.filter((_, i) => i >> 3 < bytes.length && (bytes[i >> 3] & (0x80 >> (i & 7))) !== 0);
}

export function decodeExtKeyUsage(value: Buffer): string[] {
  return der.children(der.read(value)).map(der.readOid);
}

function formatIp(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) {
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
    return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return b.toString('hex');
}

export function decodeGeneralName(n: der.Node): SubjectAltName {
  switch (n.tagNumber) {
    case 1:
      return { type: 'email', value: n.content.toString('ascii') };
    case 2:
      return { type: 'dns', value: n.content.toString('ascii') };
    case 6:
      return { type: 'uri', value: n.content.toString('ascii') };
    case 7:
      return { type: 'ip', value: formatIp(n.content) };
    case 4:
      return { type: 'dirName', value: formatName(decodeName(der.children(n)[0])) };
    default:
      return { type: 'otherName', value: n.content.toString('hex') };
  }
}

export function decodeSubjectAltName(value: Buffer): SubjectAltName[] {
  return der.children(der.read(value)).map(decodeGeneralName);
}

export function decodeSubjectKeyIdentifier(value: Buffer): Buffer {
  return der.expect(der.read(value), der.TAG.OCTET_STRING, 'subjectKeyIdentifier').content;
}

export function decodeAuthorityKeyIdentifier(value: Buffer): Buffer | undefined {
  return der.children(der.read(value)).find((n) => n.tagClass === 'context' && n.tagNumber === 0)?.content;
}

export function decodeCrlDistributionPoints(value: Buffer): string[] {
  const urls: string[] = [];
  for (const dp of der.children(der.read(value))) {
    const dpName = der.children(dp).find((n) => n.tagNumber === 0 && n.tagClass === 'context');
    if (!dpName) continue;
    for (const full of der.children(dpName)) {
      if (full.tagNumber !== 0 || !full.constructed) continue;
      for (const gn of der.children(full)) {
        const san = decodeGeneralName(gn);
        if (san.type === 'uri') urls.push(san.value);
      }
    }
  }
  return urls;
}

/** One line per extension for `inspect` output. */
export function describeExtension(ext: Extension): string {
  const crit = ext.critical ? ' (critical)' : '';
  try {
    switch (ext.oid) {
      case OID.basicConstraints: {
        const bc = decodeBasicConstraints(ext.value);
        return `basicConstraints${crit}: CA:${bc.ca ? 'TRUE' : 'FALSE'}${bc.pathLen !== undefined ? `, pathlen:${bc.pathLen}` : ''}`;
      }
      case OID.keyUsage:
        return `keyUsage${crit}: ${decodeKeyUsage(ext.value).join(', ')}`;
      case OID.extKeyUsage:
        return `extKeyUsage${crit}: ${decodeExtKeyUsage(ext.value).map(ekuName).join(', ')}`;
      case OID.subjectAltName:
        return `subjectAltName${crit}: ${decodeSubjectAltName(ext.value)
          .map((s) => `${s.type.toUpperCase()}:${s.value}`)
          .join(', ')}`;
      case OID.subjectKeyIdentifier:
        return `subjectKeyIdentifier${crit}: ${hexColons(decodeSubjectKeyIdentifier(ext.value))}`;
      case OID.authorityKeyIdentifier: {
        const id = decodeAuthorityKeyIdentifier(ext.value);
        return `authorityKeyIdentifier${crit}: ${id ? hexColons(id) : '(no key id)'}`;
      }
      case OID.crlDistributionPoints:
        return `crlDistributionPoints${crit}: ${decodeCrlDistributionPoints(ext.value).join(', ')}`;
      default:
        return `${ext.name}${crit}: ${ext.value.length} bytes`;
    }
  } catch {
    return `${ext.name}${crit}: (undecodable)`;
  }
}

/** "AB:CD:..." */
export function hexColons(b: Buffer): string {
  return b.toString('hex').toUpperCase().match(/../g)?.join(':') ?? '';
}
