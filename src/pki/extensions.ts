/** X.509 v3 extensions: encoding what we issue and decoding what we check or show. */
import { isIP } from 'node:net';
import { ZtError } from '../errors.ts';
import * as der from './der.ts';
import { type DistinguishedName, decodeName, formatName } from './names.ts';
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

export type SanType =
  'dns' | 'ip' | 'uri' | 'email' | 'dirName' | 'otherName' | 'registeredId' | 'x400Address' | 'ediPartyName';

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
//
// Every decoder reads the whole extension value and refuses anything the ASN.1 module or DER
// does not allow, so a known extension either means exactly one thing or fails the certificate.

/** Decodes the Extensions SEQUENCE: non-empty, no OID twice, `critical` written only when TRUE. */
export function decodeExtensions(node: der.Node): Extension[] {
  der.expect(node, der.TAG.SEQUENCE, 'extensions');
  const items = der.children(node);
  if (items.length === 0) der.malformed('extensions-empty', 'the extensions list is present but empty');
  const seen = new Set<string>();
  return items.map((ext) => {
    const parts = der.children(der.expect(ext, der.TAG.SEQUENCE, 'extension'));
    const oid = der.readOid(der.expect(parts[0], der.TAG.OID, 'extension id'));
    const name = extensionName(oid);
    if (seen.has(oid)) der.malformed('extension-duplicate', `extension ${name} appears more than once`);
    seen.add(oid);
    let i = 1;
    let critical = false;
    if (parts[1]?.tag === der.TAG.BOOLEAN) {
      critical = der.readBool(parts[1], `extension ${name} critical flag`);
      if (!critical) {
        der.malformed('default-encoded', `extension ${name} writes critical FALSE, which DER leaves out`);
      }
      i = 2;
    }
    const value = der.expect(parts[i], der.TAG.OCTET_STRING, `extension ${name} value`).content;
    der.noMore(parts, i + 1, `extension ${name}`);
    return { oid, name, critical, value };
  });
}

/** A SEQUENCE filling `value` with at least one element. */
function nonEmptySeq(value: Buffer, what: string): der.Node[] {
  const items = der.children(der.expect(der.read(value), der.TAG.SEQUENCE, what));
  if (items.length === 0) der.malformed('extension-empty', `${what} is empty`);
  return items;
}

export function decodeBasicConstraints(value: Buffer): BasicConstraints {
  const items = der.children(der.expect(der.read(value), der.TAG.SEQUENCE, 'basicConstraints'));
  let i = 0;
  let ca = false;
  if (items[i]?.tag === der.TAG.BOOLEAN) {
    ca = der.readBool(items[i++]!, 'basicConstraints cA');
    if (!ca) der.malformed('default-encoded', 'basicConstraints writes cA FALSE, which DER leaves out');
  }
  let pathLen: number | undefined;
  if (items[i]?.tag === der.TAG.INTEGER) {
    const node = items[i++]!;
    if (der.isNegativeInteger(node))
      der.malformed('pathlen-negative', 'basicConstraints pathLenConstraint is negative');
    pathLen = der.readSmallInt(node, 'basicConstraints pathLenConstraint');
    if (!ca) der.malformed('pathlen-without-ca', 'basicConstraints has a pathLenConstraint without cA TRUE');
  }
  der.noMore(items, i, 'basicConstraints');
  return pathLen === undefined ? { ca } : { ca, pathLen };
}

export function decodeKeyUsage(value: Buffer): KeyUsage[] {
  const { bytes, unusedBits } = der.readBitString(der.read(value), 'keyUsage');
  // DER drops trailing zero bits of a named bit list (X.690 11.2.2): the last bit is a one.
  if (bytes.length === 0 || bytes.every((b) => b === 0))
    der.malformed('key-usage-empty', 'keyUsage has no bit set');
  if (!((bytes[bytes.length - 1]! >> unusedBits) & 1)) {
    der.malformed('bitstring-trailing-zero', 'keyUsage has trailing zero bits, which DER removes');
  }
  return KEY_USAGE_BITS.filter((_, i) => i >> 3 < bytes.length && (bytes[i >> 3]! & (0x80 >> (i & 7))) !== 0);
}

export function decodeExtKeyUsage(value: Buffer): string[] {
  return nonEmptySeq(value, 'extKeyUsage').map((n) => der.readOid(n));
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

/** One decoded GeneralName; `raw` keeps IP bytes and `name` a directoryName for name constraints. */
export interface GeneralName extends SubjectAltName {
  raw?: Buffer;
  name?: DistinguishedName;
}

/**
 * Decodes a GeneralName (RFC 5280 4.2.1.6). `ipLength` is 4/16 for SANs and 8/32 (address and
 * mask) in name constraints.
 */
export function decodeGeneralName(n: der.Node, ipLengths: number[] = [4, 16]): GeneralName {
  switch (n.tag) {
    case 0xa0: {
      const parts = der.children(n);
      const typeId = der.readOid(der.expect(parts[0], der.TAG.OID, 'otherName type'));
      const v = der.expect(parts[1], 0xa0, 'otherName value');
      const inner = der.children(v);
      if (inner.length !== 1) der.malformed('general-name', 'otherName value must hold exactly one element');
      der.checkTree(inner[0]!);
      der.noMore(parts, 2, 'otherName');
      return { type: 'otherName', value: `${typeId}:${inner[0]!.raw.toString('hex')}` };
    }
    case 0x81:
      return { type: 'email', value: der.readAscii(n, 'rfc822Name') };
    case 0x82:
      return { type: 'dns', value: der.readAscii(n, 'dNSName') };
    case 0xa3:
    case 0xa5:
      der.checkTree(n);
      return { type: n.tag === 0xa3 ? 'x400Address' : 'ediPartyName', value: n.content.toString('hex') };
    case 0xa4: {
      const inner = der.children(n);
      if (inner.length !== 1) der.malformed('general-name', 'directoryName must hold exactly one Name');
      const name = decodeName(inner[0]!, 'directoryName');
      return { type: 'dirName', value: formatName(name), name };
    }
    case 0x86:
      return { type: 'uri', value: der.readAscii(n, 'uniformResourceIdentifier') };
    case 0x87:
      if (!ipLengths.includes(n.content.length)) {
        der.malformed(
          'ip-length',
          `an iPAddress of ${n.content.length} bytes; expected ${ipLengths.join(' or ')}`,
        );
      }
      return { type: 'ip', value: formatIp(n.content), raw: n.content };
    case 0x88:
      return { type: 'registeredId', value: der.readOid({ ...n, tag: der.TAG.OID }) };
    default:
      return der.malformed('general-name', `tag 0x${n.tag.toString(16)} is not a GeneralName`);
  }
}

/** GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName, from a constructed node. */
function decodeGeneralNames(node: der.Node, what: string): GeneralName[] {
  const items = der.children(node);
  if (items.length === 0) der.malformed('extension-empty', `${what} is empty`);
  return items.map((n) => decodeGeneralName(n));
}

/** SubjectAltName with the IP bytes and directory names kept (for name constraints). */
export function decodeSubjectAltNameFull(value: Buffer): GeneralName[] {
  return decodeGeneralNames(
    der.expect(der.read(value), der.TAG.SEQUENCE, 'subjectAltName'),
    'subjectAltName',
  );
}

/** SubjectAltName as type and printable value. */
export function decodeSubjectAltName(value: Buffer): SubjectAltName[] {
  return decodeSubjectAltNameFull(value).map(({ type, value }) => ({ type, value }));
}

export function decodeSubjectKeyIdentifier(value: Buffer): Buffer {
  return der.expect(der.read(value), der.TAG.OCTET_STRING, 'subjectKeyIdentifier').content;
}

/**
 * AuthorityKeyIdentifier: [0] keyIdentifier, [1] authorityCertIssuer, [2] serial, each optional,
 * in order; issuer and serial come together or not at all (X.509 8.2.2.1).
 */
export function decodeAuthorityKeyIdentifierFull(value: Buffer): { keyId?: Buffer; serial?: string } {
  const items = der.children(der.expect(der.read(value), der.TAG.SEQUENCE, 'authorityKeyIdentifier'));
  let i = 0;
  const out: { keyId?: Buffer; serial?: string } = {};
  if (items[i]?.tag === 0x80) out.keyId = items[i++]!.content;
  const issuer =
    items[i]?.tag === 0xa1 ? decodeGeneralNames(items[i++]!, 'authorityKeyIdentifier issuer') : undefined;
  if (items[i]?.tag === 0x82) {
    const bytes = der.readIntegerBytes(
      { ...items[i++]!, tag: der.TAG.INTEGER },
      'authorityKeyIdentifier serial',
    );
    out.serial = bytes.toString('hex').toUpperCase();
  }
  der.noMore(items, i, 'authorityKeyIdentifier');
  if (!issuer !== !out.serial) {
    der.malformed(
      'aki-issuer-serial-unpaired',
      'authorityKeyIdentifier has an issuer without a serial number or the reverse',
    );
  }
  return out;
}

/** The keyIdentifier of an AuthorityKeyIdentifier, if it has one. */
export function decodeAuthorityKeyIdentifier(value: Buffer): Buffer | undefined {
  return decodeAuthorityKeyIdentifierFull(value).keyId;
}

/** The URIs of the fullName distribution points, after checking the whole structure. */
export function decodeCrlDistributionPoints(value: Buffer): string[] {
  const urls: string[] = [];
  for (const dp of nonEmptySeq(value, 'cRLDistributionPoints')) {
    const items = der.children(der.expect(dp, der.TAG.SEQUENCE, 'DistributionPoint'));
    let i = 0;
    if (items[i]?.tag === 0xa0) {
      const choice = der.children(items[i++]!);
      if (choice.length !== 1) der.malformed('crl-dp', 'distributionPoint must hold exactly one name');
      const name = choice[0]!;
      if (name.tag === 0xa0) {
        for (const gn of decodeGeneralNames(name, 'distributionPoint fullName')) {
          if (gn.type === 'uri') urls.push(gn.value);
        }
      } else if (name.tag === 0xa1) {
        der.checkTree(name);
      } else der.malformed('crl-dp', 'distributionPoint is neither fullName nor nameRelativeToCRLIssuer');
    }
    if (items[i]?.tag === 0x81) der.readBitString({ ...items[i++]!, tag: der.TAG.BIT_STRING }, 'reasons');
    if (items[i]?.tag === 0xa2) decodeGeneralNames(items[i++]!, 'cRLIssuer');
    der.noMore(items, i, 'DistributionPoint');
    if (i === 0) der.malformed('crl-dp', 'a DistributionPoint is empty');
  }
  return urls;
}

/** AuthorityInfoAccess / SubjectInfoAccess: access method OIDs and locations. */
export function decodeInfoAccess(value: Buffer): Array<{ method: string; location: GeneralName }> {
  return nonEmptySeq(value, 'authorityInfoAccess').map((ad) => {
    const parts = der.children(der.expect(ad, der.TAG.SEQUENCE, 'AccessDescription'));
    const method = der.readOid(der.expect(parts[0], der.TAG.OID, 'accessMethod'));
    if (!parts[1]) der.malformed('der-missing', 'accessLocation is missing');
    const location = decodeGeneralName(parts[1]);
    der.noMore(parts, 2, 'AccessDescription');
    return { method, location };
  });
}

export interface NameConstraints {
  permitted: GeneralName[];
  excluded: GeneralName[];
}

function decodeSubtrees(node: der.Node, what: string): GeneralName[] {
  const items = der.children(node);
  if (items.length === 0) der.malformed('name-constraints', `nameConstraints ${what} is empty`);
  return items.map((st) => {
    const parts = der.children(der.expect(st, der.TAG.SEQUENCE, 'GeneralSubtree'));
    if (!parts[0]) der.malformed('name-constraints', 'a GeneralSubtree has no base');
    const base = decodeGeneralName(parts[0], [8, 32]);
    // minimum is DEFAULT 0 and MUST be 0, maximum MUST be absent (RFC 5280 4.2.1.10).
    if (parts.length > 1) {
      der.malformed(
        'name-constraints-minmax',
        'a GeneralSubtree sets minimum or maximum, which RFC 5280 forbids',
      );
    }
    return base;
  });
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] OPTIONAL, excludedSubtrees [1] OPTIONAL }, not empty. */
export function decodeNameConstraints(value: Buffer): NameConstraints {
  const items = der.children(der.expect(der.read(value), der.TAG.SEQUENCE, 'nameConstraints'));
  let i = 0;
  const out: NameConstraints = { permitted: [], excluded: [] };
  if (items[i]?.tag === 0xa0) out.permitted = decodeSubtrees(items[i++]!, 'permittedSubtrees');
  if (items[i]?.tag === 0xa1) out.excluded = decodeSubtrees(items[i++]!, 'excludedSubtrees');
  der.noMore(items, i, 'nameConstraints');
  if (i === 0) der.malformed('name-constraints', 'nameConstraints is empty');
  return out;
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
