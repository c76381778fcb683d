/**
 * Issuing-CA keys in a PKCS#11 token, used through OpenSSL's pkcs11 engine (libp11, Debian
 * package libengine-pkcs11-openssl) by RFC 7512 URI. The key never leaves the token: zerotouch
 * hashes the TBS and the token signs the digest. Modules registered with p11-kit (SoftHSM,
 * most HSM vendors' packages) are found without configuration.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import { maskPin } from '../../pki/pkcs11-uri.ts';
import type { SignatureAlgorithm } from '../../pki/algorithms.ts';

const URI_RE = /^pkcs11:/;

/** A signing key in a token. */
export interface TokenKey {
  publicKey: KeyObject;
  sign(alg: SignatureAlgorithm, data: Buffer): Promise<Buffer>;
}

function withType(uri: string, type: 'public' | 'private'): string {
  const [path, query] = uri.split('?');
  const attrs = path!
    .slice('pkcs11:'.length)
    .split(';')
    .filter((a) => a && !a.startsWith('type='));
  return `pkcs11:${[...attrs, `type=${type}`].join(';')}${query ? `?${query}` : ''}`;
}

function explain(uri: string, stderr: string): ZtError {
  const safe = maskPin(uri);
  const reason = maskPin(
    stderr.split('\n').find((l) => /error|fail|not found|unable/i.test(l)) ?? stderr.trim(),
  );
  return new ZtError(
    'CONFIG_INVALID',
    `the PKCS#11 key ${safe} cannot be used (${reason || 'openssl failed'}); check the token label, object label or id, the PIN (pin-value or pin-source), and that libengine-pkcs11-openssl is installed`,
  );
}

/** Opens a token key by URI (reads its public key once, so a bad URI fails at once). */
export function openTokenKey(uri: string): TokenKey {
  if (!URI_RE.test(uri))
    throw new ZtError('BAD_REQUEST', `"${uri}" is not a PKCS#11 URI (pkcs11:token=...;object=...)`);
  let pem: string;
  try {
    pem = execFileSync(
      'openssl',
      ['pkey', '-engine', 'pkcs11', '-inform', 'engine', '-in', withType(uri, 'public'), '-pubout'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );
  } catch (e) {
    throw explain(uri, String((e as { stderr?: string }).stderr ?? (e as Error).message));
  }
  const publicKey = createPublicKey(pem);
  const privateUri = withType(uri, 'private');
  return {
    publicKey,
    sign(alg, data) {
      if (!alg.hash)
        return Promise.reject(
          new ZtError('KEY_UNSUPPORTED', 'Ed25519 keys in PKCS#11 tokens are not supported'),
        );
      const digest = createHash(alg.hash).update(data).digest();
      const args = ['pkeyutl', '-engine', 'pkcs11', '-keyform', 'engine', '-inkey', privateUri, '-sign'];
      // RSA: PKCS#1 v1.5 with the DigestInfo of this hash; ECDSA signs the digest as is (DER result).
      if (publicKey.asymmetricKeyType === 'rsa') args.push('-pkeyopt', `digest:${alg.hash}`);
      return new Promise((resolve, reject) => {
        const child = execFile(
          'openssl',
          args,
          { encoding: 'buffer', maxBuffer: 1 << 20 },
          (err, stdout, stderr) => {
            if (err || stdout.length === 0) reject(explain(uri, stderr.toString()));
            else resolve(stdout);
          },
        );
        child.stdin!.end(digest);
      });
    },
  };
}
