/**
 * The offline PKI toolkit behind `zerotouch pki`: root, intermediate, device/server certificates,
 * verification certificates, full-chain files and inspection. Replaces the openssl recipes and
 * test-certificate scripts. Files land where a user looks for them:
 * `<out>/certs/<name>.cert.pem`, `<out>/certs/<name>-full-chain.cert.pem`, `<out>/private/<name>.key.pem`.
 */
import type { KeyObject } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ZtError } from '../errors.ts';
import {
  type Certificate,
  certificatePem,
  isSelfIssued,
  loadCertificates,
  parseCertificate,
} from './certificate.ts';
import { buildPath, validateChain } from './chain.ts';
import { parseCsr, verifyCsr } from './csr.ts';
import { describeExtension, type SubjectAltName } from './extensions.ts';
import { CertificateSigner, type Profile } from './issue.ts';
import {
  describeKey,
  exportPrivateKeyPem,
  generateKey,
  importPrivateKey,
  type KeyType,
  publicKeyFromSpki,
  spkiDer,
} from './keys.ts';
import { formatName, type NameFields } from './names.ts';
import { isPem, parsePem } from './pem.ts';
import { decodeCertsOnly } from './pkcs7.ts';

export interface OutputOptions {
  /** Base directory for certs/ and private/. */
  out: string;
  /** Overwrite existing files (keys are never overwritten silently). */
  force?: boolean;
  /** Progress messages (key generation can take seconds for RSA 4096). */
  progress?: (message: string) => void;
}

export interface WrittenFiles {
  cert: string;
  key?: string;
  fullChain?: string;
  certificate: Certificate;
}

/** Paths the toolkit uses for `name` under `out`. */
export function toolkitPaths(out: string, name: string): { cert: string; key: string; fullChain: string } {
  return {
    cert: join(out, 'certs', `${name}.cert.pem`),
    key: join(out, 'private', `${name}.key.pem`),
    fullChain: join(out, 'certs', `${name}-full-chain.cert.pem`),
  };
}

/** Refuses a name that cannot be a file name. */
export function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(name)) {
    throw new ZtError(
      'BAD_REQUEST',
      `name "${name}" may only contain letters, digits, ".", "_" and "-" (it becomes a file name)`,
    );
  }
}

function writeOut(path: string, content: string, opts: OutputOptions, secret = false): void {
  if (existsSync(path) && !opts.force) {
    throw new ZtError(
      'CONFLICT',
      `${path} already exists; choose another --name or pass --force to replace it`,
    );
  }
  mkdirSync(dirname(path), { recursive: true, mode: secret ? 0o700 : 0o755 });
  writeFileAtomic(path, content, secret ? 0o600 : 0o644);
}

/** Writes via a temporary file and rename, so a crash leaves the old file or the new one, never half of one. */
export function writeFileAtomic(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/** Writes a private key (PKCS#8 PEM, mode 0600) to `path`. */
export function writePrivateKey(path: string, key: KeyObject, opts: OutputOptions): void {
  writeOut(path, exportPrivateKeyPem(key), opts, true);
}

function newKey(type: KeyType, opts: OutputOptions): KeyObject {
  opts.progress?.(`generating ${type} key${type.startsWith('rsa') ? ' (RSA takes a few seconds)' : ''}...`);
  return generateKey(type);
}

/** A CA loaded from files: its key, its certificate and the rest of its chain up to the root. */
export interface LoadedCa {
  signer: CertificateSigner;
  certificate: Certificate;
  chain: Certificate[];
}

/** Loads a CA certificate (the first in `certPath`, followed by its chain) and its key. */
export function loadCa(certPath: string, keyPath: string, passphrase?: string): LoadedCa {
  const certs = loadCertificates(readFileSync(certPath));
  const key = importPrivateKey(readFileSync(keyPath), passphrase);
  const certificate = certs[0];
  if (!certificate.basicConstraints?.ca) {
    throw new ZtError(
      'BAD_REQUEST',
      `${certPath} holds ${formatName(certificate.subject)}, which is not a CA certificate`,
    );
  }
  if (!spkiDer(key).equals(certificate.spki)) {
    throw new ZtError(
      'KEY_MISMATCH',
      `${keyPath} is not the private key of the CA certificate in ${certPath}`,
    );
  }
  return { signer: new CertificateSigner(key, certificate), certificate, chain: certs.slice(1) };
}

export interface CreateRootOptions extends OutputOptions {
  name: string;
  subject: NameFields;
  keyType: KeyType;
  days: number;
  pathLen?: number;
}

/** Creates a self-signed root CA. */
export function createRoot(o: CreateRootOptions): WrittenFiles {
  checkName(o.name);
  const paths = toolkitPaths(o.out, o.name);
  const key = newKey(o.keyType, o);
  const certificate = parseCertificate(
    new CertificateSigner(key).selfSign({ subject: o.subject, validityDays: o.days, pathLen: o.pathLen }),
  );
  writePrivateKey(paths.key, key, o);
  writeOut(paths.cert, certificatePem(certificate), o);
  return { cert: paths.cert, key: paths.key, certificate };
}

export interface IssueOptions extends OutputOptions {
  name: string;
  ca: LoadedCa;
  subject: NameFields;
  keyType: KeyType;
  days: number;
  profile: Exclude<Profile, 'root-ca'>;
  pathLen?: number;
  subjectAltNames?: SubjectAltName[];
  /** Certify the key in this CSR instead of generating one. */
  csr?: Buffer;
  /** Use this key instead of generating one (batches generate keys in parallel). */
  key?: KeyObject;
}

/** Issues an intermediate CA, device, server or verification certificate and its full-chain file. */
export function issueToFiles(o: IssueOptions): WrittenFiles {
  checkName(o.name);
  const paths = toolkitPaths(o.out, o.name);
  let key: KeyObject | undefined;
  let spki: Buffer;
  let subject: NameFields | Buffer = o.subject;
  let sans = o.subjectAltNames ?? [];
  if (o.csr) {
    const csr = parseCsr(o.csr);
    verifyCsr(csr);
    spki = csr.spki;
    if (Object.keys(o.subject).length === 0) subject = csr.subject.der;
    if (sans.length === 0) sans = csr.subjectAltNames;
  } else {
    key = o.key ?? newKey(o.keyType, o);
    spki = spkiDer(key);
  }
  const der = o.ca.signer.issue({
    profile: o.profile,
    subject,
    spki,
    subjectAltNames: sans,
    validityDays: o.days,
    pathLen: o.pathLen,
  });
  const certificate = parseCertificate(der);
  if (key) writePrivateKey(paths.key, key, o);
  writeOut(paths.cert, certificatePem(certificate), o);
  const chain = [certificate, o.ca.certificate, ...o.ca.chain];
  writeOut(paths.fullChain, chain.map(certificatePem).join(''), o);
  return { cert: paths.cert, key: key ? paths.key : undefined, fullChain: paths.fullChain, certificate };
}

/** Orders certificates leaf first by following issuer names, and writes them as one PEM file. */
export function writeChainFile(inputs: Certificate[], outPath: string, opts: OutputOptions): Certificate[] {
  if (inputs.length === 0) throw new ZtError('CHAIN_EMPTY', 'give at least one certificate');
  const issuers = new Set(inputs.map((c) => c.issuer.der.toString('hex')));
  const leaves = inputs.filter((c) => !issuers.has(c.subject.der.toString('hex')) || inputs.length === 1);
  if (leaves.length !== 1) {
    throw new ZtError(
      'BAD_REQUEST',
      `expected one leaf certificate among the inputs, found ${leaves.length}: ${leaves.map((c) => c.commonName).join(', ')}`,
    );
  }
  const roots = inputs.filter(isSelfIssued);
  const ordered =
    roots.length > 0 ? buildPath(leaves[0], inputs, roots).path : followIssuers(leaves[0], inputs);
  const unused = inputs.filter((c) => !ordered.includes(c));
  if (unused.length > 0) {
    throw new ZtError(
      'BAD_REQUEST',
      `not part of the chain of ${leaves[0].commonName}: ${unused.map((c) => formatName(c.subject)).join('; ')}`,
    );
  }
  writeOut(outPath, ordered.map(certificatePem).join(''), opts);
  return ordered;
}

function followIssuers(leaf: Certificate, all: Certificate[]): Certificate[] {
  const out = [leaf];
  let cur = leaf;
  for (;;) {
    const next = all.find((c) => !out.includes(c) && c.subject.der.equals(cur.issuer.der));
    if (!next) return out;
    out.push(next);
    cur = next;
  }
}

// ---------------------------------------------------------------- inspect

export interface InspectedCertificate {
  subject: string;
  issuer: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  status: 'valid' | 'expired' | 'not yet valid';
  publicKey: string;
  sha1: string;
  sha256: string;
  extensions: string[];
}

export interface InspectReport {
  kind: 'certificates' | 'csr';
  certificates: InspectedCertificate[];
  csr?: { subject: string; publicKey: string; signature: 'valid' | 'invalid'; subjectAltNames: string[] };
  /** Set when verification was asked for. */
  chain?: { ok: boolean; path?: string[]; code?: string; reason?: string };
  /** How the certificates of a multi-certificate input link up, in the order given (no signature check). */
  links?: Array<{ from: number; issuedByNext: boolean }>;
  /** What the input was read as: PEM, DER or base64, and which structure. */
  format: string;
}

function keyDescription(spki: Buffer): string {
  try {
    return describeKey(publicKeyFromSpki(spki));
  } catch (e) {
    return (e as Error).message;
  }
}

function describeCert(c: Certificate, now: Date): InspectedCertificate {
  return {
    subject: formatName(c.subject),
    issuer: formatName(c.issuer),
    serialNumber: c.serialNumber,
    notBefore: c.notBefore.toISOString(),
    notAfter: c.notAfter.toISOString(),
    status: now < c.notBefore ? 'not yet valid' : now > c.notAfter ? 'expired' : 'valid',
    publicKey: keyDescription(c.spki),
    sha1: c.sha1,
    sha256: c.sha256,
    extensions: c.extensions.map(describeExtension),
  };
}

/** What an input holds: certificates (from a certificate, a PEM chain or PKCS#7) or a CSR. */
function readInput(
  input: Buffer,
):
  | { certs: Certificate[]; csr?: undefined; format: string }
  | { certs?: undefined; csr: Buffer; format: string } {
  if (isPem(input)) {
    const labels = parsePem(input.toString('latin1')).map((b) => b.label);
    if (labels.some((l) => l.includes('CERTIFICATE REQUEST'))) return { csr: input, format: 'PEM CSR' };
    if (labels.includes('PKCS7') || labels.includes('CMS'))
      return { certs: decodeCertsOnly(input).map((d) => parseCertificate(d)), format: 'PEM PKCS#7' };
    return {
      certs: loadCertificates(input),
      format: `PEM, ${labels.length} block${labels.length > 1 ? 's' : ''}`,
    };
  }
  // DER or base64 of DER: a certificate, a PKCS#7 bundle (EST /cacerts as served) or a CSR.
  const encoding = input[0] === 0x30 ? 'DER' : 'base64';
  const attempts: Array<[string, () => ReturnType<typeof readInput>]> = [
    ['certificate', () => ({ certs: loadCertificates(input), format: `${encoding} certificate` })],
    [
      'PKCS#7',
      () => ({ certs: decodeCertsOnly(input).map((d) => parseCertificate(d)), format: `${encoding} PKCS#7` }),
    ],
    ['CSR', () => (parseCsr(input), { csr: input, format: `${encoding} CSR` })],
  ];
  const errors: string[] = [];
  for (const [what, read] of attempts) {
    try {
      return read();
    } catch (e) {
      errors.push(`not a ${what}: ${(e as Error).message}`);
    }
  }
  throw new ZtError(
    'DER_MALFORMED',
    `the input is not a certificate, a PKCS#7 bundle or a CSR in PEM, DER or base64 (${errors.join('; ')})`,
  );
}

/**
 * Describes certificates (a certificate, a PEM chain, PKCS#7) or a CSR, in PEM, DER or base64.
 * Several certificates are shown as the chain they form; signatures and trust are checked only
 * when `verify` (against `anchors`, else the self-signed root in the input).
 */
export function inspect(
  input: Buffer,
  anchors: Certificate[] = [],
  verify = anchors.length > 0,
): InspectReport {
  const now = new Date();
  const read = readInput(input);
  if (read.csr) {
    const csr = parseCsr(read.csr);
    let signature: 'valid' | 'invalid' = 'valid';
    try {
      verifyCsr(csr);
    } catch {
      signature = 'invalid';
    }
    return {
      kind: 'csr',
      format: read.format,
      certificates: [],
      csr: {
        subject: formatName(csr.subject),
        publicKey: keyDescription(csr.spki),
        signature,
        subjectAltNames: csr.subjectAltNames.map((s) => `${s.type.toUpperCase()}:${s.value}`),
      },
    };
  }
  const certs = read.certs;
  const report: InspectReport = {
    kind: 'certificates',
    format: read.format,
    certificates: certs.map((c) => describeCert(c, now)),
  };
  if (certs.length > 1)
    report.links = certs
      .slice(0, -1)
      .map((c, i) => ({ from: i, issuedByNext: c.issuer.der.equals(certs[i + 1]!.subject.der) }));
  if (verify) {
    const trusted = anchors.length > 0 ? anchors : certs.filter(isSelfIssued).slice(-1);
    try {
      const r = validateChain(certs[0]!, certs.slice(1), trusted, { at: now });
      report.chain = { ok: true, path: r.path.map((c) => formatName(c.subject)) };
    } catch (e) {
      const err = e as ZtError;
      report.chain = { ok: false, code: err.code, reason: err.message };
    }
  }
  return report;
}

const isRoot = (c: InspectedCertificate) => c.subject === c.issuer;

/** The report as text for a terminal. */
export function formatInspectReport(r: InspectReport): string {
  const lines: string[] = [`Read as ${r.format}`, ''];
  if (r.csr) {
    lines.push(
      'Certificate signing request',
      `  subject:    ${r.csr.subject}`,
      `  public key: ${r.csr.publicKey}`,
    );
    lines.push(`  signature:  ${r.csr.signature}`);
    if (r.csr.subjectAltNames.length) lines.push(`  SANs:       ${r.csr.subjectAltNames.join(', ')}`);
  }
  r.certificates.forEach((c, i) => {
    if (i > 0) lines.push('');
    lines.push(`Certificate ${i + 1} of ${r.certificates.length}`);
    lines.push(`  subject:    ${c.subject}`, `  issuer:     ${c.issuer}`, `  serial:     ${c.serialNumber}`);
    lines.push(`  validity:   ${c.notBefore} to ${c.notAfter} (${c.status})`);
    lines.push(`  public key: ${c.publicKey}`, `  SHA-1:      ${c.sha1}`, `  SHA-256:    ${c.sha256}`);
    lines.push('  extensions:', ...c.extensions.map((e) => `    ${e}`));
  });
  if (r.links) {
    lines.push('', 'As given (leaf first):');
    r.certificates.forEach((c, i) => {
      const link = r.links![i];
      lines.push(
        `  ${i + 1}. ${c.subject}${link ? (link.issuedByNext ? '  <- issued by the next' : '  (the next is not its issuer)') : isRoot(c) ? '  (self-signed root)' : ''}`,
      );
    });
    if (!r.chain)
      lines.push('Signatures and trust were not checked: add --verify (and --ca-file <root>) to check them.');
  }
  if (r.chain) {
    lines.push('');
    lines.push(
      r.chain.ok
        ? `Chain: OK (${r.chain.path?.join(' <- ')})`
        : `Chain: FAILED [${r.chain.code}] ${r.chain.reason}`,
    );
  }
  return lines.join('\n') + '\n';
}
