/**
 * Keys the agent generates inside a PKCS#11 token for EST-issued identities: pkcs11-tool makes
 * the key pair, the system openssl (pkcs11 engine) signs the CSR. Each generation gets its own
 * object label, so a renewal with rotate_key never overwrites the key in use.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { ZtError } from '../errors.ts';
import { maskPin, pkcs11Attributes } from '../pki/pkcs11-uri.ts';

/** Default PKCS#11 module: p11-kit's proxy, which loads every registered module (SoftHSM, HSMs). */
export const DEFAULT_PKCS11_MODULE = '/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so';

/** The URI of the object `label` in the token named by `base` (keeps token and PIN). */
export function tokenKeyUri(base: string, label: string): string {
  const a = pkcs11Attributes(base);
  const keep = ['token', 'manufacturer', 'serial', 'model', 'slot-id']
    .filter((k) => a.has(k))
    .map((k) => `${k}=${encodeURIComponent(a.get(k)!)}`);
  return `pkcs11:${[...keep, `object=${encodeURIComponent(label)}`].join(';')}${a.has('pin-value') ? `;pin-value=${encodeURIComponent(a.get('pin-value')!)}` : ''}`;
}

/** Generates a P-256 key pair in the token as object `label`; returns its URI. */
export function generateTokenKey(base: string, label: string, module: string): string {
  const a = pkcs11Attributes(base);
  const token = a.get('token');
  const pin = a.get('pin-value');
  if (!token || !pin) {
    throw new ZtError(
      'CONFIG_INVALID',
      `provisioning.attestation.identity_pk: ${maskPin(base)} needs token=... and pin-value=... to generate keys in the token`,
    );
  }
  try {
    execFileSync(
      'pkcs11-tool',
      [
        '--module',
        module,
        '--token-label',
        token,
        '--login',
        '--pin',
        pin,
        '--keypairgen',
        '--key-type',
        'EC:prime256v1',
        '--label',
        label,
        '--id',
        randomBytes(8).toString('hex'),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message);
    throw new ZtError(
      'CONFIG_INVALID',
      `cannot generate a key in token "${token}" with ${module}: ${maskPin(err.trim().split('\n').pop() ?? err)}`,
    );
  }
  return tokenKeyUri(base, label);
}

/** Separates the configured object name from the generation in labels the agent makes. */
export const GENERATION_MARK = '-zt';

/** The label for a new generation of the key `prefix`. */
export function generationLabel(prefix: string, now: Date): string {
  return `${prefix}${GENERATION_MARK}${now.getTime().toString(36)}`;
}

/** pkcs11-tool arguments that log in to the token named by `base`. */
function loginArgs(base: string, module: string): string[] {
  const a = pkcs11Attributes(base);
  return [
    '--module',
    module,
    '--token-label',
    a.get('token') ?? '',
    '--login',
    '--pin',
    a.get('pin-value') ?? '',
  ];
}

/** The label of the object a token key URI names. */
export function tokenKeyLabel(uri: string): string | undefined {
  return pkcs11Attributes(uri).get('object');
}

/**
 * Deletes the key pairs the agent generated in the token (labels `<prefix>-<generation>`) except
 * those in `keep`, so that rotations and failed renewals leave no orphan keys. Returns the labels
 * deleted.
 */
export function pruneTokenKeys(base: string, prefix: string, keep: string[], module: string): string[] {
  const listed = execFileSync(
    'pkcs11-tool',
    [...loginArgs(base, module), '--list-objects', '--type', 'privkey'],
    {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const mine = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}${GENERATION_MARK}[0-9a-z]{6,}$`);
  const labels = [...listed.matchAll(/^\s*label:\s*(.+?)\s*$/gm)].map((m) => m[1]!);
  const stale = [...new Set(labels)].filter((l) => mine.test(l) && !keep.includes(l));
  for (const label of stale) {
    for (const type of ['privkey', 'pubkey']) {
      try {
        execFileSync(
          'pkcs11-tool',
          [...loginArgs(base, module), '--delete-object', '--type', type, '--label', label],
          {
            stdio: ['ignore', 'ignore', 'pipe'],
          },
        );
      } catch {
        // A missing public half is fine; the private key is what matters.
      }
    }
  }
  return stale;
}

/** A CSR (DER) for CN=`cn`, signed in the token by the key at `uri`. */
export function tokenCsr(uri: string, cn: string): Buffer {
  try {
    return execFileSync(
      'openssl',
      [
        'req',
        '-new',
        '-engine',
        'pkcs11',
        '-keyform',
        'engine',
        '-key',
        uri,
        '-subj',
        `/CN=${cn.replace(/[/\\]/g, '\\$&')}`,
        '-outform',
        'DER',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (e) {
    const err = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message);
    throw new ZtError(
      'CONFIG_INVALID',
      `cannot sign a CSR with ${maskPin(uri)}: ${maskPin(err.split('\n').find((l) => /error/i.test(l)) ?? err.trim())}`,
    );
  }
}
