/**
 * Many device identities in one run (`zerotouch pki issue --count N` / `--from names.csv`): keys
 * are generated on libuv's thread pool several at a time, certificates signed by the project's
 * DER writer, and each device gets its key, certificate and full chain (and, when asked, an aziot
 * config.toml). A manifest (devices.csv, added to by later batches) lists them for
 * `zerotouch enrollment import`.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'smol-toml';
import { ZtError } from '../errors.ts';
import { generateKeyAsync, type KeyType } from './keys.ts';
import { checkName, issueToFiles, type LoadedCa, writeFileAtomic } from './toolkit.ts';

export interface BatchOptions {
  out: string;
  force?: boolean;
  ca: LoadedCa;
  keyType: KeyType;
  days: number;
  names: string[];
  /** Writes aziot/<name>.config.toml for DPS with these settings. */
  aziot?: { idScope: string; globalEndpoint: string; deviceDir: string };
  /** Key generations in flight (default: 4 x the thread pool). */
  concurrency?: number;
  /** Told after each identity is written. */
  onIssued?: (done: number) => void;
}

/** `count` names: prefix + a zero-padded number from 1. */
export function numberedNames(prefix: string, count: number): string[] {
  const width = String(count).length;
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i + 1).padStart(width, '0')}`);
}

/** Device names from a CSV file's first column (a header named name or registrationId is skipped). */
export function namesFromCsv(text: string): string[] {
  const names = text
    .split(/\r?\n/)
    .map((l) =>
      l
        .split(',')[0]!
        .trim()
        .replace(/^"(.*)"$/, '$1'),
    )
    .filter(Boolean);
  if (names.length && /^(name|registrationid|registration_id|deviceid)$/i.test(names[0]!)) names.shift();
  return names;
}

/** Issues every identity; returns the manifest's path. */
export async function issueBatch(o: BatchOptions): Promise<{ manifest: string; count: number }> {
  const seen = new Set<string>();
  for (const n of o.names) {
    checkName(n);
    if (seen.has(n.toLowerCase()))
      throw new ZtError('BAD_REQUEST', `name ${n} appears twice; names must be unique`);
    seen.add(n.toLowerCase());
  }
  if (o.names.length === 0)
    throw new ZtError('BAD_REQUEST', 'no device names: give --count N or a --from file with names');
  // Refuse before writing anything, not half way through.
  if (!o.force) {
    // One directory listing, not a stat per file: at 10,000 devices the stats cost more than the signing.
    const have = new Set(
      ['certs', 'private'].flatMap((d) => (existsSync(join(o.out, d)) ? readdirSync(join(o.out, d)) : [])),
    );
    const taken = o.names.find((n) => have.has(`${n}.key.pem`) || have.has(`${n}.cert.pem`));
    if (taken)
      throw new ZtError(
        'CONFLICT',
        `files of ${taken} already exist in ${o.out}; choose another --out or pass --force`,
      );
  }
  mkdirSync(o.out, { recursive: true });
  const rows: string[] = ['registrationId,certificate,fullChain,key'];
  const limit = o.concurrency ?? Number(process.env.UV_THREADPOOL_SIZE ?? 4) * 4;
  let next = 0;
  let done = 0;
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= o.names.length) return;
      const name = o.names[i]!;
      const key = await generateKeyAsync(o.keyType);
      const w = issueToFiles({
        out: o.out,
        // Checked above for the whole batch.
        force: true,
        name,
        ca: o.ca,
        key,
        keyType: o.keyType,
        days: o.days,
        profile: 'device',
        subject: { CN: name },
      });
      rows[i + 1] = [name, w.cert, w.fullChain!, w.key!]
        .map((p) => (p === name ? p : relative(o.out, p)))
        .join(',');
      if (o.aziot) {
        const dir = o.aziot.deviceDir.replace(/\/+$/, '');
        const config = {
          provisioning: {
            source: 'dps',
            global_endpoint: o.aziot.globalEndpoint,
            id_scope: o.aziot.idScope,
            attestation: {
              method: 'x509',
              registration_id: name,
              identity_cert: `file://${dir}/${name}-full-chain.cert.pem`,
              identity_pk: `file://${dir}/${name}.key.pem`,
            },
          },
        };
        mkdirSync(join(o.out, 'aziot'), { recursive: true });
        writeFileAtomic(join(o.out, 'aziot', `${name}.config.toml`), `${stringify(config)}\n`, 0o644);
      }
      o.onIssued?.(++done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, o.names.length) }, worker));
  // A second batch into the same directory adds its devices to the manifest.
  const manifest = join(o.out, 'devices.csv');
  if (existsSync(manifest) && !o.force) appendFileSync(manifest, `${rows.slice(1).join('\n')}\n`);
  else writeFileAtomic(manifest, `${rows.join('\n')}\n`, 0o644);
  return { manifest, count: o.names.length };
}
