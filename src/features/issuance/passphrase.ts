/** The passphrase that encrypts issuing-CA keys at rest: from a configured file, or made on first start. */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ZtError } from '../../errors.ts';
import { writeFileAtomic } from '../../pki/toolkit.ts';

/** Reads the passphrase file; the default one under the data directory is created when missing. */
export function loadKeyPassphrase(dataDir: string, configuredFile: string): string {
  const file = configuredFile || join(dataDir, 'secrets', 'key-passphrase');
  if (!existsSync(file)) {
    if (configuredFile) {
      throw new ZtError(
        'CONFIG_INVALID',
        `issuance.key_passphrase_file ${file} does not exist; create it or unset the key`,
      );
    }
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, randomBytes(32).toString('base64') + '\n', 0o600);
  }
  const pass = readFileSync(file, 'utf8').trim();
  if (pass.length < 16) {
    throw new ZtError(
      'CONFIG_INVALID',
      `the passphrase in ${file} is shorter than 16 characters; use a long random one`,
    );
  }
  return pass;
}
