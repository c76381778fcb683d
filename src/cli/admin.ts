/**
 * Management commands over the admin API: tenants, CA certificates, hubs, enrollments,
 * registrations, registry devices, access policies and diagnose.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { ZtError } from '../errors.ts';
import { adminApi, all, json, type Opts, out, seg, sub, t, table } from './admin-client.ts';
import { action, positiveInt } from './run.ts';
import { registerHistory } from './audit.ts';
import { COMMANDS } from './commands.ts';
import { csvRecords } from './csv.ts';
import { startProgress } from './progress.ts';

function jsonArg(what: string) {
  return (v: string) => {
    try {
      const parsed = JSON.parse(v);
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        throw new Error('not an object');
      return parsed as Record<string, unknown>;
    } catch {
      throw new InvalidArgumentError(`${what} must be a JSON object, e.g. '{"environment":"test"}'`);
    }
  };
}

const POLICIES = ['hashed', 'geoLatency', 'static', 'custom'];
function allocationPolicy(v: string): string {
  if (!POLICIES.includes(v)) throw new InvalidArgumentError(`must be one of ${POLICIES.join(', ')}`);
  return v;
}
const REPROVISION: Record<string, { updateHubAssignment: boolean; migrateDeviceData: boolean }> = {
  migrate: { updateHubAssignment: true, migrateDeviceData: true },
  reset: { updateHubAssignment: true, migrateDeviceData: false },
  never: { updateHubAssignment: false, migrateDeviceData: true },
};
function reprovision(v: string) {
  const p = REPROVISION[v];
  if (!p) throw new InvalidArgumentError(`must be one of ${Object.keys(REPROVISION).join(', ')}`);
  return p;
}

function registerTenant(program: Command): void {
  const g = program.command('tenant').description(COMMANDS.tenant);
  sub(g, 'list', 'list tenants', false).action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', '/v1/tenants'), ['idScope', 'name', 'createdAt']),
    ),
  );
  sub(g, 'create <name>', 'create a tenant; its ID scope is generated unless --id-scope is given', false)
    .option('--id-scope <idScope>', 'ID scope to use (3-32 letters and digits)')
    .action(
      action(async (name: string, o: Opts) => {
        const created = await adminApi(o)('POST', '/v1/tenants', { name, idScope: o.idScope });
        if (o.json) return json(created);
        out(`created tenant "${created.name}" with ID scope ${created.idScope}`);
      }),
    );
  sub(g, 'show <idScope>', 'show a tenant', false).action(
    action(async (scope: string, o: Opts) => json(await adminApi(o)('GET', `/v1/tenants/${seg(scope)}`))),
  );
  sub(g, 'delete <idScope>', 'delete a tenant and everything in it (keys, CAs, enrollments, devices)', false)
    .option('--yes', 'confirm: nothing of the tenant can be recovered')
    .action(
      action(async (scope: string, o: Opts) => {
        if (!o.yes)
          throw new ZtError(
            'BAD_REQUEST',
            `deleting tenant ${scope} removes every issuing-CA key, CA, enrollment, registration and device in it, with no way back; add --yes to confirm`,
          );
        await adminApi(o)('DELETE', `/v1/tenants/${seg(scope)}`);
        out(`deleted tenant ${scope}`);
      }),
    );
}

/** A date, or a span from now such as 30d, 12h or 90m. */
function expiryArg(v: string): string {
  const span = /^(\d+)([dhm])$/.exec(v);
  if (span) {
    const unit = { d: 86400_000, h: 3600_000, m: 60_000 }[span[2] as 'd' | 'h' | 'm'];
    return new Date(Date.now() + Number(span[1]) * unit).toISOString();
  }
  const at = new Date(v);
  if (Number.isNaN(at.getTime()) || at.getTime() <= Date.now())
    throw new ZtError('BAD_REQUEST', `--expires ${v} is not a future date or a span such as 30d, 12h or 90m`);
  return at.toISOString();
}

function registerToken(program: Command): void {
  const g = program.command('token').description(COMMANDS.token);
  sub(g, 'list', 'list API tokens (never their secrets)', false).action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', '/v1/tokens'), [
        'id',
        'name',
        'scopes',
        'tenantId',
        'expiresAt',
        'lastUsedAt',
        'revokedAt',
      ]),
    ),
  );
  sub(g, 'create <name>', 'create an API token and print its secret (shown only this once)', false)
    .option('--rights <right...>', 'admin (everything), write (change a tenant), read (look only)', ['admin'])
    .option('--tenant <idScope>', 'limit the token to one tenant')
    .option('--expires <when>', 'an ISO date or a span from now: 30d, 12h, 90m (default: never)', expiryArg)
    .action(
      action(async (name: string, o: Opts) => {
        const r = await adminApi(o)('POST', '/v1/tokens', {
          name,
          scopes: o.rights,
          ...(o.tenant ? { tenant: o.tenant } : {}),
          ...(o.expires ? { expiresAt: o.expires } : {}),
        });
        if (o.json) return json(r);
        out(
          `created token ${r.token.id} (${r.token.scopes.join(', ')}${r.token.expiresAt ? `, expires ${r.token.expiresAt}` : ''})\n${r.secret}\nkeep it now: it is not shown again (ZEROTOUCH_TOKEN=... or --token)`,
        );
      }),
    );
  sub(g, 'revoke <id>', 'revoke an API token: calls with it are refused at once', false).action(
    action(async (id: string, o: Opts) => {
      await adminApi(o)('DELETE', `/v1/tokens/${seg(id)}`);
      out(`revoked token ${id}`);
    }),
  );
}

function registerCa(program: Command): void {
  const g = program.command('ca').description(COMMANDS.ca);
  sub(g, 'list', 'list CA certificates').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/cas`), ['name', 'subject', 'isVerified', 'notAfterUtc']),
    ),
  );
  sub(g, 'upload <name> <file>', 'upload a CA certificate (PEM or DER file)')
    .option('--verified', 'mark it verified now instead of proving possession')
    .action(
      action(async (name: string, file: string, o: Opts) => {
        const bytes = readFileSync(file);
        const text = bytes.toString('latin1');
        const certificate = text.includes('-----BEGIN') ? text : bytes.toString('base64');
        const ca = await adminApi(o)('POST', `${t(o)}/cas`, { name, certificate, verified: !!o.verified });
        if (o.json) return json(ca);
        out(`uploaded ${ca.name}: ${ca.subject} (SHA-256 ${ca.sha256Thumbprint})`);
        out(
          ca.isVerified
            ? 'verified: yes'
            : `verified: no; run "zerotouch ca verification-code ${name} --scope ${o.scope}" to prove possession`,
        );
      }),
    );
  sub(g, 'show <name>', 'show a CA certificate').action(
    action(async (name: string, o: Opts) => json(await adminApi(o)('GET', `${t(o)}/cas/${seg(name)}`))),
  );
  sub(g, 'delete <name>', 'delete a CA certificate').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/cas/${seg(name)}`);
      out(`deleted CA ${name}`);
    }),
  );
  sub(
    g,
    'verification-code <name>',
    'get a verification code (valid one hour) for proof of possession',
  ).action(
    action(async (name: string, o: Opts) => {
      const ca = await adminApi(o)('POST', `${t(o)}/cas/${seg(name)}/verification-code`);
      if (o.json) return json(ca);
      out(`verification code: ${ca.verificationCode} (valid until ${ca.verificationCodeExpiresUtc})`);
      const file = `certs/verification-${String(ca.verificationCode)
        .slice(0, 12)
        .replace(/[^A-Za-z0-9_-]/g, '_')}.cert.pem`;
      out(
        `next: zerotouch pki verification-cert --ca <ca.pem> --ca-key <ca.key> --code ${ca.verificationCode}\n` +
          `      zerotouch ca verify ${name} ${file} --scope ${o.scope}`,
      );
    }),
  );
  sub(
    g,
    'verify <name> <file>',
    'prove possession with a certificate whose CN is the code, signed by the CA',
  ).action(
    action(async (name: string, file: string, o: Opts) => {
      const ca = await adminApi(o)('POST', `${t(o)}/cas/${seg(name)}/verify`, {
        certificate: readFileSync(file, 'utf8'),
      });
      if (o.json) return json(ca);
      out(`${name} is verified`);
    }),
  );
}

function registerHub(program: Command): void {
  const g = program.command('hub').description(COMMANDS.hub);
  sub(g, 'list', 'list linked hubs').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/hubs`), [
        'hostName',
        'region',
        'allocationWeight',
        'applyAllocationPolicy',
        'kind',
      ]),
    ),
  );
  sub(g, 'link <hostName>', 'link a hub (or change its region, weight or policy flag)')
    .option('--region <region>', 'region used by the geoLatency policy')
    .option('--weight <n>', 'allocation weight under the hashed policy', positiveInt)
    .option('--no-apply-allocation-policy', 'only assign when an enrollment lists this hub')
    .option(
      '--kind <kind>',
      'record (default: the assignment is only recorded), builtin (this server serves the hub), mosquitto (an external Mosquitto 2 broker kept in step) or webhook (told through a signed webhook)',
    )
    .option(
      '--mosquitto-url <url>',
      'mosquitto: the broker listener to administer through, mqtt:// or mqtts://',
    )
    .option(
      '--mosquitto-user <name>',
      'mosquitto: a dynamic-security client allowed $CONTROL/dynamic-security/#',
    )
    .option('--mosquitto-password-file <file>', 'mosquitto: a file holding its password')
    .option('--mosquitto-ca <file>', 'mosquitto: PEM CA certificates that sign the broker (mqtts)')
    .option('--webhook-url <url>', 'webhook: where device changes are POSTed')
    .option('--webhook-secret-file <file>', 'webhook: a file holding the HMAC-SHA256 key (16+ characters)')
    .action(
      action(async (host: string, o: Opts) => {
        const secret = (file?: string) => (file ? readFileSync(file, 'utf8').trim() : undefined);
        const hub = await adminApi(o)('PUT', `${t(o)}/hubs/${seg(host)}`, {
          region: o.region,
          allocationWeight: o.weight,
          applyAllocationPolicy: o.applyAllocationPolicy,
          ...(o.kind ? { kind: o.kind } : {}),
          ...(o.mosquittoUrl
            ? {
                mosquitto: {
                  url: o.mosquittoUrl,
                  username: o.mosquittoUser ?? '',
                  password: secret(o.mosquittoPasswordFile) ?? '',
                  ...(o.mosquittoCa ? { caCertificate: readFileSync(o.mosquittoCa, 'utf8') } : {}),
                },
              }
            : {}),
          ...(o.webhookUrl
            ? {
                webhook: {
                  url: o.webhookUrl,
                  ...(o.webhookSecretFile ? { secret: secret(o.webhookSecretFile) } : {}),
                },
              }
            : {}),
        });
        if (o.json) return json(hub);
        out(
          `linked ${hub.hostName} (${hub.kind}, region ${hub.region || '-'}, weight ${hub.allocationWeight})`,
        );
      }),
    );
  sub(g, 'reconcile <hostName>', 'compare a mosquitto hub with the registry and fix what drifted')
    .option('--dry-run', 'only report what differs')
    .action(
      action(async (host: string, o: Opts) => {
        const r = await adminApi(o)('POST', `${t(o)}/hubs/${seg(host)}/reconcile`, { dryRun: !!o.dryRun });
        if (o.json) return json(r);
        const verb = r.dryRun ? 'would be ' : '';
        out(
          [
            `${r.hub}: ${r.unchanged} in step`,
            `${verb}created: ${r.created.join(', ') || '-'}`,
            `${verb}updated: ${r.updated.join(', ') || '-'}`,
            `${verb}removed: ${r.removed.join(', ') || '-'}`,
            ...(r.conflicts.length
              ? [`not managed by zerotouch (left alone): ${r.conflicts.join(', ')}`]
              : []),
          ].join('\n'),
        );
      }),
    );
  sub(g, 'unlink <hostName>', 'unlink a hub').action(
    action(async (host: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/hubs/${seg(host)}`);
      out(`unlinked ${host}`);
    }),
  );
}

/** Builds an Azure-shaped enrollment body from command options (or --from-file). */
function enrollmentBody(id: string, o: Opts, group: boolean): Record<string, unknown> {
  if (o.fromFile) return JSON.parse(readFileSync(o.fromFile, 'utf8'));
  const slot = (file?: string) => (file ? { certificate: readFileSync(file, 'utf8') } : undefined);
  let x509: Record<string, unknown>;
  if (group) {
    if (!o.ca && !o.cert) {
      throw new ZtError(
        'BAD_REQUEST',
        'an enrollment group needs --ca <uploaded CA name> or --cert <signing CA file>',
      );
    }
    x509 = o.ca
      ? { caReferences: { primary: o.ca, ...(o.secondaryCa ? { secondary: o.secondaryCa } : {}) } }
      : { signingCertificates: { primary: slot(o.cert), secondary: slot(o.secondaryCert) } };
  } else {
    if (!o.cert)
      throw new ZtError('BAD_REQUEST', 'an individual enrollment needs --cert <device certificate file>');
    x509 = { clientCertificates: { primary: slot(o.cert), secondary: slot(o.secondaryCert) } };
  }
  const body: Record<string, unknown> = {
    ...(group ? { enrollmentGroupId: id } : { registrationId: id, deviceId: o.deviceId }),
    attestation: { type: 'x509', x509 },
    provisioningStatus: o.disabled ? 'disabled' : 'enabled',
    capabilities: { iotEdge: !!o.edge },
  };
  if (o.tags || o.desired) body.initialTwin = { tags: o.tags, properties: { desired: o.desired } };
  if (o.allocation) body.allocationPolicy = o.allocation;
  if (o.hub?.length) body.iotHubs = o.hub;
  if (o.reprovision) body.reprovisionPolicy = o.reprovision;
  if (o.webhook) body.customAllocationDefinition = { webhookUrl: o.webhook, apiVersion: '2019-03-31' };
  if (o.issueDays) body.certificateIssuancePolicy = { validityDays: o.issueDays };
  if (o.mqttAcl?.length) body.mqttAcl = (o.mqttAcl as string[]).map(aclEntry);
  if (o.priority !== undefined) {
    if (!group) throw new ZtError('BAD_REQUEST', '--priority is for enrollment groups (--group)');
    body.priority = o.priority;
  }
  return body;
}

/** The fields `enrollment update` options name, as a merge patch; nothing else changes. */
function enrollmentPatch(o: Opts, group: boolean): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  if (o.hub?.length) patch.iotHubs = o.hub;
  if (o.allocation) patch.allocationPolicy = o.allocation;
  if (o.webhook) patch.customAllocationDefinition = { webhookUrl: o.webhook, apiVersion: '2019-03-31' };
  if (o.tags || o.desired)
    patch.initialTwin = {
      ...(o.tags ? { tags: o.tags } : {}),
      ...(o.desired ? { properties: { desired: o.desired } } : {}),
    };
  if (o.edge !== undefined) patch.capabilities = { iotEdge: o.edge };
  if (o.reprovision) patch.reprovisionPolicy = o.reprovision;
  if (o.issueDays) patch.certificateIssuancePolicy = { validityDays: o.issueDays };
  if (o.mqttAcl?.length) patch.mqttAcl = (o.mqttAcl as string[]).map(aclEntry);
  if (o.priority !== undefined) {
    if (!group) throw new ZtError('BAD_REQUEST', '--priority is for enrollment groups (--group)');
    patch.priority = o.priority;
  }
  if (Object.keys(patch).length === 0)
    throw new ZtError('BAD_REQUEST', 'nothing to change: give at least one option (see --help)');
  return patch;
}

/** An integer option in -1000..1000. */
function priorityArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < -1000 || n > 1000)
    throw new ZtError('BAD_REQUEST', `--priority ${v} is not a whole number from -1000 to 1000`);
  return n;
}

/** CSV columns `enrollment import` reads. */
const IMPORT_COLUMNS = [
  'registrationId',
  'certificate',
  'fullChain',
  'deviceId',
  'iotHubs',
  'iotEdge',
  'provisioningStatus',
  'allocationPolicy',
  'tags',
  'desired',
  'key',
];

/** Enrollments (Azure shape) from a JSON file (an array, or {enrollments}) or a CSV file. */
function importRows(file: string): Array<Record<string, unknown>> {
  const text = readFileSync(file, 'utf8');
  if (/\.json$/i.test(file)) {
    const doc = JSON.parse(text);
    const list = Array.isArray(doc) ? doc : doc?.enrollments;
    if (!Array.isArray(list))
      throw new ZtError('BAD_REQUEST', `${file}: expected an array of enrollments or {"enrollments": [...]}`);
    return list;
  }
  const records = csvRecords(text);
  const unknown = Object.keys(records[0] ?? {}).filter((c) => !IMPORT_COLUMNS.includes(c));
  if (unknown.length)
    throw new ZtError(
      'BAD_REQUEST',
      `${file}: unknown column ${unknown.join(', ')}; the columns are ${IMPORT_COLUMNS.join(', ')}`,
    );
  const dir = dirname(file);
  const certOf = (v: string, row: number) => {
    if (/-----BEGIN|^[A-Za-z0-9+/=\s]{200,}$/.test(v)) return v;
    try {
      // A full chain file: the device certificate is its first block.
      const pem = readFileSync(resolve(dir, v), 'utf8');
      const end = pem.indexOf('-----END CERTIFICATE-----');
      return end < 0 ? pem : pem.slice(0, end + 25);
    } catch {
      throw new ZtError(
        'BAD_REQUEST',
        `${file} row ${row}: certificate ${v} is neither PEM, base64 nor a readable file`,
      );
    }
  };
  const json = (v: string, col: string, row: number) => {
    try {
      return JSON.parse(v);
    } catch {
      throw new ZtError('BAD_REQUEST', `${file} row ${row}: ${col} is not JSON: ${v}`);
    }
  };
  return records.map((r, i) => {
    const row = i + 2;
    const cert = r.certificate || r.fullChain;
    return {
      registrationId: r.registrationId,
      attestation: {
        type: 'x509',
        x509: { clientCertificates: { primary: { certificate: cert ? certOf(cert, row) : '' } } },
      },
      ...(r.deviceId ? { deviceId: r.deviceId } : {}),
      ...(r.iotHubs ? { iotHubs: r.iotHubs.split(/[;\s]+/).filter(Boolean) } : {}),
      ...(r.iotEdge ? { capabilities: { iotEdge: /^(true|1|yes)$/i.test(r.iotEdge) } } : {}),
      ...(r.provisioningStatus ? { provisioningStatus: r.provisioningStatus } : {}),
      ...(r.allocationPolicy ? { allocationPolicy: r.allocationPolicy } : {}),
      ...(r.tags || r.desired
        ? {
            initialTwin: {
              ...(r.tags ? { tags: json(r.tags, 'tags', row) } : {}),
              ...(r.desired ? { properties: { desired: json(r.desired, 'desired', row) } } : {}),
            },
          }
        : {}),
    };
  });
}

/** `<acltype> <topic> allow|deny` as an mqttAcl entry. */
function aclEntry(spec: string): Record<string, unknown> {
  const [acltype, topic, verdict, extra] = spec.trim().split(/\s+/);
  if (!acltype || !topic || (verdict !== 'allow' && verdict !== 'deny') || extra !== undefined)
    throw new ZtError(
      'BAD_REQUEST',
      `--mqtt-acl "${spec}" is not "<acltype> <topic> allow|deny", e.g. "publishClientSend devices/{deviceId}/# allow"`,
    );
  return { acltype, topic, allow: verdict === 'allow' };
}

/** The enrollment settings `enrollment create` and `update` both take (update merges them in). */
function withSettings(c: Command): Command {
  return c
    .option('--hub <hostName...>', 'hubs this enrollment may assign to (create default: all linked hubs)')
    .option('--allocation <policy>', `allocation policy: ${POLICIES.join(', ')}`, allocationPolicy)
    .option('--webhook <url>', 'custom allocation webhook URL (with --allocation custom)')
    .option(
      '--tags <json>',
      'initial twin tags, e.g. \'{"environment":"test"}\' (update: merged, null removes one)',
      jsonArg('--tags'),
    )
    .option('--desired <json>', 'initial twin desired properties (update: merged)', jsonArg('--desired'))
    .option('--edge', 'devices are IoT Edge devices')
    .option('--reprovision <policy>', 'on re-registration: migrate (default), reset, never', reprovision)
    .option('--issue-days <n>', 'issue device certificates from CSRs for this many days', positiveInt)
    .option(
      '--mqtt-acl <entry...>',
      'mosquitto hubs: "<acltype> <topic> allow|deny" ({deviceId} is replaced), e.g. "publishClientSend devices/{deviceId}/# allow"',
    )
    .option(
      '--priority <n>',
      'group: which group takes the devices when several are bound to one CA (highest wins; default 0)',
      priorityArg,
    );
}

function registerEnrollment(program: Command): void {
  const g = program.command('enrollment').description(COMMANDS.enrollment);
  const path = (o: Opts) => `${t(o)}/${o.group ? 'enrollment-groups' : 'enrollments'}`;
  const withGroup = (c: Command) =>
    c.option('-g, --group', 'an enrollment group instead of an individual enrollment');

  withGroup(sub(g, 'list', 'list enrollments')).action(
    action(async (o: Opts) => {
      const items = await all<any>(adminApi(o), path(o));
      const rows = items.map((e) => ({
        id: e.enrollmentGroupId ?? e.registrationId,
        status: e.provisioningStatus,
        allocation: e.allocationPolicy,
        hubs: (e.iotHubs ?? []).join(','),
        iotEdge: e.capabilities?.iotEdge,
        etag: e.etag,
      }));
      if (o.json) return json(items);
      table(o, rows, ['id', 'status', 'allocation', 'hubs', 'iotEdge', 'etag']);
    }),
  );
  withSettings(
    withGroup(
      sub(g, 'create <id>', 'create or replace an enrollment (registration ID, or group ID with --group)'),
    ),
  )
    .option('--cert <file>', 'device certificate (individual) or signing CA certificate (group)')
    .option('--secondary-cert <file>', 'secondary certificate')
    .option('--ca <name>', 'group: name of an uploaded, verified CA certificate')
    .option('--secondary-ca <name>', 'group: secondary CA reference')
    .option('--device-id <id>', 'individual: device ID (defaults to the registration ID)')
    .option('--disabled', 'create it disabled (matching devices are refused)')
    .option('--from-file <file>', 'take the whole enrollment from a JSON file (Azure DPS shape)')
    .option('--replace', 'replace an existing enrollment whole (without it, an existing ID is an error)')
    .option('--if-match <etag>', 'with --replace: only replace if the current etag matches')
    .action(
      action(async (id: string, o: Opts) => {
        const body = enrollmentBody(id, o, !!o.group);
        const e = o.replace
          ? await adminApi(o)(
              'PUT',
              `${path(o)}/${seg(id)}`,
              body,
              o.ifMatch ? { 'if-match': o.ifMatch } : {},
            )
          : await adminApi(o)('POST', path(o), body);
        if (o.json) return json(e);
        out(
          `${o.group ? 'enrollment group' : 'enrollment'} ${id} ${o.replace ? 'saved' : 'created'} (etag ${e.etag}, ${e.provisioningStatus})`,
        );
      }),
    );
  withSettings(
    withGroup(sub(g, 'update <id>', 'change only the given fields of an enrollment (the rest stays)')),
  )
    .option('--no-edge', 'devices are not IoT Edge devices')
    .option('--if-match <etag>', 'only change it if the current etag matches')
    .action(
      action(async (id: string, o: Opts) => {
        const e = await adminApi(o)(
          'PATCH',
          `${path(o)}/${seg(id)}`,
          enrollmentPatch(o, !!o.group),
          o.ifMatch ? { 'if-match': o.ifMatch } : {},
        );
        if (o.json) return json(e);
        out(`${o.group ? 'enrollment group' : 'enrollment'} ${id} updated (etag ${e.etag})`);
      }),
    );
  for (const [verb, status] of [
    ['enable', 'enabled'],
    ['disable', 'disabled'],
  ] as const) {
    withGroup(sub(g, `${verb} <id>`, `${verb} an enrollment`)).action(
      action(async (id: string, o: Opts) => {
        const api = adminApi(o);
        const cur = await api('GET', `${path(o)}/${seg(id)}`);
        const e = await api(
          'PUT',
          `${path(o)}/${seg(id)}`,
          { ...cur, provisioningStatus: status },
          { 'if-match': cur.etag },
        );
        if (o.json) return json(e);
        out(`${id} is ${e.provisioningStatus}`);
      }),
    );
  }
  sub(
    g,
    'delete-prefix <prefix>',
    'delete every individual enrollment whose registration ID starts with <prefix>',
  )
    .option('--yes', 'confirm (without it, only say how many and which)')
    .action(
      action(async (prefix: string, o: Opts) => {
        const r = await adminApi(o)('POST', `${t(o)}/enrollments/delete`, { prefix, dryRun: !o.yes });
        if (o.json) return json(r);
        if (r.dryRun) {
          out(
            `${r.count} individual enrollments start with "${prefix}"${r.count ? ` (${r.registrationIds.slice(0, 5).join(', ')}${r.count > 5 ? ', ...' : ''})` : ''}; add --yes to delete them`,
          );
          if (r.count) process.exitCode = 1;
          return;
        }
        out(`deleted ${r.count} individual enrollments starting with "${prefix}"`);
      }),
    );
  sub(g, 'import <file>', 'import individual enrollments from CSV or JSON (thousands per run)')
    .option('--mode <mode>', 'create (an existing ID is an error) or upsert (replace it)', 'create')
    .option('--dry-run', 'check every row and write nothing')
    .option('--chunk <n>', 'enrollments per request (each written in one transaction)', positiveInt, 500)
    .action(
      action(async (file: string, o: Opts) => {
        if (o.mode !== 'create' && o.mode !== 'upsert')
          throw new ZtError('BAD_REQUEST', `--mode ${o.mode} is not create or upsert`);
        const items = importRows(file);
        const api = adminApi(o);
        const bar = startProgress(items.length, o.dryRun ? 'checked' : 'imported');
        const started = Date.now();
        const totals = { created: 0, updated: 0, errors: 0 };
        const errors: string[] = [];
        try {
          for (let i = 0; i < items.length; i += o.chunk) {
            const chunk = items.slice(i, i + o.chunk);
            const r = await api('POST', `${t(o)}/enrollments/import`, {
              mode: o.mode,
              dryRun: !!o.dryRun,
              enrollments: chunk,
            });
            totals.created += r.created;
            totals.updated += r.updated;
            totals.errors += r.errors;
            for (const x of r.results)
              if (x.status === 'error')
                errors.push(`row ${i + x.row + 1} (${x.registrationId || '-'}): ${x.error}`);
            bar.tick(chunk.length);
          }
        } finally {
          bar.stop();
        }
        const seconds = (Date.now() - started) / 1000;
        if (o.json) return json({ ...totals, seconds, errorRows: errors });
        const verb = o.dryRun ? 'would be ' : '';
        out(
          [
            ...errors.slice(0, 20),
            ...(errors.length > 20 ? [`... and ${errors.length - 20} more rows with errors`] : []),
            `${verb}created ${totals.created}, ${verb}updated ${totals.updated}, errors ${totals.errors} (${items.length} rows in ${seconds.toFixed(1)} s)`,
          ].join('\n'),
        );
        if (totals.errors) process.exitCode = 1;
      }),
    );
  withGroup(sub(g, 'show <id>', 'show an enrollment')).action(
    action(async (id: string, o: Opts) => json(await adminApi(o)('GET', `${path(o)}/${seg(id)}`))),
  );
  withGroup(sub(g, 'delete <id>', 'delete an enrollment'))
    .option('--if-match <etag>', 'only delete if the current etag matches')
    .action(
      action(async (id: string, o: Opts) => {
        await adminApi(o)(
          'DELETE',
          `${path(o)}/${seg(id)}`,
          undefined,
          o.ifMatch ? { 'if-match': o.ifMatch } : {},
        );
        out(`deleted ${id}`);
      }),
    );
}

function registerRegistration(program: Command): void {
  const g = program.command('registration').description(COMMANDS.registration);
  registerHistory(g);
  sub(g, 'list', 'list registration records')
    .option('--status <status>', 'only assigned, assigning, failed or disabled')
    .option('--group <id>', 'only those of this enrollment group')
    .option('--since <when>', 'only those changed at or after this ISO date')
    .action(
      action(async (o: Opts) => {
        const q = new URLSearchParams();
        if (o.status) q.set('status', o.status);
        if (o.group) q.set('enrollmentGroup', o.group);
        if (o.since) {
          const at = new Date(o.since);
          if (Number.isNaN(at.getTime()))
            throw new ZtError('BAD_REQUEST', `--since ${o.since} is not a date`);
          q.set('updatedSince', at.toISOString());
        }
        const items = await all<any>(adminApi(o), `${t(o)}/registrations${q.size ? `?${q}` : ''}`);
        if (o.json) return json(items);
        table(
          o,
          items.map((r) => ({
            ...r,
            group: r.x509?.enrollmentGroupId,
            error: r.errorDetail ?? r.errorMessage,
          })),
          [
            'registrationId',
            'status',
            'substatus',
            'assignedHub',
            'deviceId',
            'group',
            'lastUpdatedDateTimeUtc',
            'error',
          ],
        );
      }),
    );
  sub(g, 'show <registrationId>', 'show a registration record').action(
    action(async (id: string, o: Opts) => json(await adminApi(o)('GET', `${t(o)}/registrations/${seg(id)}`))),
  );
  sub(g, 'delete <registrationId>', 'delete a registration record (the device registers afresh)').action(
    action(async (id: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/registrations/${seg(id)}`);
      out(`deleted registration ${id}`);
    }),
  );
}

function registerDevice(program: Command): void {
  const g = program.command('device').description(COMMANDS.device);
  sub(g, 'list', 'list devices')
    .option('--hub <hostName>', 'only this hub')
    .action(
      action(async (o: Opts) => {
        const items = await all<any>(adminApi(o), `${t(o)}/devices${o.hub ? `?hub=${seg(o.hub)}` : ''}`);
        if (o.json) return json(items);
        table(
          o,
          items.map((d) => ({
            ...d,
            auth: d.authentication.type,
            iotEdge: d.capabilities.iotEdge,
            thumbprint: d.authentication.x509Thumbprint?.primaryThumbprint,
          })),
          ['hub', 'deviceId', 'status', 'auth', 'iotEdge', 'thumbprint', 'lastUpdatedDateTimeUtc'],
        );
      }),
    );
  for (const [verb, status] of [
    ['enable', 'enabled'],
    ['disable', 'disabled'],
  ] as const) {
    const c = sub(
      g,
      `${verb} <hub> <deviceId>`,
      verb === 'disable'
        ? 'disable a device: refused by a builtin hub (a connected one is dropped), removed from a mosquitto hub'
        : 'enable a device again',
    );
    if (verb === 'disable') c.option('--reason <text>', 'why, shown in the device record');
    c.action(
      action(async (hub: string, id: string, o: Opts) => {
        const d = await adminApi(o)('PATCH', `${t(o)}/devices/${seg(hub)}/${seg(id)}`, {
          status,
          ...(o.reason ? { statusReason: o.reason } : {}),
        });
        if (o.json) return json(d);
        out(`${id} of ${d.hub} is ${d.status}`);
      }),
    );
  }
  sub(g, 'show <hub> <deviceId>', 'show a device with its twin').action(
    action(async (hub: string, id: string, o: Opts) =>
      json(await adminApi(o)('GET', `${t(o)}/devices/${seg(hub)}/${seg(id)}`)),
    ),
  );
  sub(
    g,
    'twin-update <hub> <deviceId>',
    'change desired properties (a builtin hub pushes them to the device)',
  )
    .requiredOption(
      '--desired <json>',
      'a JSON merge patch of desired properties, e.g. \'{"interval": 5}\'',
      jsonArg('--desired'),
    )
    .action(
      action(async (hub: string, id: string, o: Opts) => {
        const d = await adminApi(o)('PATCH', `${t(o)}/devices/${seg(hub)}/${seg(id)}/twin`, {
          properties: { desired: o.desired },
        });
        if (o.json) return json(d);
        out(`desired properties of ${id} are now version ${d.twinVersions?.desired ?? '?'}`);
      }),
    );
  sub(g, 'invoke <hub> <deviceId> <method>', 'call a direct method on a device connected to a builtin hub')
    .option('--payload <json>', 'the method payload (JSON)', '{}')
    .option('--timeout <seconds>', 'how long to wait for the answer (default 30)', positiveInt)
    .action(
      action(async (hub: string, id: string, method: string, o: Opts) => {
        let payload: unknown;
        try {
          payload = JSON.parse(o.payload);
        } catch {
          throw new ZtError('BAD_REQUEST', `--payload is not JSON: ${o.payload}`);
        }
        const r = await adminApi(o)('POST', `${t(o)}/devices/${seg(hub)}/${seg(id)}/methods`, {
          methodName: method,
          payload,
          ...(o.timeout ? { responseTimeoutInSeconds: o.timeout } : {}),
        });
        if (o.json) return json(r);
        out(`status ${r.status}\n${JSON.stringify(r.payload, null, 2)}`);
      }),
    );
  sub(
    g,
    'send <hub> <deviceId> <message>',
    'send a cloud-to-device message to a device connected to a builtin hub',
  )
    .option('--property <name=value...>', 'message properties')
    .action(
      action(async (hub: string, id: string, message: string, o: Opts) => {
        const properties: Record<string, string> = {};
        for (const p of (o.property as string[] | undefined) ?? []) {
          const i = p.indexOf('=');
          if (i < 1) throw new ZtError('BAD_REQUEST', `--property ${p} is not name=value`);
          properties[p.slice(0, i)] = p.slice(i + 1);
        }
        await adminApi(o)('POST', `${t(o)}/devices/${seg(hub)}/${seg(id)}/messages`, {
          body: message,
          properties,
        });
        out(`sent to ${id}`);
      }),
    );
  sub(g, 'delete <hub> <deviceId>', 'delete a device from a hub registry').action(
    action(async (hub: string, id: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/devices/${seg(hub)}/${seg(id)}`);
      out(`deleted ${id} from ${hub}`);
    }),
  );
}

function registerPolicy(program: Command): void {
  const g = program.command('policy').description(COMMANDS.policy);
  sub(g, 'list', 'list policies with their connection strings').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/access-policies`), [
        'keyName',
        'rights',
        'connectionString',
      ]),
    ),
  );
  sub(g, 'create <name>', 'create a policy (or rotate its keys) and print its connection string')
    .option('--rights <right...>', 'rights, e.g. EnrollmentRead EnrollmentWrite RegistrationStatusRead')
    .action(
      action(async (name: string, o: Opts) => {
        const p = await adminApi(o)('PUT', `${t(o)}/access-policies/${seg(name)}`, { rights: o.rights });
        if (o.json) return json(p);
        out(p.connectionString);
      }),
    );
  sub(g, 'delete <name>', 'delete a policy: its connection strings stop working at once').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/access-policies/${seg(name)}`);
      out(`deleted policy ${name}`);
    }),
  );
}

function registerDiagnose(program: Command): void {
  sub(program, 'diagnose', COMMANDS.diagnose)
    .option(
      '--chain <file>',
      'DPS: device certificate chain, leaf first (e.g. certs/dev-01-full-chain.cert.pem)',
    )
    .option('--cert <file>', 'IoT gateway: the device certificate (leaf first; a CA after it is allowed)')
    .option('--client-id <id>', 'IoT gateway: the MQTT client id to check iot:Connect for')
    .action(
      action(async (o: Opts) => {
        if (!o.chain === !o.cert)
          throw new ZtError(
            'BAD_REQUEST',
            'give --chain <file> (DPS) or --cert <file> (IoT gateway), one of them',
          );
        if (o.cert) return diagnoseCertificate(o);
        const d = await adminApi(o)('POST', `${t(o)}/diagnose`, { chain: readFileSync(o.chain, 'utf8') });
        if (!d.ok) process.exitCode = 1;
        if (o.json) return json(d);
        const lines = [`registration ID: ${d.registrationId ?? '(none)'}`, 'chain:'];
        for (const c of d.chain) lines.push(`  ${c.subject}  (issuer ${c.issuer}, expires ${c.notAfter})`);
        if (d.ok) {
          const e = d.enrollment;
          lines.push(
            `match: ${e.kind === 'group' ? 'enrollment group' : 'individual enrollment'} ${e.id} (${e.provisioningStatus})` +
              (e.boundTo ? ` via ${e.boundTo}` : ''),
          );
          if ((d.candidates ?? []).length > 1) {
            lines.push('candidates:');
            for (const c of d.candidates)
              lines.push(
                `  ${c.id} (priority ${c.priority}, ${c.provisioningStatus}, bound to ${c.boundTo}): ${c.outcome}`,
              );
          }
        } else {
          lines.push(`refused: ${d.code} (DPS errorCode ${d.errorCode})`, `reason: ${d.reason}`);
        }
        out(lines.join('\n'));
      }),
    );
}

const OUTCOMES: Record<string, string> = {
  connects: 'connects',
  provisions: 'would be provisioned by JITP on its first connection',
  'registers-pending': 'would be registered PENDING_ACTIVATION (JITR) and refused until activated',
  refused: 'would be refused',
};

/** `diagnose --cert`: what the IoT gateway would do with a certificate. */
async function diagnoseCertificate(o: Opts): Promise<void> {
  const d = await adminApi(o)('POST', `${t(o)}/iot/diagnose`, {
    certificate: readFileSync(o.cert, 'utf8'),
    ...(o.clientId ? { clientId: o.clientId } : {}),
  });
  if (!d.ok) process.exitCode = 1;
  if (o.json) return json(d);
  const lines = [`certificate ${d.certificateId}: ${OUTCOMES[d.outcome] ?? d.outcome}`];
  if (d.ca)
    lines.push(
      `CA: ${d.ca.name} (${d.ca.status}, ${d.ca.certificateMode}, auto-registration ${d.ca.autoRegistration}, first connection ${d.ca.firstConnection})`,
    );
  if (d.certificate) {
    lines.push(`registered: ${d.certificate.status}`);
    const e = d.certificate.lastEvent;
    if (e) lines.push(`last: ${e.outcome} at ${e.at}${e.reason ? `: ${e.reason}` : ''}`);
  } else lines.push('registered: no');
  if (d.policies) lines.push(`policies: ${d.policies.join(', ') || '(none)'}`);
  if (d.plan?.thing) lines.push(`JITP would make thing ${d.plan.thing.name}`);
  for (const r of d.reasons) lines.push(`- ${r}`);
  out(lines.join('\n'));
}

/** Registers every management command. */
export function registerAdmin(program: Command): void {
  registerTenant(program);
  registerCa(program);
  registerHub(program);
  registerEnrollment(program);
  registerRegistration(program);
  registerDevice(program);
  registerPolicy(program);
  registerDiagnose(program);
  registerToken(program);
}
