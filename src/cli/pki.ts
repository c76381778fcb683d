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
    .action(
      action(
        (
          o: CommonOpts & {
            ca: string;
            caKey: string;
            caKeyPass?: string;
            server?: boolean;
            san?: string[];
            csr?: string;
          },
        ) => {
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
        },
      ),
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
    .description('show subject, issuer, validity, thumbprints and extensions, and check the chain')
    .argument('<file>', 'certificate, full-chain PEM, PKCS#7 or CSR (PEM, base64 or DER)')
    .option('--ca-file <file>', 'trusted CA certificates to check the chain against')
    .option('--json', 'machine-readable output')
    .action(
      action((file: string, o: { caFile?: string; json?: boolean }) => {
        const anchors = o.caFile ? loadCertificates(readFileSync(o.caFile)) : [];
        const r = inspect(readFileSync(file), anchors);
        process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : formatInspectReport(r));
        if (r.chain && !r.chain.ok) process.exitCode = 2;
      }),
    );
}
