/**
 * `zerotouch iot ...`: the AWS IoT-shaped side of a scope over the admin API: settings and the
 * registration code, CA registration for JITP/JITR, device certificates, things, thing types
 * and groups, and IoT policies.
 */
import { readFileSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import { ZtError } from '../errors.ts';
import { adminApi, all, json, type Opts, out, seg, sub, t, table } from './admin-client.ts';
import { COMMANDS } from './commands.ts';
import { action } from './run.ts';

const collect = (v: string, prev: string[] = []) => [...prev, v];

function bool(v: string): boolean {
  if (v === 'true' || v === 'on' || v === 'yes') return true;
  if (v === 'false' || v === 'off' || v === 'no') return false;
  throw new InvalidArgumentError('must be true or false');
}

function pair(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i < 1) throw new InvalidArgumentError(`"${v}" is not name=value`);
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}

/** Reads a JSON file, saying which file and why when it is not JSON. */
function jsonFile(file: string): unknown {
  const text = readFileSync(file, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ZtError('BAD_REQUEST', `${file} is not JSON: ${(e as Error).message}`);
  }
}

/** The registration config of `--registration-config` (AWS's file), `--template` or `--template-name`. */
function registrationConfig(o: Opts): Record<string, unknown> | undefined {
  if (o.registrationConfig) {
    const c = jsonFile(o.registrationConfig);
    if (typeof c !== 'object' || c === null || Array.isArray(c))
      throw new ZtError(
        'BAD_REQUEST',
        `${o.registrationConfig} must hold {"templateBody": "...", "roleArn": "..."} or {"templateName": "..."}`,
      );
    return c as Record<string, unknown>;
  }
  if (o.template) return { templateBody: readFileSync(o.template, 'utf8') };
  if (o.templateName) return { templateName: o.templateName };
  return undefined;
}

const certPath = (o: Opts, id: string) => `${t(o)}/iot/certificates/${seg(id.toLowerCase())}`;

function registerSettings(g: Command): void {
  sub(g, 'settings', "show or change the scope's IoT settings")
    .option('--region <region>', 'region in ARNs, e.g. us-east-1')
    .option('--account <id>', '12-digit account id in ARNs')
    .option('--endpoint <host>', 'host name devices of this scope send as SNI ("none" clears it)')
    .option(
      '--require-connect-policy <bool>',
      'certificates need a policy allowing iot:Connect (as AWS)',
      bool,
    )
    .option(
      '--create-missing-types-and-groups <bool>',
      'templates may create thing types and groups on first use',
      bool,
    )
    .option(
      '--webhook <url>',
      'send registry and lifecycle events to this URL (repeatable; "none" clears)',
      collect,
    )
    .option(
      '--webhook-secret <secret>',
      'HMAC-SHA256 key for the x-zerotouch-signature header of the webhooks',
    )
    .action(
      action(async (o: Opts) => {
        const patch: Record<string, unknown> = {};
        if (o.region) patch.region = o.region;
        if (o.account) patch.accountId = o.account;
        if (o.endpoint) patch.endpoint = o.endpoint === 'none' ? null : o.endpoint;
        if (o.requireConnectPolicy !== undefined) patch.requireConnectPolicy = o.requireConnectPolicy;
        if (o.createMissingTypesAndGroups !== undefined)
          patch.createMissingTypesAndGroups = o.createMissingTypesAndGroups;
        if (o.webhook)
          patch.eventWebhooks = (o.webhook as string[])
            .filter((u) => u !== 'none')
            .map((url) => ({ url, ...(o.webhookSecret ? { secret: o.webhookSecret } : {}) }));
        const api = adminApi(o);
        const s = Object.keys(patch).length
          ? await api('PATCH', `${t(o)}/iot/settings`, patch)
          : await api('GET', `${t(o)}/iot/settings`);
        json(s);
      }),
    );
  sub(
    g,
    'registration-code',
    'the CN a CA verification certificate must carry (as get-registration-code)',
  ).action(
    action(async (o: Opts) => {
      const r = await adminApi(o)('GET', `${t(o)}/iot/registration-code`);
      if (o.json) return json(r);
      out(r.registrationCode);
    }),
  );
}

function registerDeliveries(g: Command): void {
  sub(g, 'deliveries', 'webhook messages of the scope (newest first) and whether they were delivered')
    .option('--max <n>', 'how many', '100')
    .action(
      action(async (o: Opts) =>
        table(
          o,
          (await adminApi(o)('GET', `${t(o)}/iot/webhook-deliveries?max=${Number(o.max)}`)).map(
            (m: Record<string, unknown>) => ({
              ...m,
              state: m.deliveredAt
                ? `delivered ${String(m.deliveredAt)}`
                : `next attempt ${String(m.nextAttemptAt)}`,
            }),
          ),
          ['createdAt', 'kind', 'target', 'attempts', 'state', 'lastError'],
        ),
      ),
    );
}

function registerCas(g: Command): void {
  const ca = g.command('ca').description('register uploaded CAs for JITP/JITR');
  const configOptions = (c: Command) =>
    c
      .option(
        '--registration-config <file>',
        'AWS registration config JSON: {"templateBody": "...", "roleArn": "..."} or {"templateName": "..."}',
      )
      .option('--template <file>', 'a JITP template file (the templateBody)')
      .option('--template-name <name>', 'a provisioning template of type JITP in this scope')
      .option(
        '--first-connection <mode>',
        'accept (default) or aws-compatible (close the provisioning connection, as AWS)',
      )
      .option('--hook <url>', 'pre-provisioning webhook: may allow, deny with a reason, or add parameters')
      .option('--hook-secret <secret>', 'HMAC-SHA256 key for the hook request signature');
  configOptions(
    sub(ca, 'register <name>', 'register an uploaded CA (zerotouch ca upload) for JITP/JITR')
      .option(
        '--verification-cert <file>',
        "certificate whose CN is the scope's registration code, signed by the CA",
      )
      .option(
        '--mode <mode>',
        'DEFAULT (one scope; no SNI needed) or SNI_ONLY (several scopes; devices send SNI)',
        'DEFAULT',
      )
      .option('--inactive', 'register it INACTIVE (no new certificates until activated)')
      .option('--allow-auto-registration', 'register certificates it signed on their first connection'),
  ).action(
    action(async (name: string, o: Opts) => {
      const config = registrationConfig(o);
      const r = await adminApi(o)('PUT', `${t(o)}/iot/cas/${seg(name)}`, {
        ...(o.verificationCert ? { verificationCertificate: readFileSync(o.verificationCert, 'utf8') } : {}),
        certificateMode: o.mode,
        setAsActive: !o.inactive,
        allowAutoRegistration: !!o.allowAutoRegistration,
        ...(config ? { registrationConfig: config } : {}),
        ...(o.firstConnection ? { firstConnection: o.firstConnection } : {}),
        ...(o.hook
          ? { preProvisioningHook: { url: o.hook, ...(o.hookSecret ? { secret: o.hookSecret } : {}) } }
          : {}),
      });
      if (o.json) return json(r);
      const reg = r.awsRegistration;
      out(
        `registered ${name} for JITP/JITR: certificate ID ${reg.certificateId}, ${reg.status}, ${reg.certificateMode}, auto-registration ${reg.autoRegistration}` +
          (reg.registrationConfig
            ? ', with a template (JITP)'
            : reg.autoRegistration === 'ENABLE'
              ? ', no template (JITR)'
              : ''),
      );
    }),
  );
  configOptions(
    sub(ca, 'update <name>', "change a CA's JITP/JITR registration")
      .option('--status <status>', 'ACTIVE or INACTIVE')
      .option('--auto-registration <state>', 'ENABLE or DISABLE')
      .option('--no-registration-config', 'remove the template (JITR from then on)'),
  ).action(
    action(async (name: string, o: Opts) => {
      const config = o.registrationConfig === false ? null : registrationConfig(o);
      const r = await adminApi(o)('PATCH', `${t(o)}/iot/cas/${seg(name)}`, {
        ...(o.status ? { newStatus: String(o.status).toUpperCase() } : {}),
        ...(o.autoRegistration
          ? { newAutoRegistrationStatus: String(o.autoRegistration).toUpperCase() }
          : {}),
        ...(config !== undefined ? { registrationConfig: config } : {}),
        ...(o.firstConnection ? { firstConnection: o.firstConnection } : {}),
        ...(o.hook
          ? {
              preProvisioningHook:
                o.hook === 'none' ? null : { url: o.hook, ...(o.hookSecret ? { secret: o.hookSecret } : {}) },
            }
          : {}),
      });
      json(r.awsRegistration);
    }),
  );
  sub(ca, 'deregister <name>', 'end the JITP/JITR registration (the CA stays for DPS and EST)').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', `${t(o)}/iot/cas/${seg(name)}`);
      out(`${name} is no longer registered for JITP/JITR`);
    }),
  );
}

function registerCerts(g: Command): void {
  const c = g.command('cert').description('device certificates of the IoT registry');
  sub(c, 'list', 'list device certificates')
    .option('--ca <name>', 'only those of this CA')
    .option('--status <status>', 'only those with this status')
    .action(
      action(async (o: Opts) => {
        const q = new URLSearchParams();
        if (o.ca) q.set('caName', o.ca);
        if (o.status) q.set('status', String(o.status).toUpperCase());
        const items = await all<Record<string, any>>(
          adminApi(o),
          `${t(o)}/iot/certificates${q.size ? `?${q}` : ''}`,
        );
        table(
          o,
          items.map((x) => ({
            ...x,
            last: x.lastEvent ? `${x.lastEvent.outcome}: ${x.lastEvent.reason ?? ''}` : '',
          })),
          ['certificateId', 'status', 'subject', 'caName', 'last'],
        );
      }),
    );
  sub(
    c,
    'show <certificateId>',
    'show a certificate, its attachments and the last thing that happened at the gateway',
  ).action(
    action(async (id: string, o: Opts) => {
      const api = adminApi(o);
      const cert = await api('GET', certPath(o, id));
      const attached = await api('GET', `${certPath(o, id)}/attachments`);
      if (o.json) return json({ ...cert, ...attached });
      const lines = [
        `certificate ${cert.certificateId}`,
        `  status:   ${cert.status} (${cert.certificateMode})`,
        `  subject:  ${cert.subject}`,
        `  CA:       ${cert.caName ?? '(none)'}`,
        `  arn:      ${cert.certificateArn}`,
        `  policies: ${attached.policies.join(', ') || '(none)'}`,
        `  things:   ${attached.things.join(', ') || '(none)'}`,
      ];
      if (cert.lastEvent) {
        lines.push(`  last:     ${cert.lastEvent.outcome} at ${cert.lastEvent.at}`);
        if (cert.lastEvent.reason) lines.push(`  reason:   ${cert.lastEvent.reason}`);
        if (cert.lastEvent.missingParameter) lines.push(`  missing:  ${cert.lastEvent.missingParameter}`);
      }
      out(lines.join('\n'));
    }),
  );
  sub(c, 'register <file>', 'register a device certificate (INACTIVE unless --active)')
    .option('--ca <name>', 'the registered CA that signed it (without: SNI_ONLY, no CA)')
    .option('--active', 'register it ACTIVE')
    .action(
      action(async (file: string, o: Opts) => {
        const r = await adminApi(o)('POST', `${t(o)}/iot/certificates`, {
          certificatePem: readFileSync(file, 'utf8'),
          ...(o.ca ? { caName: o.ca } : {}),
          status: o.active ? 'ACTIVE' : 'INACTIVE',
        });
        if (o.json) return json(r);
        out(`registered ${r.certificateId} (${r.status})`);
      }),
    );
  for (const [verb, status] of [
    ['activate', 'ACTIVE'],
    ['deactivate', 'INACTIVE'],
    ['revoke', 'REVOKED'],
  ] as const) {
    sub(c, `${verb} <certificateId>`, `set the certificate ${status}`).action(
      action(async (id: string, o: Opts) => {
        const r = await adminApi(o)('PATCH', certPath(o, id), { status });
        if (o.json) return json(r);
        out(`${r.certificateId} is ${r.status}`);
      }),
    );
  }
  sub(c, 'delete <certificateId>', 'delete a certificate that is not ACTIVE and has nothing attached').action(
    action(async (id: string, o: Opts) => {
      await adminApi(o)('DELETE', certPath(o, id));
      out(`deleted ${id}`);
    }),
  );
}

function registerThings(g: Command): void {
  const th = g.command('thing').description('things of the IoT registry');
  const thingPath = (o: Opts, name: string) => `${t(o)}/iot/things/${seg(name)}`;
  sub(th, 'list', 'list things').action(
    action(async (o: Opts) =>
      table(
        o,
        (await all<Record<string, any>>(adminApi(o), `${t(o)}/iot/things`)).map((x) => ({
          ...x,
          groups: x.thingGroups.join(','),
          attrs: Object.entries(x.attributes)
            .map(([k, v]) => `${k}=${v}`)
            .join(','),
        })),
        ['thingName', 'thingTypeName', 'groups', 'attrs'],
      ),
    ),
  );
  const thingOptions = (c: Command) =>
    c
      .option('--type <name>', 'thing type')
      .option('--attr <name=value>', 'attribute (repeatable)', pair)
      .option('--group <name>', 'thing group (repeatable)', collect)
      .option('--billing-group <name>', 'billing group');
  const body = (o: Opts) => ({
    ...(o.type ? { thingTypeName: o.type } : {}),
    ...(o.attr ? { attributes: o.attr } : {}),
    ...(o.group ? { thingGroups: o.group } : {}),
    ...(o.billingGroup ? { billingGroup: o.billingGroup } : {}),
  });
  thingOptions(sub(th, 'create <name>', 'create a thing')).action(
    action(async (name: string, o: Opts) => json(await adminApi(o)('POST', thingPath(o, name), body(o)))),
  );
  thingOptions(sub(th, 'update <name>', 'update a thing (attributes merged; an empty value removes one)'))
    .option('--remove-type', 'remove the thing type')
    .action(
      action(async (name: string, o: Opts) =>
        json(
          await adminApi(o)('PATCH', thingPath(o, name), {
            ...body(o),
            ...(o.removeType ? { removeThingType: true } : {}),
          }),
        ),
      ),
    );
  sub(th, 'show <name>', 'show a thing and its certificates').action(
    action(async (name: string, o: Opts) => {
      const api = adminApi(o);
      json({
        ...(await api('GET', thingPath(o, name))),
        principals: await api('GET', `${thingPath(o, name)}/principals`),
      });
    }),
  );
  sub(th, 'delete <name>', 'delete a thing with no certificates attached').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', thingPath(o, name));
      out(`deleted thing ${name}`);
    }),
  );
  sub(th, 'attach-cert <name> <certificateId>', 'attach a certificate to a thing').action(
    action(async (name: string, id: string, o: Opts) => {
      await adminApi(o)('PUT', `${thingPath(o, name)}/principals/${seg(id.toLowerCase())}`);
      out(`attached ${id} to ${name}`);
    }),
  );
  sub(th, 'detach-cert <name> <certificateId>', 'detach a certificate from a thing').action(
    action(async (name: string, id: string, o: Opts) => {
      await adminApi(o)('DELETE', `${thingPath(o, name)}/principals/${seg(id.toLowerCase())}`);
      out(`detached ${id} from ${name}`);
    }),
  );
  for (const [cmd, path, word] of [
    ['type', 'thing-types', 'thing type'],
    ['group', 'thing-groups', 'thing group'],
    ['billing-group', 'billing-groups', 'billing group'],
  ] as const) {
    const k = g.command(cmd).description(`${word}s`);
    sub(k, 'list', `list ${word}s`).action(
      action(async (o: Opts) =>
        table(o, await adminApi(o)('GET', `${t(o)}/iot/${path}`), ['name', 'description', 'createdAt']),
      ),
    );
    sub(k, 'create <name>', `create a ${word}`)
      .option('--description <text>', 'what it is for')
      .action(
        action(async (name: string, o: Opts) => {
          const r = await adminApi(o)(
            'POST',
            `${t(o)}/iot/${path}/${seg(name)}`,
            o.description ? { description: o.description } : {},
          );
          if (o.json) return json(r);
          out(`created ${word} ${name}`);
        }),
      );
    sub(k, 'delete <name>', `delete a ${word}`).action(
      action(async (name: string, o: Opts) => {
        await adminApi(o)('DELETE', `${t(o)}/iot/${path}/${seg(name)}`);
        out(`deleted ${word} ${name}`);
      }),
    );
  }
}

function registerPolicies(g: Command): void {
  const p = g.command('policy').description('IoT policies (IAM-style documents with versions)');
  const policyPath = (o: Opts, name: string) => `${t(o)}/iot/policies/${seg(name)}`;
  sub(p, 'list', 'list IoT policies').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', `${t(o)}/iot/policies`), [
        'policyName',
        'defaultVersionId',
        'createdBy',
      ]),
    ),
  );
  sub(p, 'create <name>', 'create an IoT policy from a JSON document file')
    .requiredOption('--document <file>', 'the policy document (JSON)')
    .action(
      action(async (name: string, o: Opts) => {
        const r = await adminApi(o)('POST', policyPath(o, name), {
          document: readFileSync(o.document, 'utf8'),
        });
        if (o.json) return json(r);
        out(`created policy ${name} (${r.policyArn})`);
      }),
    );
  sub(p, 'show <name>', 'show a policy, its versions and what it is attached to').action(
    action(async (name: string, o: Opts) => {
      const api = adminApi(o);
      json({
        ...(await api('GET', policyPath(o, name))),
        targets: await api('GET', `${policyPath(o, name)}/targets`),
      });
    }),
  );
  sub(p, 'delete <name>', 'delete a policy attached to nothing').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', policyPath(o, name));
      out(`deleted policy ${name}`);
    }),
  );
  sub(p, 'version <name>', 'add a version (at most five)')
    .requiredOption('--document <file>', 'the policy document (JSON)')
    .option('--set-default', 'make it the default version')
    .action(
      action(async (name: string, o: Opts) =>
        json(
          await adminApi(o)('POST', `${policyPath(o, name)}/versions`, {
            document: readFileSync(o.document, 'utf8'),
            setAsDefault: !!o.setDefault,
          }),
        ),
      ),
    );
  sub(p, 'default <name> <versionId>', 'make a version the default').action(
    action(async (name: string, v: string, o: Opts) =>
      json(await adminApi(o)('PUT', `${policyPath(o, name)}/versions/${seg(v)}/default`)),
    ),
  );
  sub(p, 'attach <name> <certificateId>', 'attach a policy to a certificate').action(
    action(async (name: string, id: string, o: Opts) => {
      await adminApi(o)('PUT', `${policyPath(o, name)}/targets/${seg(id.toLowerCase())}`);
      out(`attached ${name} to ${id}`);
    }),
  );
  sub(p, 'detach <name> <certificateId>', 'detach a policy from a certificate').action(
    action(async (name: string, id: string, o: Opts) => {
      await adminApi(o)('DELETE', `${policyPath(o, name)}/targets/${seg(id.toLowerCase())}`);
      out(`detached ${name} from ${id}`);
    }),
  );
}

/** Registers `zerotouch iot`. */
export function registerIot(program: Command): void {
  const g = program.command('iot').description(COMMANDS.iot);
  registerSettings(g);
  registerCas(g);
  registerCerts(g);
  registerThings(g);
  registerPolicies(g);
  registerDeliveries(g);
}
