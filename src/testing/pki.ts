/** Test helpers: build certificate chains with chosen defects, and run the openssl CLI. */
import { execFileSync } from 'node:child_process';
import type { KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Certificate, certificatePem, parseCertificate } from '../pki/certificate.ts';
import { CertificateSigner, type IssueRequest } from '../pki/issue.ts';
import { generateKey, type KeyType, spkiDer } from '../pki/keys.ts';

export interface TestCa {
  key: KeyObject;
  cert: Certificate;
  signer: CertificateSigner;
}

/** A self-signed root CA. */
export function makeRoot(
  cn = 'Test Root',
  keyType: KeyType = 'p256',
  extra: Partial<IssueRequest> = {},
): TestCa {
  const key = generateKey(keyType);
  const signer0 = new CertificateSigner(key);
  const cert = parseCertificate(signer0.selfSign({ subject: { CN: cn }, validityDays: 3650, ...extra }));
  return { key, cert, signer: new CertificateSigner(key, cert) };
}

/** An intermediate CA under `parent`. */
export function makeIntermediate(
  parent: TestCa,
  cn = 'Test Intermediate',
  extra: Partial<IssueRequest> = {},
): TestCa {
  const key = generateKey('p256');
  const cert = parseCertificate(
    parent.signer.issue({
      profile: 'intermediate-ca',
      subject: { CN: cn },
      spki: spkiDer(key),
      validityDays: 1000,
      ...extra,
    }),
  );
  return { key, cert, signer: new CertificateSigner(key, cert) };
}

/** A device leaf under `parent`. */
export function makeLeaf(
  parent: TestCa,
  cn = 'dev-01',
  extra: Partial<IssueRequest> = {},
): { key: KeyObject; cert: Certificate } {
  const key = generateKey('p256');
  const cert = parseCertificate(
    parent.signer.issue({
      profile: 'device',
      subject: { CN: cn },
      spki: spkiDer(key),
      validityDays: 30,
      ...extra,
    }),
  );
  return { key, cert };
}

/** A scratch directory for files handed to CLIs. */
export function scratchDir(prefix = 'zt-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Writes certificates as one PEM file and returns its path. */
export function writePem(dir: string, name: string, certs: Certificate[]): string {
  const path = join(dir, name);
  writeFileSync(path, certs.map(certificatePem).join(''));
  return path;
}

/** Runs openssl and returns stdout; throws with stderr on failure. */
export function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

/**
 * Makes a P-256 key and a CSR with the openssl CLI, as an operator would: `<prefix>.key`,
 * `<prefix>.csr.der` and `<prefix>.csr.b64` (64-column base64 with a trailing newline).
 */
export function opensslCsr(prefix: string, subject: string, extra: string[] = []): void {
  openssl([
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    `${prefix}.key`,
    '-subj',
    subject,
    ...extra,
    '-outform',
    'DER',
    '-out',
    `${prefix}.csr.der`,
  ]);
  writeFileSync(`${prefix}.csr.b64`, openssl(['base64', '-in', `${prefix}.csr.der`]));
}
