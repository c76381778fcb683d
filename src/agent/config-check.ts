/**
 * What `zerotouch agent config apply` checks beyond the file's shape: every file it names exists
 * and is readable, every key matches its certificate, and every top-level key is one the agent or
 * IoT Edge knows (a typo gets the closest known name).
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type Certificate, loadCertificates } from '../pki/certificate.ts';
import { importPrivateKey, spkiDer } from '../pki/keys.ts';
import type { AgentConfig, KeyRef } from './config.ts';
import { AgentConfigFileSchema } from './config-schema.ts';

/** Top-level keys of IoT Edge's config.toml that the agent keeps for IoT Edge without reading them. */
export const IOT_EDGE_KEYS = [
  'agent',
  'connect',
  'listen',
  'edge_ca',
  'moby_runtime',
  'parent_hostname',
  'local_gateway_hostname',
  'homedir',
  'allow_elevated_docker_permissions',
  'manifest_trust_bundle_cert',
  'additional_info',
  'imported_master_encryption_key',
  'prefer_module_identity_cache',
  'cloud_retries',
  'aziot_max_requests',
  'principal',
  'preloaded_keys',
  'preloaded_certs',
  'tpm',
  'watchdog',
  'image_garbage_collection',
];

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The known name closest to `key`, when one is close. */
export function closest(key: string, known: string[]): string | undefined {
  let best: [string, number] | undefined;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k.toLowerCase());
    if (!best || d < best[1]) best = [k, d];
  }
  return best && best[1] <= Math.max(2, Math.floor(key.length / 3)) ? best[0] : undefined;
}

/** Problems of a parsed configuration (empty when it is ready to use). */
export function checkAgentConfig(c: AgentConfig): string[] {
  const problems: string[] = [];
  const agentKeys = Object.keys(AgentConfigFileSchema.properties);
  for (const k of c.unknownKeys) {
    if (IOT_EDGE_KEYS.includes(k.split('.')[0]!) && !k.includes('.')) continue;
    const near = closest(k.split('.').pop()!, [...agentKeys, ...IOT_EDGE_KEYS, 'est']);
    problems.push(`${k}: not a key the agent or IoT Edge knows${near ? `; did you mean "${near}"?` : ''}`);
  }
  const read = (where: string, path: string): string | undefined => {
    try {
      return readFileSync(path, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      problems.push(
        `${where}: ${path} ${code === 'ENOENT' ? 'does not exist' : code === 'EACCES' ? 'is not readable by this user' : `cannot be read (${code})`}`,
      );
      return undefined;
    }
  };
  const certs = (where: string, path: string): Certificate[] | undefined => {
    const text = read(where, path);
    if (text === undefined) return undefined;
    try {
      return loadCertificates(text);
    } catch (e) {
      problems.push(`${where}: ${path} holds no certificate (${(e as Error).message})`);
      return undefined;
    }
  };
  const pair = (certWhere: string, certPath: string, keyWhere: string, key: KeyRef) => {
    const chain = certs(certWhere, certPath);
    if (key.kind !== 'file') return; // a token key is checked by agent check, which can open the token
    const pem = read(keyWhere, key.path);
    if (pem === undefined || !chain?.length) return;
    try {
      const pub = spkiDer(createPublicKey(importPrivateKey(pem)));
      if (!pub.equals(chain[0]!.spki))
        problems.push(
          `${keyWhere}: the key in ${key.path} is not the key of the certificate in ${certPath} (${chain[0]!.commonName ?? chain[0]!.sha256}); give the matching pair`,
        );
    } catch (e) {
      problems.push(
        `${keyWhere}: ${key.path} is not a private key the agent can use (${(e as Error).message})`,
      );
    }
  };
  const ic = c.dps.identityCert;
  if (ic.kind === 'file')
    pair(
      'provisioning.attestation.identity_cert',
      ic.path,
      'provisioning.attestation.identity_pk',
      c.dps.identityPk,
    );
  if (c.dps.payloadFile) read('provisioning.payload.uri', c.dps.payloadFile);
  if (c.trustBundleCert) certs('trust_bundle_cert', c.trustBundleCert);
  if (c.est) {
    c.est.trustedCerts.forEach((f, i) => certs(`cert_issuance.est.trusted_certs[${i}]`, f));
    if (c.est.identityCert && c.est.identityPk)
      pair(
        'cert_issuance.est.auth.identity_cert',
        c.est.identityCert,
        'cert_issuance.est.auth.identity_pk',
        c.est.identityPk,
      );
    if (c.est.bootstrapCert && c.est.bootstrapPk)
      pair(
        'cert_issuance.est.auth.bootstrap_identity_cert',
        c.est.bootstrapCert,
        'cert_issuance.est.auth.bootstrap_identity_pk',
        c.est.bootstrapPk,
      );
  }
  return problems;
}
