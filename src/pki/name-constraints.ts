/**
 * Name constraints (RFC 5280 4.2.1.10, 6.1.3 (b)-(c)) for the forms devices meet: dNSName,
 * rfc822Name (SAN and the subject's emailAddress), uniformResourceIdentifier, iPAddress and
 * directoryName. Excluded subtrees win over permitted ones; a critical constraint on a form not
 * listed here refuses the chain. The comparisons are counted and bounded.
 */
import type { Certificate } from './certificate.ts';
import { decodeSubjectAltNameFull, type GeneralName, type NameConstraints } from './extensions.ts';
import { type DistinguishedName, nameWithin } from './names.ts';
import { OID } from './oids.ts';

/** Most name-times-constraint comparisons for one CA's constraints over one certificate. */
export const MAX_NAME_COMPARISONS = 1 << 16;

const SUPPORTED = new Set(['dns', 'email', 'uri', 'ip', 'dirName']);

/** Why a certificate's names fail a CA's constraints, or undefined when they pass. */
export function nameConstraintViolation(
  constraints: NameConstraints,
  critical: boolean,
  cert: Certificate,
): string | undefined {
  const all = [...constraints.permitted, ...constraints.excluded];
  const unsupported = all.find((c) => !SUPPORTED.has(c.type));
  if (unsupported && critical) {
    return `the CA constrains ${unsupported.type} names, a form zerotouch does not process`;
  }
  for (const c of all) {
    if (c.type === 'ip' && !contiguousMask(c.raw!.subarray(c.raw!.length / 2))) {
      return `the CA's iPAddress constraint ${c.value} has a mask that is not contiguous`;
    }
  }
  const names = namesOf(cert);
  if (names.length * all.length > MAX_NAME_COMPARISONS) {
    return `checking ${names.length} names against ${all.length} constraints is more work than allowed`;
  }
  for (const n of names) {
    const excluded = constraints.excluded.find((c) => c.type === n.type && matches(c, n, true));
    if (excluded) return `${label(n)} is in the excluded subtree ${label(excluded)}`;
    const permitted = constraints.permitted.filter((c) => c.type === n.type);
    if (permitted.length > 0 && !permitted.some((c) => matches(c, n, false))) {
      return `${label(n)} is outside the permitted subtrees (${permitted.map(label).join(', ')})`;
    }
    if (n.type === 'uri' && all.some((c) => c.type === 'uri') && !uriHost(n.value)) {
      return `${label(n)} has no host name, so the CA's URI constraints cannot be applied`;
    }
  }
  return undefined;
}

function label(n: GeneralName): string {
  return `${n.type}:${n.value || '(empty)'}`;
}

/** The names of a certificate that constraints apply to: SANs, the subject, its emailAddress values. */
function namesOf(cert: Certificate): GeneralName[] {
  const out: GeneralName[] = [];
  const san = cert.extensions.find((e) => e.oid === OID.subjectAltName);
  if (san) out.push(...decodeSubjectAltNameFull(san.value));
  if (cert.subject.rdns.length > 0) out.push({ type: 'dirName', value: '', name: cert.subject });
  for (const a of cert.subject.attributes) {
    if (a.oid === OID.emailAddress) out.push({ type: 'email', value: a.value });
  }
  return out;
}

function contiguousMask(mask: Buffer): boolean {
  let seenZero = false;
  for (const byte of mask) {
    for (let bit = 7; bit >= 0; bit--) {
      const one = (byte >> bit) & 1;
      if (one && seenZero) return false;
      if (!one) seenZero = true;
    }
  }
  return true;
}

function matches(c: GeneralName, n: GeneralName, excluding: boolean): boolean {
  switch (c.type) {
    case 'dns':
      return dnsMatch(c.value, n.value, excluding);
    case 'email':
      return emailMatch(c.value, n.value);
    case 'uri': {
      const host = uriHost(n.value);
      // A URI without a host name cannot be shown to be outside an excluded subtree.
      return host === undefined ? excluding : hostMatch(c.value, host);
    }
    case 'ip':
      return ipMatch(c.raw!, n.raw!);
    case 'dirName':
      return withinName(n.name!, c.name!);
    default:
      return false;
  }
}

function withinName(name: DistinguishedName, base: DistinguishedName): boolean {
  return nameWithin(name, base);
}

const lower = (s: string) => s.toLowerCase().replace(/\.$/, '');

/** "host.example.com" matches itself and its subdomains; ".example.com" only subdomains. */
function hostMatch(constraint: string, host: string): boolean {
  const c = lower(constraint);
  const h = lower(host);
  if (c === '') return true;
  if (c.startsWith('.')) return h.endsWith(c);
  return h === c || h.endsWith('.' + c);
}

function dnsMatch(constraint: string, name: string, excluding: boolean): boolean {
  if (hostMatch(constraint, name)) return true;
  // A wildcard name overlaps an excluded subtree below its base: "*.example.com" could be
  // "foo.example.com"; any overlap counts as excluded.
  const n = lower(name);
  if (excluding && n.startsWith('*.')) {
    const base = n.slice(2);
    const c = lower(constraint).replace(/^\./, '');
    return c === base || c.endsWith('.' + base);
  }
  return false;
}

/** "user@host" matches that mailbox; "host" every mailbox on the host; ".host" those on subdomains. */
function emailMatch(constraint: string, mailbox: string): boolean {
  const at = mailbox.lastIndexOf('@');
  if (at <= 0) return false;
  const local = mailbox.slice(0, at);
  const host = mailbox.slice(at + 1).toLowerCase();
  const cat = constraint.lastIndexOf('@');
  if (cat >= 0) return constraint.slice(0, cat) === local && constraint.slice(cat + 1).toLowerCase() === host;
  const c = constraint.toLowerCase();
  if (c.startsWith('.')) return host.endsWith(c);
  return host === c;
}

/** The host name of a URI, or undefined when it has none or it is an IP literal. */
function uriHost(uri: string): string | undefined {
  const m = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^:/?#]*)/.exec(uri);
  const host = m?.[1];
  if (!host || host.startsWith('[') || /^[0-9.]+$/.test(host)) return undefined;
  return host;
}

function ipMatch(constraint: Buffer, ip: Buffer): boolean {
  if (constraint.length !== ip.length * 2) return false;
  for (let i = 0; i < ip.length; i++) {
    const mask = constraint[ip.length + i]!;
    if ((ip[i]! & mask) !== (constraint[i]! & mask)) return false;
  }
  return true;
}
