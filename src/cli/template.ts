/** `zerotouch template ...`: provisioning templates, checked and tried offline. */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ZtError } from '../errors.ts';
import { certificateParameters } from '../features/templates/certificate-parameters.ts';
import { evaluateTemplate } from '../features/templates/evaluate.ts';
import { parseTemplate } from '../features/templates/template.ts';
import type { ProvisioningPlan, TemplateKind } from '../features/templates/types.ts';
import { loadCertificates } from '../pki/certificate.ts';
import { adminApi, json, type Opts, out, seg, sub, t, table } from './admin-client.ts';
import { COMMANDS } from './commands.ts';
import { action } from './run.ts';

/** The template in a file: its body, or a {"templateBody": "..."} registration config as AWS's CLI takes it. */
function readTemplate(file: string): string {
  const text = readFileSync(file, 'utf8');
  try {
    const doc = JSON.parse(text) as { templateBody?: unknown };
    if (typeof doc?.templateBody === 'string') return doc.templateBody;
  } catch {
    // parseTemplate says what is wrong with it
  }
  return text;
}

/** The plan in words, one resource a line. */
export function describePlan(plan: ProvisioningPlan): string {
  const lines = ['parameters:'];
  for (const [k, v] of Object.entries(plan.parameters)) lines.push(`  ${k} = ${v}`);
  if (plan.thing) {
    const t = plan.thing;
    lines.push(`thing ${t.name} (${t.logicalName})`);
    if (t.thingType) lines.push(`  type: ${t.thingType} (if it exists: ${t.overrides.thingType})`);
    const attrs = Object.entries(t.attributes).map(([k, v]) => `${k}=${v}`);
    lines.push(`  attributes: ${attrs.join(', ') || 'none'} (if it exists: ${t.overrides.attributes})`);
    lines.push(`  groups: ${t.groups.join(', ') || 'none'} (if it exists: ${t.overrides.groups})`);
    if (t.billingGroup) lines.push(`  billing group: ${t.billingGroup}`);
  }
  if (plan.certificate) {
    const c = plan.certificate;
    lines.push(`certificate ${c.id ?? '(from the request)'} (${c.logicalName})`);
    lines.push(`  status: ${c.status} (if it exists: ${c.statusOverride})`);
  }
  for (const p of plan.policies) {
    lines.push(`policy ${p.name} (${p.logicalName})${p.document ? '' : ': an existing policy'}`);
    if (p.document) lines.push(`  ${JSON.stringify(p.document)}`);
  }
  return lines.join('\n') + '\n';
}

/** Registers the template commands. */
export function registerTemplate(program: Command): void {
  const template = program.command('template').description(COMMANDS.template);
  template
    .command('test')
    .description('print what a template would provision for a certificate, creating nothing')
    .requiredOption('--template <file>', 'the template body (JSON), or {"templateBody": "..."}')
    .option('--cert <file>', 'the device certificate (PEM or DER; the first certificate is the device)')
    .option(
      '--param <name=value...>',
      'a parameter value (fleet templates, or to override one of the certificate)',
    )
    .option(
      '--fleet',
      'a fleet-provisioning template: parameters come from --param, not only the certificate',
    )
    .option('--json', 'print the plan as JSON')
    .action(
      action((o: { template: string; cert?: string; param?: string[]; fleet?: boolean; json?: boolean }) => {
        const kind: TemplateKind = o.fleet ? 'FLEET_PROVISIONING' : 'JITP';
        const checked = parseTemplate(readTemplate(o.template), kind);
        if (kind === 'JITP' && !o.cert) {
          throw new ZtError(
            'BAD_REQUEST',
            'a JITP template takes its parameters from a certificate; give --cert <device.pem>',
          );
        }
        const params: Record<string, string> = o.cert
          ? certificateParameters(loadCertificates(readFileSync(o.cert))[0]!)
          : {};
        for (const p of o.param ?? []) {
          const i = p.indexOf('=');
          if (i < 1) throw new ZtError('BAD_REQUEST', `--param takes name=value, not "${p}"`);
          params[p.slice(0, i)] = p.slice(i + 1);
        }
        const plan = evaluateTemplate(checked, params);
        process.stdout.write(o.json ? JSON.stringify(plan, null, 2) + '\n' : describePlan(plan));
      }),
    );
  const path = (o: Opts, name?: string) => `${t(o)}/iot/templates${name ? `/${seg(name)}` : ''}`;
  sub(template, 'list', 'list the provisioning templates of a scope').action(
    action(async (o: Opts) =>
      table(o, await adminApi(o)('GET', path(o)), ['templateName', 'type', 'enabled', 'description']),
    ),
  );
  sub(
    template,
    'create <name>',
    'save a provisioning template in a scope (checked; errors name the JSON path)',
  )
    .requiredOption('--template <file>', 'the template body (JSON), or {"templateBody": "..."}')
    .option('--type <type>', 'JITP (for a CA registration config) or FLEET_PROVISIONING', 'JITP')
    .option('--description <text>', 'what it is for')
    .option('--disabled', 'save it disabled')
    .action(
      action(async (name: string, o: Opts) => {
        const r = await adminApi(o)('POST', path(o, name), {
          templateBody: readTemplate(o.template),
          type: String(o.type).toUpperCase(),
          ...(o.description ? { description: o.description } : {}),
          enabled: !o.disabled,
        });
        if (o.json) return json(r);
        out(`saved template ${name} (${r.type}, ${r.enabled ? 'enabled' : 'disabled'})`);
      }),
    );
  sub(template, 'update <name>', 'replace the body, description or enabled flag of a saved template')
    .option('--template <file>', 'the new template body')
    .option('--description <text>', 'what it is for')
    .option('--enabled <bool>', 'true or false')
    .action(
      action(async (name: string, o: Opts) =>
        json(
          await adminApi(o)('PATCH', path(o, name), {
            ...(o.template ? { templateBody: readTemplate(o.template) } : {}),
            ...(o.description ? { description: o.description } : {}),
            ...(o.enabled !== undefined ? { enabled: o.enabled === 'true' } : {}),
          }),
        ),
      ),
    );
  sub(template, 'show <name>', 'show a saved template').action(
    action(async (name: string, o: Opts) => json(await adminApi(o)('GET', path(o, name)))),
  );
  sub(template, 'delete <name>', 'delete a saved template').action(
    action(async (name: string, o: Opts) => {
      await adminApi(o)('DELETE', path(o, name));
      out(`deleted template ${name}`);
    }),
  );
}
