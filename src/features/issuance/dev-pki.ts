/**
 * The development PKI a fresh server creates on first start: a root CA, an issuing CA under it
 * and a TLS server certificate for the device listener. Later starts reuse them; the server
 * certificate alone is reissued when its names change or it nears expiry.
 */
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { type Certificate, loadCertificates } from '../../pki/certificate.ts';
import type { SubjectAltName } from '../../pki/extensions.ts';
import { createRoot, issueToFiles, type LoadedCa, loadCa, toolkitPaths } from '../../pki/toolkit.ts';

export interface DevPki {
  dir: string;
  root: { cert: string; key: string; certificate: Certificate; created: boolean };
  issuing: { cert: string; key: string; fullChain: string; certificate: Certificate; created: boolean };
  server: { fullChain: string; key: string; certificate: Certificate; created: boolean; names: string[] };
}

const RENEW_SERVER_BEFORE_MS = 30 * 86400_000;

function wantedNames(extra: string[]): string[] {
  return [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...extra].filter(Boolean))];
}

function sanOf(name: string): SubjectAltName {
  return isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name };
}

function serverNeedsRenewal(cert: Certificate, names: string[], issuing: Certificate): boolean {
  const have = new Set(cert.subjectAltNames.map((s) => s.value.toLowerCase()));
  return (
    names.some((n) => !have.has(n.toLowerCase())) ||
    cert.notAfter.getTime() - Date.now() < RENEW_SERVER_BEFORE_MS ||
    !cert.issuer.der.equals(issuing.subject.der)
  );
}

/** Creates what is missing of the development PKI under `<dataDir>/pki` and loads the rest. */
export function ensureDevPki(
  dataDir: string,
  extraNames: string[] = [],
  progress?: (m: string) => void,
): DevPki {
  const dir = join(dataDir, 'pki');
  const out = { out: dir, progress };
  const rootPaths = toolkitPaths(dir, 'dev-root');
  const issuingPaths = toolkitPaths(dir, 'dev-issuing');
  const serverPaths = toolkitPaths(dir, 'server');

  let rootCreated = false;
  if (!existsSync(rootPaths.cert) || !existsSync(rootPaths.key)) {
    createRoot({
      ...out,
      force: true,
      name: 'dev-root',
      subject: { O: 'zerotouch', CN: 'zerotouch Development Root CA' },
      keyType: 'p256',
      days: 3650,
    });
    rootCreated = true;
  }
  const root: LoadedCa = loadCa(rootPaths.cert, rootPaths.key);

  let issuingCreated = false;
  if (rootCreated || !existsSync(issuingPaths.fullChain) || !existsSync(issuingPaths.key)) {
    issueToFiles({
      ...out,
      force: true,
      name: 'dev-issuing',
      ca: root,
      profile: 'intermediate-ca',
      pathLen: 0,
      subject: { O: 'zerotouch', CN: 'zerotouch Development Issuing CA' },
      keyType: 'p256',
      days: 1825,
    });
    issuingCreated = true;
  }
  const issuing = loadCa(issuingPaths.fullChain, issuingPaths.key);

  const names = wantedNames(extraNames);
  let serverCreated = false;
  const existing =
    existsSync(serverPaths.fullChain) && existsSync(serverPaths.key)
      ? loadCertificates(readFileSync(serverPaths.fullChain))[0]
      : undefined;
  if (issuingCreated || !existing || serverNeedsRenewal(existing, names, issuing.certificate)) {
    issueToFiles({
      ...out,
      force: true,
      name: 'server',
      ca: issuing,
      profile: 'server',
      subject: { O: 'zerotouch', CN: names.find((n) => !isIP(n) && n !== 'localhost') ?? 'localhost' },
      subjectAltNames: names.map(sanOf),
      keyType: 'p256',
      days: 365,
    });
    serverCreated = true;
  }
  const server = loadCertificates(readFileSync(serverPaths.fullChain))[0];
  return {
    dir,
    root: { cert: rootPaths.cert, key: rootPaths.key, certificate: root.certificate, created: rootCreated },
    issuing: {
      cert: issuingPaths.cert,
      key: issuingPaths.key,
      fullChain: issuingPaths.fullChain,
      certificate: issuing.certificate,
      created: issuingCreated,
    },
    server: {
      fullChain: serverPaths.fullChain,
      key: serverPaths.key,
      certificate: server,
      created: serverCreated,
      names,
    },
  };
}
