/** `zerotouch pki ...`: the offline PKI toolkit commands. */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { ZtError } from '../errors.ts';
import { loadCertificates } from '../pki/certificate.ts';
import { parseSanSpec } from '../pki/extensions.ts';
import { isKeyType, KEY_TYPES, type KeyType } from '../pki/keys.ts';
import { formatName, type NameFields, parseSubject } from '../pki/names.ts';
import {
  createRoot,
  formatInspectReport,
  inspect,
  issueToFiles,
  loadCa,
  type WrittenFiles,
  writeChainFile,
} from '../pki/toolkit.ts';
import { action, positiveInt } from './run.ts';
import { COMMANDS } from './commands.ts';
import { startProgress } from './progress.ts';
import { issueBatch, namesFromCsv, numberedNames } from '../pki/batch.ts';

function keyType(v: string): KeyType {
  if (!isKeyType(v)) throw new InvalidArgumentError(`must be one of ${KEY_TYPES.join(', ')}`);
  return v;
}

function subjectFrom(o: { subject?: string; cn?: string }, defaultCn?: string): NameFields {
  const fields: NameFields = o.subject ? parseSubject(o.subject) : {};
  if (o.cn) fields.CN = o.cn;
  else if (!fields.CN && defaultCn) fields.CN = defaultCn;
  return fields;
}

const progress = (m: string) => process.stderr.write(`${m}\n`);

function report(w: WrittenFiles): void {
  const c = w.certificate;
  const lines = [`subject:    ${formatName(c.subject)}`, `issuer:     ${formatName(c.issuer)}`];
  lines.push(`valid:      ${c.notBefore.toISOString()} to ${c.notAfter.toISOString()}`);
  lines.push(`SHA-1:      ${c.sha1}`, `SHA-256:    ${c.sha256}`, `certificate: ${w.cert}`);
  if (w.fullChain) lines.push(`full chain:  ${w.fullChain}`);
  if (w.key) lines.push(`private key: ${w.key} (mode 0600)`);
  process.stdout.write(lines.join('\n') + '\n');
}

interface CommonOpts {
  out: string;
  force?: boolean;
  keyType: KeyType;
  days: number;
  subject?: string;
  cn?: string;
  name: string;
}

function common(cmd: Command, defaults: { name: string; days: number }): Command {
  return cmd
    .option('--name <name>', 'file name stem: certs/<name>.cert.pem, private/<name>.key.pem', defaults.name)
    .option('--cn <cn>', 'subject common name')
    .option('--subject <dn>', 'full subject, e.g. "/C=US/O=Acme/CN=dev-01"')
    .option('--key-type <type>', `key type: ${KEY_TYPES.join(', ')}`, keyType, 'p256' as KeyType)
    .option('--days <n>', 'validity in days', positiveInt, defaults.days)
    .option('--out <dir>', 'output directory (certs/ and private/ are created in it)', '.')
    .option('--force', 'replace existing files');
}

function withCa(cmd: Command): Command {
  return cmd
    .requiredOption(
      '--ca <file>',
      'issuing CA certificate (PEM; may be followed by its chain, e.g. a full-chain file)',
    )
    .requiredOption('--ca-key <file>', 'issuing CA private key')
    .option('--ca-key-pass <passphrase>', 'passphrase of an encrypted CA key');
}

/** The options of `pki issue`. */
type IssueOpts = CommonOpts & {
  ca: string;
  caKey: string;
  caKeyPass?: string;
  server?: boolean;
  san?: string[];
  csr?: string;
  count?: number;
  from?: string;
  prefix: string;
  aziotConfig?: boolean;
  idScope?: string;
  globalEndpoint?: string;
  deviceDir: string;
};

/** `pki issue --count N` / `--from names.csv`: many identities with a progress bar. */
async function issueMany(o: IssueOpts): Promise<void> {
  if (o.server || o.csr)
    throw new ZtError(
      'BAD_REQUEST',
      '--count and --from issue device identities; --server and --csr are for one certificate',
    );
  if (o.count !== undefined && o.from !== undefined)
    throw new ZtError('BAD_REQUEST', 'give --count or --from, not both');
  if (o.aziotConfig && (!o.idScope || !o.globalEndpoint))
    throw new ZtError('BAD_REQUEST', '--aziot-config needs --id-scope and --global-endpoint');
  const names = o.from ? namesFromCsv(readFileSync(o.from, 'utf8')) : numberedNames(o.prefix, o.count!);
  const ca = loadCa(o.ca, o.caKey, o.caKeyPass);
  const bar = startProgress(names.length, 'identities');
  const started = Date.now();
  const r = await issueBatch({
    out: o.out,
    force: o.force,
    ca,
    keyType: o.keyType,
    days: o.days,
    names,
    ...(o.aziotConfig
      ? { aziot: { idScope: o.idScope!, globalEndpoint: o.globalEndpoint!, deviceDir: o.deviceDir } }
      : {}),
    onIssued: () => bar.tick(),
  }).finally(() => bar.stop());
  const seconds = (Date.now() - started) / 1000;
  process.stdout.write(
    `issued ${r.count} device identities in ${seconds.toFixed(1)} s (${Math.round(r.count / seconds)}/s) under ${o.out}\nmanifest: ${r.manifest} (zerotouch enrollment import ${r.manifest} creates their enrollments)\n`,
  );
}

/** Registers the pki command tree. */
export function registerPki(program: Command): void {
  const pki = program.command('pki').description(COMMANDS.pki);

  common(pki.command('create-root'), { name: 'root', days: 3650 })
    .description('create a self-signed root CA')
    .option('--path-len <n>', 'limit intermediate CAs below this root', positiveInt)
    .action(
      action((o: CommonOpts & { pathLen?: number }) => {
        report(
          createRoot({
            ...o,
            subject: subjectFrom(o, 'zerotouch Test Root CA'),
            pathLen: o.pathLen,
            progress,
          }),
        );
      }),
    );

  withCa(common(pki.command('create-intermediate'), { name: 'intermediate', days: 1825 }))
    .description('create an intermediate CA signed by --ca')
    .option('--path-len <n>', 'intermediate CAs allowed below this one', positiveInt, 0)
    .action(
      action((o: CommonOpts & { ca: string; caKey: string; caKeyPass?: string; pathLen: number }) => {
        const ca = loadCa(o.ca, o.caKey, o.caKeyPass);
        report(
          issueToFiles({
            ...o,
            ca,
            profile: 'intermediate-ca',
            subject: subjectFrom(o, 'zerotouch Test Intermediate CA'),
            progress,
          }),
        );
      }),
    );

  withCa(common(pki.command('issue'), { name: '', days: 365 }))
    .description(
      'issue a device identity certificate (CN = device ID) or, with --server, a TLS server certificate',
    )
    .option('--server', 'server certificate (serverAuth, needs --san)')
    .option(
      '--san <name...>',
      'subject alternative names: DNS:host, IP:addr, URI:..., email:... or a bare host/IP',
    )
    .option('--csr <file>', 'certify the key in this CSR instead of generating one')
    .option('--count <n>', 'issue N device identities, named <prefix>1..N (zero-padded)', positiveInt)
    .option('--from <file>', 'issue one device identity per name in the first column of this CSV file')
    .option('--prefix <prefix>', 'with --count: the name before the number', 'device-')
    .option('--aziot-config', 'with --count/--from: also write aziot/<name>.config.toml for DPS')
    .option('--id-scope <idScope>', 'with --aziot-config: the ID scope devices register in')
    .option(
      '--global-endpoint <url>',
      'with --aziot-config: the DPS endpoint, e.g. https://dps.example.com:8443',
    )
    .option(
      '--device-dir <dir>',
      'with --aziot-config: where the files will be on the device',
      '/var/secrets/aziot',
    )
    .action(
      action(async (o: IssueOpts) => {
        if (o.count !== undefined || o.from !== undefined) return issueMany(o);
        const csr = o.csr ? readFileSync(o.csr) : undefined;
        const name = o.name || o.cn;
        if (!name)
          throw new ZtError(
            'BAD_REQUEST',
            'give --name (or --cn, used as the name): the device ID, e.g. --name dev-01',
          );
        const ca = loadCa(o.ca, o.caKey, o.caKeyPass);
        report(
          issueToFiles({
            ...o,
            name,
            ca,
            csr,
            profile: o.server ? 'server' : 'device',
            subject: csr && !o.cn && !o.subject ? {} : subjectFrom(o, name),
            subjectAltNames: (o.san ?? []).map(parseSanSpec),
            progress,
          }),
        );
      }),
    );

  withCa(common(pki.command('verification-cert'), { name: '', days: 30 }))
    .description(
      'create a verification certificate (CN = the verification code) to prove possession of a CA key',
    )
    .requiredOption('--code <code>', 'verification or registration code shown by the server')
    .action(
      action((o: CommonOpts & { ca: string; caKey: string; caKeyPass?: string; code: string }) => {
        const ca = loadCa(o.ca, o.caKey, o.caKeyPass);
        const name = o.name || `verification-${o.code.slice(0, 12).replace(/[^A-Za-z0-9_-]/g, '_')}`;
        report(issueToFiles({ ...o, name, ca, profile: 'verification', subject: { CN: o.code }, progress }));
      }),
    );

  pki
    .command('chain')
    .description('write a full-chain PEM (leaf first) from certificate files in any order')
    .argument('<files...>', 'PEM files holding the leaf, intermediates and optionally the root')
    .requiredOption('-o, --output <file>', 'full-chain file to write')
    .option('--force', 'replace an existing output file')
    .action(
      action((files: string[], o: { output: string; force?: boolean }) => {
        const certs = files.flatMap((f) => loadCertificates(readFileSync(f)));
        const ordered = writeChainFile(certs, o.output, { out: '.', force: o.force });
        process.stdout.write(
          `${o.output}:\n${ordered.map((c, i) => `  ${i}: ${formatName(c.subject)}`).join('\n')}\n`,
        );
      }),
    );

  pki
    .command('inspect')
    .description(
      'show subject, issuer, validity, thumbprints and extensions of certificates (PEM, DER, base64, PKCS#7) or a CSR; --verify checks the chain',
    )
    .argument('<file>', 'certificate, full-chain PEM, PKCS#7 or CSR (PEM, base64 or DER)')
    .option('--verify', 'check signatures and trust (against --ca-file, else the root in the file)')
    .option('--ca-file <file>', 'trusted CA certificates to verify against (implies --verify)')
    .option('--json', 'machine-readable output')
    .action(
      action((file: string, o: { caFile?: string; json?: boolean; verify?: boolean }) => {
        const anchors = o.caFile ? loadCertificates(readFileSync(o.caFile)) : [];
        const r = inspect(readFileSync(file), anchors, !!o.verify || anchors.length > 0);
        process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatInspectReport(r));
        if (r.chain && !r.chain.ok) process.exitCode = 2;
      }),
    );
}
