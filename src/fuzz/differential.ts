/**
 * The differential test against OpenSSL: generate valid and malformed device certificates
 * (structured field changes, DER encoding changes, random bytes in the signed part, changes
 * outside the signature), all signed properly by one CA, and ask both zerotouch (parse, then
 * validate for TLS client use) and OpenSSL (`node:crypto` X509Certificate, then `openssl verify
 * -purpose sslclient`) whether each is acceptable. Disagreements are grouped by the rule
 * zerotouch applied or the reason OpenSSL gave.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { isZtError } from '../errors.ts';
import { type Certificate, certificatePem, parseCertificate } from '../pki/certificate.ts';
import { validateChain } from '../pki/chain.ts';
import * as der from '../pki/der.ts';
import {
  encodeBasicConstraints,
  encodeExtension,
  encodeExtKeyUsage,
  encodeKeyUsage,
  encodeSubjectAltName,
} from '../pki/extensions.ts';
import { generateKey } from '../pki/keys.ts';
import { OID } from '../pki/oids.ts';
import { CertificateSigner } from '../pki/issue.ts';
import { toPem } from '../pki/pem.ts';
import {
  assembleTbs,
  deviceParts,
  flipEcdsaS,
  type ForgeIssuer,
  signTbs,
  type TbsParts,
} from '../testing/forge.ts';
import { Rng } from './mutate.ts';

const run = promisify(execFile);

export interface Generated {
  /** family:variant, e.g. "field:serial-zero" or "encoding:long-length". */
  label: string;
  der: Buffer;
}

export interface Verdict {
  accepted: boolean;
  /** zerotouch: the rule or error code; OpenSSL: its error text. */
  reason: string;
}

// ---------------------------------------------------------------- generation

const ext = (oid: string, value: Buffer, critical = false) => encodeExtension(oid, critical, value);
const raw = (tag: number, content: Buffer | string) =>
  der.tlv(tag, typeof content === 'string' ? Buffer.from(content, 'latin1') : content);
const utc = (s: string) => raw(der.TAG.UTC_TIME, s);
const gen = (s: string) => raw(der.TAG.GENERALIZED_TIME, s);
const name = (value: Buffer, oid: string = OID.commonName) =>
  der.seq(der.setOf(der.seq(der.oid(oid), value)));

type FieldChange = [string, (p: TbsParts, rng: Rng) => void];

/** Changes of single fields, each a case a parser has to decide (most from x509-strict.md). */
const FIELD_CHANGES: FieldChange[] = [
  ['none', () => {}],
  ['version-absent-no-extensions', (p) => ((p.version = null), (p.extensions = null))],
  ['version-explicit-v1', (p) => ((p.version = der.explicit(0, der.integer(0))), (p.extensions = null))],
  ['version-v2', (p) => (p.version = der.explicit(0, der.integer(1)))],
  ['version-v4', (p) => (p.version = der.explicit(0, der.integer(3)))],
  ['version-negative', (p) => (p.version = der.explicit(0, raw(2, Buffer.from([0xff]))))],
  ['extensions-in-v1', (p) => (p.version = null)],
  ['serial-zero', (p) => (p.serial = der.integer(0))],
  ['serial-negative', (p) => (p.serial = raw(2, Buffer.from([0xfb])))],
  ['serial-21-octets', (p) => (p.serial = der.integer(Buffer.alloc(21, 0x41)))],
  ['serial-20-octets', (p) => (p.serial = der.integer(Buffer.alloc(20, 0x41)))],
  ['serial-not-minimal', (p) => (p.serial = raw(2, Buffer.from([0, 1])))],
  ['serial-empty', (p) => (p.serial = raw(2, Buffer.alloc(0)))],
  ['algorithm-null-params', (p) => (p.signature = der.seq(der.oid(OID.ecdsaWithSha256), der.NULL))],
  ['issuer-printable-upper', (p) => (p.issuer = name(der.printable('GEN ROOT')))],
  ['issuer-extra-spaces', (p) => (p.issuer = name(der.utf8('  Gen   Root ')))],
  [
    'issuer-bmp',
    (p) =>
      (p.issuer = name(
        raw(
          der.TAG.BMP_STRING,
          Buffer.from('\u0000G\u0000e\u0000n\u0000 \u0000R\u0000o\u0000o\u0000t', 'latin1'),
        ),
      )),
  ],
  ['issuer-other', (p) => (p.issuer = name(der.utf8('Other Root')))],
  ['issuer-empty', (p) => (p.issuer = der.seq())],
  ['issuer-empty-rdn', (p) => (p.issuer = der.seq(raw(der.TAG.SET, Buffer.alloc(0))))],
  ['subject-empty', (p) => (p.subject = der.seq())],
  ['subject-printable-bad-char', (p) => (p.subject = name(der.printable('dev@01')))],
  ['subject-utf8-invalid', (p) => (p.subject = name(raw(der.TAG.UTF8_STRING, Buffer.from([0xc3, 0x28]))))],
  ['subject-ia5-high-bit', (p) => (p.subject = name(raw(der.TAG.IA5_STRING, Buffer.from([0x64, 0xe9]))))],
  [
    'subject-multivalued-rdn',
    (p) =>
      (p.subject = der.seq(
        der.setOf(
          der.seq(der.oid(OID.commonName), der.utf8('dev-01')),
          der.seq(der.oid(OID.organizationName), der.utf8('Acme')),
        ),
      )),
  ],
  [
    'subject-attribute-three-parts',
    (p) => (p.subject = der.seq(der.setOf(der.seq(der.oid(OID.commonName), der.utf8('a'), der.utf8('b'))))),
  ],
  ['time-utc-no-seconds', (p) => (p.validity = der.seq(utc('2601011200Z'), utc('491231235959Z')))],
  ['time-utc-offset', (p) => (p.validity = der.seq(utc('260101120000+0100'), utc('491231235959Z')))],
  ['time-utc-fraction', (p) => (p.validity = der.seq(utc('260101120000.5Z'), utc('491231235959Z')))],
  [
    'time-generalized-before-2050',
    (p) => (p.validity = der.seq(gen('20260101000000Z'), utc('491231235959Z'))),
  ],
  [
    'time-generalized-fraction',
    (p) => (p.validity = der.seq(utc('260101000000Z'), gen('20600101000000.5Z'))),
  ],
  [
    'time-generalized-after-2050',
    (p) => (p.validity = der.seq(utc('260101000000Z'), gen('20600101000000Z'))),
  ],
  ['time-month-13', (p) => (p.validity = der.seq(utc('261301000000Z'), utc('491231235959Z')))],
  ['time-day-32', (p) => (p.validity = der.seq(utc('260132000000Z'), utc('491231235959Z')))],
  ['time-feb-29-non-leap', (p) => (p.validity = der.seq(utc('270229000000Z'), utc('491231235959Z')))],
  ['time-hour-24', (p) => (p.validity = der.seq(utc('260101240000Z'), utc('491231235959Z')))],
  ['time-second-60', (p) => (p.validity = der.seq(utc('260101235960Z'), utc('491231235959Z')))],
  ['time-inverted', (p) => (p.validity = der.seq(utc('300101000000Z'), utc('290101000000Z')))],
  ['time-expired', (p) => (p.validity = der.seq(utc('200101000000Z'), utc('210101000000Z')))],
  ['time-not-yet-valid', (p) => (p.validity = der.seq(utc('400101000000Z'), utc('490101000000Z')))],
  ['spki-ec-null-params', (p) => (p.spki = replaceSpkiParams(p.spki, der.NULL))],
  ['spki-ec-explicit-params', (p) => (p.spki = replaceSpkiParams(p.spki, der.seq(der.integer(1))))],
  ['spki-unused-bits', (p) => (p.spki = spkiUnusedBits(p.spki))],
  ['spki-truncated-point', (p) => (p.spki = spkiTruncated(p.spki))],
  ['unique-ids-v3', (p) => p.uniqueIds.push(der.implicit(1, Buffer.from([0, 1, 2])))],
  ['extensions-none', (p) => (p.extensions = null)],
  ['extensions-empty', (p) => (p.extensions = [])],
  [
    'ext-duplicate-basic-constraints',
    (p) => p.extensions!.push(ext(OID.basicConstraints, encodeBasicConstraints({ ca: false }), true)),
  ],
  [
    'ext-critical-false',
    (p) =>
      (p.extensions![1] = der.seq(
        der.oid(OID.keyUsage),
        der.bool(false),
        der.octetString(encodeKeyUsage(['digitalSignature'])),
      )),
  ],
  [
    'ext-boolean-01',
    (p) =>
      (p.extensions![1] = der.seq(
        der.oid(OID.keyUsage),
        raw(1, Buffer.from([1])),
        der.octetString(encodeKeyUsage(['digitalSignature'])),
      )),
  ],
  [
    'ext-boolean-empty',
    (p) =>
      (p.extensions![1] = der.seq(
        der.oid(OID.keyUsage),
        raw(1, Buffer.alloc(0)),
        der.octetString(encodeKeyUsage(['digitalSignature'])),
      )),
  ],
  ['ext-unknown-critical', (p) => p.extensions!.push(ext('1.3.6.1.4.1.55555.7', der.NULL, true))],
  ['ext-unknown', (p) => p.extensions!.push(ext('1.3.6.1.4.1.55555.7', der.NULL))],
  [
    'ext-value-trailing',
    (p) =>
      (p.extensions![1] = ext(
        OID.keyUsage,
        Buffer.concat([encodeKeyUsage(['digitalSignature']), der.NULL]),
        true,
      )),
  ],
  [
    'bc-ca-false-encoded',
    (p) => (p.extensions![0] = ext(OID.basicConstraints, der.seq(der.bool(false)), true)),
  ],
  [
    'bc-ca-true-leaf',
    (p) => (p.extensions![0] = ext(OID.basicConstraints, encodeBasicConstraints({ ca: true }), true)),
  ],
  [
    'bc-pathlen-negative',
    (p) =>
      (p.extensions![0] = ext(
        OID.basicConstraints,
        der.seq(der.bool(true), raw(2, Buffer.from([0xff]))),
        true,
      )),
  ],
  [
    'bc-pathlen-without-ca',
    (p) => (p.extensions![0] = ext(OID.basicConstraints, der.seq(der.integer(0)), true)),
  ],
  ['ku-empty', (p) => (p.extensions![1] = ext(OID.keyUsage, der.bitString(Buffer.alloc(0)), true))],
  [
    'ku-trailing-zero',
    (p) => (p.extensions![1] = ext(OID.keyUsage, der.bitString(Buffer.from([0x80, 0])), true)),
  ],
  [
    'ku-unused-bits-set',
    (p) => (p.extensions![1] = ext(OID.keyUsage, der.bitString(Buffer.from([0x81]), 1), true)),
  ],
  [
    'ku-key-encipherment-only',
    (p) => (p.extensions![1] = ext(OID.keyUsage, encodeKeyUsage(['keyEncipherment']), true)),
  ],
  [
    'ku-key-agreement-only',
    (p) => (p.extensions![1] = ext(OID.keyUsage, encodeKeyUsage(['keyAgreement']), true)),
  ],
  ['ku-cert-sign-only', (p) => (p.extensions![1] = ext(OID.keyUsage, encodeKeyUsage(['keyCertSign']), true))],
  ['eku-server-only', (p) => (p.extensions![2] = ext(OID.extKeyUsage, encodeExtKeyUsage([OID.serverAuth])))],
  ['eku-any', (p) => (p.extensions![2] = ext(OID.extKeyUsage, encodeExtKeyUsage([OID.anyExtendedKeyUsage])))],
  ['eku-empty', (p) => (p.extensions![2] = ext(OID.extKeyUsage, der.seq()))],
  [
    'san-dns',
    (p) =>
      p.extensions!.push(
        ext(OID.subjectAltName, encodeSubjectAltName([{ type: 'dns', value: 'dev-01.example' }])),
      ),
  ],
  ['san-empty', (p) => p.extensions!.push(ext(OID.subjectAltName, der.seq()))],
  [
    'san-ip-5-bytes',
    (p) => p.extensions!.push(ext(OID.subjectAltName, der.seq(der.implicit(7, Buffer.alloc(5))))),
  ],
  [
    'san-dns-non-ascii',
    (p) => p.extensions!.push(ext(OID.subjectAltName, der.seq(der.implicit(2, Buffer.from([0x64, 0xe9]))))),
  ],
  [
    'san-unknown-tag',
    (p) => p.extensions!.push(ext(OID.subjectAltName, der.seq(der.implicit(9, Buffer.from('x'))))),
  ],
  [
    'aki-critical',
    (p) =>
      (p.extensions![4] = der.seq(
        der.oid(OID.authorityKeyIdentifier),
        der.bool(true),
        der.octetString(der.seq(der.implicit(0, Buffer.alloc(20, 1)))),
      )),
  ],
  [
    'ski-critical',
    (p) =>
      (p.extensions![3] = der.seq(
        der.oid(OID.subjectKeyIdentifier),
        der.bool(true),
        der.octetString(der.octetString(Buffer.alloc(20, 2))),
      )),
  ],
  [
    'aki-wrong-key-id',
    (p) =>
      (p.extensions![4] = ext(OID.authorityKeyIdentifier, der.seq(der.implicit(0, Buffer.alloc(20, 9))))),
  ],
  [
    'policies-critical',
    (p) => p.extensions!.push(ext(OID.certificatePolicies, der.seq(der.seq(der.oid('2.5.29.32.0'))), true)),
  ],
  [
    'policies',
    (p) => p.extensions!.push(ext(OID.certificatePolicies, der.seq(der.seq(der.oid('2.5.29.32.0'))))),
  ],
  [
    'aia-critical',
    (p) =>
      p.extensions!.push(
        ext(
          OID.authorityInfoAccess,
          der.seq(
            der.seq(der.oid('1.3.6.1.5.5.7.48.1'), der.implicit(6, Buffer.from('http://ocsp.example'))),
          ),
          true,
        ),
      ),
  ],
  [
    'oid-not-minimal',
    (p) =>
      p.extensions!.push(
        der.seq(raw(der.TAG.OID, Buffer.from('5580811d', 'hex')), der.octetString(der.NULL)),
      ),
  ],
  [
    'oid-dangling',
    (p) =>
      p.extensions!.push(der.seq(raw(der.TAG.OID, Buffer.from('551d8f', 'hex')), der.octetString(der.NULL))),
  ],
  [
    'oid-long',
    (p, rng) =>
      p.extensions!.push(
        der.seq(
          raw(
            der.TAG.OID,
            Buffer.concat([Buffer.from([0x2b]), Buffer.alloc(100 + rng.int(500), 0x81), Buffer.from([1])]),
          ),
          der.octetString(der.NULL),
        ),
      ),
  ],
  ['oid-uuid-arc', (p) => p.extensions!.push(ext('2.25.329800735698586629295641978511506172918', der.NULL))],
  ['tbs-trailing-element', (p) => p.trailing.push(der.NULL)],
];

function replaceSpkiParams(spki: Buffer, params: Buffer): Buffer {
  const [alg, bits] = der.children(der.read(spki));
  const [oid] = der.children(alg!);
  return der.seq(der.seq(oid!.raw, params), bits!.raw);
}
function spkiUnusedBits(spki: Buffer): Buffer {
  const [alg, bits] = der.children(der.read(spki));
  const b = Buffer.from(bits!.content);
  b[0] = 1;
  b[b.length - 1]! &= 0xfe;
  return der.seq(alg!.raw, raw(der.TAG.BIT_STRING, b));
}
function spkiTruncated(spki: Buffer): Buffer {
  const [alg, bits] = der.children(der.read(spki));
  return der.seq(alg!.raw, raw(der.TAG.BIT_STRING, bits!.content.subarray(0, bits!.content.length - 5)));
}

/** A DER tree, for changes that keep everything else well-formed. */
interface Tree {
  tag: number;
  kids?: Tree[];
  content?: Buffer;
  /** Write this node's length in a non-minimal form. */
  longLength?: boolean;
}

function toTree(b: Buffer): Tree {
  const n = der.read(b);
  return n.constructed
    ? { tag: n.tag, kids: der.children(n).map((c) => toTree(Buffer.from(c.raw))) }
    : { tag: n.tag, content: n.content };
}

function fromTree(t: Tree): Buffer {
  const content = t.kids ? Buffer.concat(t.kids.map(fromTree)) : t.content!;
  if (!t.longLength) return der.tlv(t.tag, content);
  const len = content.length;
  const octets = [0, (len >> 8) & 0xff, len & 0xff];
  return Buffer.concat([Buffer.from([t.tag, 0x80 | octets.length, ...octets]), content]);
}

function nodes(t: Tree, out: Tree[] = []): Tree[] {
  out.push(t);
  for (const k of t.kids ?? []) nodes(k, out);
  return out;
}

type EncodingChange = [string, (t: Tree, rng: Rng) => void];
const ENCODING_CHANGES: EncodingChange[] = [
  ['long-length', (t) => (t.longLength = true)],
  [
    'retag-string',
    (t) => (t.tag = t.tag === der.TAG.UTF8_STRING ? der.TAG.PRINTABLE_STRING : der.TAG.UTF8_STRING),
  ],
  ['retag-set-sequence', (t) => (t.tag = t.tag === der.TAG.SET ? der.TAG.SEQUENCE : der.TAG.SET)],
  ['retag-context', (t, rng) => (t.tag = 0x80 | (t.tag & 0x20) | rng.int(4))],
  ['append-null', (t) => t.kids?.push({ tag: der.TAG.NULL, content: Buffer.alloc(0) })],
  ['drop-child', (t, rng) => t.kids?.splice(rng.int(t.kids.length), 1)],
  ['duplicate-child', (t, rng) => t.kids?.length && t.kids.push(t.kids[rng.int(t.kids.length)]!)],
  ['swap-children', (t) => t.kids && t.kids.length > 1 && t.kids.reverse()],
  [
    'content-flip',
    (t, rng) =>
      t.content?.length &&
      (t.content = Buffer.from(t.content)) &&
      (t.content[rng.int(t.content.length)]! ^= 1 << rng.int(8)),
  ],
  ['content-empty', (t) => t.content && (t.content = Buffer.alloc(0))],
  [
    'content-extend',
    (t, rng) => t.content && (t.content = Buffer.concat([t.content, rng.bytes(1 + rng.int(3))])),
  ],
  ['content-leading-zero', (t) => t.content && (t.content = Buffer.concat([Buffer.from([0]), t.content]))],
];

type OuterChange = [string, (cert: Buffer, rng: Rng) => Buffer];
const OUTER_CHANGES: OuterChange[] = [
  [
    'high-s',
    (c) =>
      outer(c, (tbs, alg, sig) => [
        tbs,
        alg,
        der.bitString(flipEcdsaS(der.readOctetBits(der.read(sig), 'sig'))),
      ]),
  ],
  ['trailing-byte', (c) => Buffer.concat([c, Buffer.from([0])])],
  ['extra-element', (c) => outer(c, (tbs, alg, sig) => [tbs, alg, sig, der.NULL])],
  [
    'outer-algorithm-differs',
    (c) => outer(c, (tbs, _alg, sig) => [tbs, der.seq(der.oid(OID.ecdsaWithSha384)), sig]),
  ],
  [
    'outer-algorithm-null',
    (c) => outer(c, (tbs, _alg, sig) => [tbs, der.seq(der.oid(OID.ecdsaWithSha256), der.NULL), sig]),
  ],
  [
    'signature-unused-bits',
    (c) =>
      outer(c, (tbs, alg, sig) => [
        tbs,
        alg,
        raw(
          der.TAG.BIT_STRING,
          Buffer.concat([Buffer.from([0]), sig.subarray(3), Buffer.from([0])]).fill(1, 0, 1),
        ),
      ]),
  ],
  [
    'outer-long-length',
    (c) => {
      const content = der.read(c).content;
      return Buffer.concat([
        Buffer.from([0x30, 0x83, 0, (content.length >> 8) & 0xff, content.length & 0xff]),
        content,
      ]);
    },
  ],
  [
    'signature-flip',
    (c, rng) =>
      outer(c, (tbs, alg, sig) => {
        const s = Buffer.from(sig);
        s[s.length - 1 - rng.int(8)]! ^= 1;
        return [tbs, alg, s];
      }),
  ],
];

function outer(c: Buffer, f: (tbs: Buffer, alg: Buffer, sig: Buffer) => Buffer[]): Buffer {
  const [tbs, alg, sig] = der.children(der.read(c));
  return der.seq(...f(tbs!.raw, alg!.raw, sig!.raw));
}

/** The keys certificates are made for: mostly P-256, some RSA and Ed25519. */
export function subjectKeys(): KeyObject[] {
  return [
    ...Array.from({ length: 12 }, () => generateKey('p256')),
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey,
    generateKey('ed25519'),
  ];
}

/** `n` certificates under `issuer` (a P-256 CA), deterministic for a seed but for signatures. */
export function generateCertificates(
  n: number,
  seed: number,
  issuer: ForgeIssuer,
  keys: KeyObject[],
): Generated[] {
  const rng = new Rng(seed);
  const out: Generated[] = [];
  for (let i = 0; i < n; i++) {
    const parts = deviceParts(issuer, rng.pick(keys), { CN: `dev-${i}` });
    parts.validity = der.seq(utc('260101000000Z'), utc('491231235959Z'));
    const family = rng.int(10);
    let label: string;
    let tbs: Buffer;
    if (family < 5) {
      // One or two field changes.
      const a = rng.pick(FIELD_CHANGES);
      a[1](parts, rng);
      label = `field:${a[0]}`;
      if (rng.int(4) === 0) {
        const b = rng.pick(FIELD_CHANGES);
        // A second change may not apply (no extensions left to change): then there is one.
        try {
          b[1](parts, rng);
          label += `+${b[0]}`;
        } catch {
          // keep the first change alone
        }
      }
      // A change that set an index past the end of a shortened list leaves holes: close them.
      if (parts.extensions) parts.extensions = parts.extensions.filter((e) => e !== undefined);
      tbs = assembleTbs(parts);
    } else if (family < 8) {
      const t = toTree(assembleTbs(parts));
      const all = nodes(t).slice(1);
      const c = rng.pick(ENCODING_CHANGES);
      c[1](rng.pick(all), rng);
      label = `encoding:${c[0]}`;
      tbs = fromTree(t);
    } else if (family < 9) {
      tbs = Buffer.from(assembleTbs(parts));
      const flips = 1 + rng.int(3);
      for (let k = 0; k < flips; k++) tbs[4 + rng.int(tbs.length - 4)]! ^= 1 << rng.int(8);
      label = 'bytes:flip';
    } else {
      const c = rng.pick(OUTER_CHANGES);
      out.push({
        label: `outer:${c[0]}`,
        der: c[1](signTbs(issuer.key, assembleTbs(parts), {}, parts.signature), rng),
      });
      continue;
    }
    out.push({ label, der: signTbs(issuer.key, tbs, {}, parts.signature) });
  }
  return out;
}

// ---------------------------------------------------------------- verdicts

/** zerotouch's verdict: parse strictly, then validate as a TLS client certificate under `anchor`. */
export function zerotouchVerdict(certDer: Buffer, anchor: Certificate, at: Date): Verdict {
  try {
    const c = parseCertificate(certDer);
    validateChain(c, [], [anchor], { at, requiredEku: OID.clientAuth });
    return { accepted: true, reason: 'ok' };
  } catch (e) {
    if (!isZtError(e)) return { accepted: false, reason: `BUG ${(e as Error).message}` };
    return { accepted: false, reason: typeof e.detail?.rule === 'string' ? e.detail.rule : e.code };
  }
}

/**
 * OpenSSL's verdicts for many certificates: X509Certificate must read each, and one `openssl
 * verify -purpose sslclient -attime` run per thousand certificates must call it OK.
 */
export async function opensslVerdicts(certs: Buffer[], anchor: Certificate, at: Date): Promise<Verdict[]> {
  const dir = mkdtempSync(join(tmpdir(), 'zt-diff-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), certificatePem(anchor));
    const verdicts: Verdict[] = certs.map((c) => {
      try {
        new X509Certificate(c);
        return { accepted: true, reason: 'ok' };
      } catch {
        return { accepted: false, reason: 'X509Certificate cannot read it' };
      }
    });
    const readable = verdicts.map((v, i) => (v.accepted ? i : -1)).filter((i) => i >= 0);
    for (let start = 0; start < readable.length; start += 1000) {
      const batch = readable.slice(start, start + 1000);
      for (const i of batch) writeFileSync(join(dir, `c${i}.pem`), toPem('CERTIFICATE', certs[i]!));
      const args = [
        'verify',
        '-CAfile',
        'ca.pem',
        '-purpose',
        'sslclient',
        '-attime',
        String(Math.floor(at.getTime() / 1000)),
        ...batch.map((i) => `c${i}.pem`),
      ];
      const r = await run('openssl', args, { cwd: dir, maxBuffer: 64 * 1024 * 1024 }).catch(
        (e: { stdout: string; stderr: string }) => e,
      );
      const ok = new Set(
        r.stdout
          .split('\n')
          .filter((l) => l.endsWith(': OK'))
          .map((l) => l.slice(0, -4)),
      );
      let last = 'verification failed';
      const failed = new Map<string, string>();
      for (const line of r.stderr.split('\n')) {
        const e = /^error \d+ at \d+ depth lookup: (.*)$/.exec(line);
        if (e) last = e[1]!;
        const f = /^error (c\d+\.pem): verification failed$/.exec(line);
        if (f) failed.set(f[1]!, last);
        const u = /(?:Could not read certificate file from|unable to load certificate.*?) ?(c\d+\.pem)/i.exec(
          line,
        );
        if (u) failed.set(u[1]!, 'openssl cannot read it');
      }
      for (const i of batch) {
        const file = `c${i}.pem`;
        verdicts[i] = ok.has(file)
          ? { accepted: true, reason: 'ok' }
          : { accepted: false, reason: failed.get(file) ?? 'no answer from openssl verify' };
      }
    }
    return verdicts;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface Disagreement {
  /** "zerotouch-only" refuses (OpenSSL accepts) or "openssl-only" refuses (zerotouch accepts). */
  side: 'zerotouch-only' | 'openssl-only';
  /** The rule (zerotouch) or error text (OpenSSL) behind the refusal. */
  reason: string;
  count: number;
  examples: string[];
}

export interface DifferentialReport {
  total: number;
  agreed: number;
  bothAccepted: number;
  bothRefused: number;
  disagreements: Disagreement[];
  bugs: Array<{ label: string; reason: string }>;
}

/** Compares both verdicts over the generated set. */
export function compare(generated: Generated[], zt: Verdict[], ossl: Verdict[]): DifferentialReport {
  const groups = new Map<string, Disagreement>();
  const report: DifferentialReport = {
    total: generated.length,
    agreed: 0,
    bothAccepted: 0,
    bothRefused: 0,
    disagreements: [],
    bugs: [],
  };
  generated.forEach((g, i) => {
    const z = zt[i]!;
    const o = ossl[i]!;
    if (z.reason.startsWith('BUG')) report.bugs.push({ label: g.label, reason: z.reason });
    if (z.accepted === o.accepted) {
      report.agreed++;
      if (z.accepted) report.bothAccepted++;
      else report.bothRefused++;
      return;
    }
    const side = z.accepted ? 'openssl-only' : 'zerotouch-only';
    const reason = z.accepted ? o.reason : z.reason;
    const key = `${side} ${reason}`;
    const d = groups.get(key) ?? { side, reason, count: 0, examples: [] };
    d.count++;
    if (d.examples.length < 3 && !d.examples.includes(g.label)) d.examples.push(g.label);
    groups.set(key, d);
  });
  report.disagreements = [...groups.values()].sort((a, b) => b.count - a.count);
  return report;
}

/** The time both sides validate at: inside the validity of every generated certificate. */
export const DIFFERENTIAL_TIME = new Date('2027-06-01T00:00:00Z');

/** Generates `n` certificates under a fresh P-256 CA and compares both verdicts on them. */
export async function runDifferential(
  n: number,
  seed: number,
  progress?: (m: string) => void,
): Promise<DifferentialReport> {
  const key = generateKey('p256');
  const ca = parseCertificate(
    new CertificateSigner(key).selfSign({
      subject: { CN: 'Gen Root' },
      notBefore: new Date('2026-01-01T00:00:00Z'),
      notAfter: new Date('2049-12-31T23:59:59Z'),
    }),
  );
  const generated = generateCertificates(n, seed, { key, cert: ca }, subjectKeys());
  progress?.('  generated; zerotouch verdicts...');
  const zt = generated.map((g) => zerotouchVerdict(g.der, ca, DIFFERENTIAL_TIME));
  progress?.('  OpenSSL verdicts...');
  return compare(
    generated,
    zt,
    await opensslVerdicts(
      generated.map((g) => g.der),
      ca,
      DIFFERENTIAL_TIME,
    ),
  );
}
