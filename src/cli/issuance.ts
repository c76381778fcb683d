/**
 * Management commands of issuance and EST: issuing CAs and CRLs, certificate profiles, issued
 * certificates (list, show, export, revoke, issue), EST labels, users and approvals.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { ZtError } from '../errors.ts';
import { isKeyType, KEY_TYPES } from '../pki/keys.ts';
import { adminApi, all, json, type Opts, out, seg, sub, t, table } from './admin-client.ts';
import { action, positiveInt } from './run.ts';
import { COMMANDS } from './commands.ts';

function keyTypes(v: string, prev: string[] = []): string[] {
  if (!isKeyType(v)) throw new InvalidArgumentError(`must be one of ${KEY_TYPES.join(', ')}`);
  return [...prev, v];
}
const collect = (v: string, prev: string[] = []) => [...prev, v];

/** Fetches raw text (PEM) from the admin API (answers that are not JSON come back as text). */
async function text(o: Opts, path: string): Promise<string> {
  const r = await adminApi(o)<unknown>('GET', path);
  if (typeof r !== 'string') throw new ZtError('INTERNAL', `expected PEM from ${path}`);
  return r;
}

function writeOrPrint(content: string, file?: string): void {
  if (file) {
    writeFileSync(file, content);
    out(`wrote ${file}`);
  } else process.stdout.write(content);
}

function registerIssuingCa(program: Command): void {
  const g = program.command('issuing-ca').description(COMMANDS['issuing-ca']);
  sub(g, 'list', 'list issuing CAs').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/issuing-cas`), [
        'name',
        'subject',
        'notAfterUtc',
        'keyStorage',
        'crlUrl',
      ]),
    ),
  );
  sub(g, 'create <name>', 'create an issuing CA (self-signed; its key stays encrypted in the store)')
    .option('--subject <dn>', 'subject, e.g. "/O=Acme/CN=Acme Device CA"')
    .option('--key-type <type>', `key type: ${KEY_TYPES.join(', ')}`, 'p256')
    .option('--days <n>', 'validity in days', positiveInt, 3650)
    .option('--key-uri <uri>', 'use a key in a PKCS#11 token (pkcs11:token=...;object=...;pin-value=...)')
    .option('--no-trust-for-dps', 'do not add it to the DPS CA certificates as verified')
    .action(
      action(async (name: string, o: Opts) => {
        const ca = await adminApi(o)('POST', `${t(o)}/issuing-cas`, {
          name,
          subject: o.subject,
          keyType: o.keyType,
          validityDays: o.days,
          keyUri: o.keyUri,
          trustForDps: o.trustForDps,
        });
        if (o.json) return json(ca);
        out(`created issuing CA ${ca.name}: ${ca.subject} (SHA-256 ${ca.sha256Thumbprint})`);
        out(`CRL: ${ca.crlUrl}`);
        if (ca.dpsCaCertificate)
          out(`also a verified DPS CA certificate "${ca.dpsCaCertificate}" for group enrollments`);
      }),
    );
  sub(g, 'import <name>', 'import an issuing CA: its certificate (followed by its issuers) and key')
    .requiredOption('--cert <file>', 'CA certificate PEM, optionally followed by its chain')
    .option('--key <file>', 'CA private key PEM')
    .option('--key-pass <passphrase>', 'passphrase of an encrypted key')
    .option('--key-uri <uri>', 'or: the CA key in a PKCS#11 token')
    .option('--no-trust-for-dps', 'do not add it to the DPS CA certificates as verified')
    .action(
      action(async (name: string, o: Opts) => {
        const ca = await adminApi(o)('POST', `${t(o)}/issuing-cas`, {
          name,
          certificate: readFileSync(o.cert, 'utf8'),
          key: o.key ? readFileSync(o.key, 'utf8') : undefined,
          keyPassphrase: o.keyPass,
          keyUri: o.keyUri,
          trustForDps: o.trustForDps,
        });
        if (o.json) return json(ca);
        out(`imported issuing CA ${ca.name}: ${ca.subject}`);
      }),
    );
  sub(g, 'show <name>', 'show an issuing CA').action(
    action(async (name: string, o: Opts) =>
      json(await adminApi(o)('GET', `${t(o)}/issuing-cas/${seg(name)}`)),
    ),
  );
  sub(g, 'delete <name>', 'delete an issuing CA and its key').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/issuing-cas/${seg(name)}`);
      out(`deleted issuing CA ${name}`);
    }),
  );
  sub(g, 'crl <name>', 'print (or save) the current CRL of an issuing CA as PEM')
    .option('-o, --output <file>', 'write it to a file')
    .action(
      action(async (name: string, o: Opts) =>
        writeOrPrint(await text(o, `${t(o)}/issuing-cas/${seg(name)}/crl`), o.output),
      ),
    );
}

function registerProfile(program: Command): void {
  const g = program.command('profile').description(COMMANDS.profile);
  sub(g, 'list', 'list profiles (stored and built-in)').action(
    action(async (o: Opts) => {
      const ps = await adminApi(o)('GET', `${t(o)}/profiles`);
      table(
        o,
        ps.map((p: any) => ({
          ...p,
          validity: p.validityHours ? `${p.validityHours}h` : `${p.validityDays}d`,
          keys: p.allowedKeyTypes.join(','),
        })),
        ['name', 'kind', 'validity', 'sans', 'keys', 'honorCaRequests'],
      );
    }),
  );
  sub(g, 'set <name>', 'create or replace a profile')
    .option('--kind <kind>', 'device, server or ca (ca: pathLen 0, for IoT Edge CA certificates)', 'device')
    .option('--days <n>', 'validity in days', positiveInt)
    .option('--hours <n>', 'validity in hours', positiveInt)
    .option('--sans <rule>', 'copy, none or dns-ip', 'copy')
    .option('--key-type <type>', 'allowed key type (repeat for more)', keyTypes)
    .option('--eku <usage>', 'extended key usage, e.g. clientAuth (repeat for more)', collect)
    .option('--honor-ca-requests', 'issue a CA certificate (pathLen 0) when the CSR asks for one')
    .action(
      action(async (name: string, o: Opts) => {
        const p = await adminApi(o)('PUT', `${t(o)}/profiles/${seg(name)}`, {
          kind: o.kind,
          validityDays: o.days,
          validityHours: o.hours,
          sans: o.sans,
          allowedKeyTypes: o.keyType,
          extKeyUsage: o.eku,
          honorCaRequests: o.honorCaRequests,
        });
        if (o.json) return json(p);
        out(`profile ${p.name} saved`);
      }),
    );
  sub(g, 'delete <name>', 'delete a stored profile').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/profiles/${seg(name)}`);
      out(`deleted profile ${name}`);
    }),
  );
}

function registerCert(program: Command): void {
  const g = program.command('cert').description(COMMANDS.cert);
  sub(g, 'list', 'list issued certificates, newest first')
    .option('--ca <name>', 'issued by this CA')
    .option('--status <status>', 'valid or revoked')
    .option('--subject <text>', 'subject contains this text')
    .option('--method <method>', 'est-simpleenroll, est-simplereenroll, est-serverkeygen, dps-csr or api')
    .option('--expiring-before <date>', 'ISO date, e.g. 2027-01-01')
    .action(
      action(async (o: Opts) => {
        const q = new URLSearchParams();
        for (const k of ['ca', 'status', 'subject', 'method'] as const) if (o[k]) q.set(k, o[k]);
        if (o.expiringBefore) q.set('expiringBefore', new Date(o.expiringBefore).toISOString());
        const items = await all<any>(adminApi(o), `${t(o)}/certificates${q.size ? `?${q}` : ''}`);
        table(o, items, [
          'serialNumber',
          'subject',
          'status',
          'notAfterUtc',
          'issuingCa',
          'method',
          'requester',
        ]);
      }),
    );
  sub(g, 'show <serial>', 'show an issued certificate').action(
    action(async (serial: string, o: Opts) =>
      json(await adminApi(o)('GET', `${t(o)}/certificates/${seg(serial)}`)),
    ),
  );
  sub(g, 'export <serial>', 'print (or save) an issued certificate as PEM')
    .option('-o, --output <file>', 'write it to a file')
    .action(
      action(async (serial: string, o: Opts) =>
        writeOrPrint(await text(o, `${t(o)}/certificates/${seg(serial)}/pem`), o.output),
      ),
    );
  sub(g, 'revoke <serial>', 'revoke an issued certificate (EST and DPS refuse it; the CRL lists it)')
    .option('--reason <reason>', 'keyCompromise, superseded, cessationOfOperation, ...', 'unspecified')
    .action(
      action(async (serial: string, o: Opts) => {
        const c = await adminApi(o)('POST', `${t(o)}/certificates/${seg(serial)}/revoke`, {
          reason: o.reason,
        });
        if (o.json) return json(c);
        out(`revoked ${c.serialNumber} (${c.subject}) at ${c.revokedAtUtc}`);
      }),
    );
  sub(g, 'issue', 'issue a certificate for a CSR file')
    .requiredOption('--csr <file>', 'PKCS#10 request (PEM or DER)')
    .option('--ca <name>', 'issuing CA (default: the only one, or "default")')
    .option('--profile <name>', 'certificate profile', 'device')
    .option('-o, --output <file>', 'write the chain (leaf first) to a file')
    .action(
      action(async (o: Opts) => {
        const bytes = readFileSync(o.csr);
        const csr = bytes.toString('latin1').includes('-----BEGIN')
          ? bytes.toString('latin1')
          : bytes.toString('base64');
        const c = await adminApi(o)('POST', `${t(o)}/certificates`, { csr, ca: o.ca, profile: o.profile });
        if (o.json) return json(c);
        writeOrPrint(c.chain, o.output);
        if (o.output) out(`serial ${c.serialNumber}, valid until ${c.notAfterUtc}`);
      }),
    );
}

function registerEst(program: Command): void {
  const est = program.command('est').description(COMMANDS.est);
  const label = est.command('label').description('EST labels: /.well-known/est/<label>/...');
  sub(label, 'list', 'list labels').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/est-labels`), [
        'label',
        'issuingCa',
        'profile',
        'basicAuth',
        'certAuth',
        'bootstrapCas',
        'default',
        'users',
      ]),
    ),
  );
  sub(label, 'set <label>', 'create or replace a label')
    .option('--issuing-ca <name>', "issuing CA (default: the ID scope's default)")
    .option('--profile <name>', 'certificate profile', 'device')
    .option('--no-basic-auth', 'refuse HTTP Basic users')
    .option('--no-cert-auth', "refuse certificates issued by this label's CA (renewal)")
    .option(
      '--bootstrap-ca <name>',
      'verified CA certificate whose certificates may enroll (repeat for more)',
      collect,
    )
    .option('--require-tls-unique', 'CSRs must carry the TLS 1.2 tls-unique value (estclient -z)')
    .option('--manual-approval', 'enrollments wait for zerotouch est approve')
    .option('--default', 'also serve /.well-known/est/<operation> without a label')
    .action(
      action(async (name: string, o: Opts) => {
        const l = await adminApi(o)('PUT', `${t(o)}/est-labels/${seg(name)}`, {
          issuingCa: o.issuingCa,
          profile: o.profile,
          basicAuth: o.basicAuth,
          certAuth: o.certAuth,
          bootstrapCas: o.bootstrapCa ?? [],
          requireTlsUnique: !!o.requireTlsUnique,
          manualApproval: !!o.manualApproval,
          default: !!o.default,
        });
        if (o.json) return json(l);
        out(`EST label ${l.label} saved: https://<server>/.well-known/est/${l.label}/`);
      }),
    );
  sub(label, 'show <label>', 'show a label').action(
    action(async (name: string, o: Opts) =>
      json(await adminApi(o)('GET', `${t(o)}/est-labels/${seg(name)}`)),
    ),
  );
  sub(label, 'delete <label>', 'delete a label and its users').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/est-labels/${seg(name)}`);
      out(`deleted EST label ${name}`);
    }),
  );

  const user = est.command('user').description('HTTP Basic users of a label');
  sub(user, 'set <label> <username>', "set a user's password")
    .option('--password <password>', 'the password (visible to other local users; prefer --password-file)')
    .option('--password-file <file>', 'file whose first line is the password')
    .action(
      action(async (name: string, username: string, o: Opts) => {
        const password =
          o.password ??
          (o.passwordFile
            ? readFileSync(o.passwordFile, 'utf8').split(/\r?\n/)[0]
            : process.env.ZEROTOUCH_EST_PASSWORD);
        if (!password)
          throw new ZtError('BAD_REQUEST', 'give --password-file, --password or ZEROTOUCH_EST_PASSWORD');
        await adminApi(o)('PUT', `${t(o)}/est-labels/${seg(name)}/users/${seg(username)}`, { password });
        out(`password of ${username} on ${name} set`);
      }),
    );
  sub(user, 'delete <label> <username>', 'delete a user').action(
    action(async (name: string, username: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/est-labels/${seg(name)}/users/${seg(username)}`);
      out(`deleted ${username} from ${name}`);
    }),
  );

  sub(est, 'pending <label>', 'enrollments waiting for approval').action(
    action(async (name: string, o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/est-labels/${seg(name)}/pending`), [
        'keyHash',
        'subject',
        'requester',
        'status',
        'createdDateTimeUtc',
      ]),
    ),
  );
  for (const verb of ['approve', 'reject'] as const) {
    sub(
      est,
      `${verb} <label> <keyHash>`,
      `${verb} a pending enrollment (the client's retry then ${verb === 'approve' ? 'gets its certificate' : 'is refused'})`,
    ).action(
      action(async (name: string, keyHash: string, o: Opts) => {
        await adminApi(o)('POST', `${t(o)}/est-labels/${seg(name)}/pending/${seg(keyHash)}/${verb}`);
        out(`${verb === 'approve' ? 'approved' : 'rejected'} ${keyHash}`);
      }),
    );
  }
}

/** Registers the issuance and EST commands. */
export function registerIssuance(program: Command): void {
  registerIssuingCa(program);
  registerProfile(program);
  registerCert(program);
  registerEst(program);
}
