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
