/** `zerotouch audit list|export` and `zerotouch registration history`: the audit trail from the admin API. */
import type { Command } from 'commander';
import { ZtError } from '../errors.ts';
import { type AdminCall, adminApi, json, type Opts, out, sub, t, table } from './admin-client.ts';
import { COMMANDS } from './commands.ts';
import { action, positiveInt } from './run.ts';

type Row = {
  seq: number;
  at: string;
  actor: { kind: string; id: string; name?: string };
  action: string;
  target: string;
  outcome: string;
  code?: string;
  detail?: Record<string, unknown>;
};

/** The query string of the filter options. */
function query(o: Opts, after?: number, max = 1000): string {
  const q = new URLSearchParams();
  for (const k of ['action', 'target', 'actor', 'outcome'] as const) if (o[k]) q.set(k, o[k]);
  for (const k of ['since', 'until'] as const) {
    if (!o[k]) continue;
    const at = new Date(o[k]);
    if (Number.isNaN(at.getTime())) throw new ZtError('BAD_REQUEST', `--${k} ${o[k]} is not a date`);
    q.set(k, at.toISOString());
  }
  if (after !== undefined) q.set('after', String(after));
  q.set('max', String(max));
  return q.toString();
}

/** Reads records page by page (after the last seq) and hands each page on. */
async function pages(api: AdminCall, base: string, o: Opts, each: (rows: Row[]) => void, limit = Infinity) {
  let after: number | undefined;
  let seen = 0;
  for (;;) {
    const rows = await api<Row[]>('GET', `${base}?${query(o, after, Math.min(1000, limit - seen))}`);
    if (rows.length) each(rows);
    seen += rows.length;
    if (rows.length < 1000 || seen >= limit) return;
    after = rows[rows.length - 1]!.seq;
  }
}

const who = (r: Row) => (r.actor.name ? `${r.actor.kind}:${r.actor.name}` : `${r.actor.kind}:${r.actor.id}`);
const why = (r: Row) => {
  if (r.detail?.reason !== undefined) return String(r.detail.reason);
  return r.detail?.status !== undefined ? `HTTP ${String(r.detail.status)}` : '';
};

function withFilters(c: Command): Command {
  return c
    .option(
      '--action <action>',
      'an action, or a prefix ending in * (e.g. "certificate.*", "device.refused")',
    )
    .option('--target <target>', 'e.g. registration/edge-01, enrollment-group/line-3, certificate/<serial>')
    .option('--actor <id>', 'a token id or a device registration ID')
    .option('--outcome <outcome>', 'ok, refused or failed')
    .option('--since <date>', 'from this time (ISO 8601)')
    .option('--until <date>', 'before this time')
    .option('--all-scopes', 'every scope (admin tokens only; no --scope)');
}

const baseOf = (o: Opts) => (o.allScopes ? '/v1/audit' : `${t(o)}/audit`);

/** Registers `audit` and `registration history`. */
export function registerAudit(program: Command): void {
  const g = program.command('audit').description(COMMANDS.audit);
  const scoped = (c: Command) =>
    c.option(
      '-s, --scope <idScope>',
      'ID scope of the tenant [ZEROTOUCH_SCOPE]',
      process.env.ZEROTOUCH_SCOPE,
    );
  const need = (o: Opts) => {
    if (!o.allScopes && !o.scope)
      throw new ZtError('BAD_REQUEST', 'give --scope <idScope> (or --all-scopes)');
  };
  withFilters(scoped(sub(g, 'list', 'list audit records, oldest first', false)))
    .option('--max <n>', 'at most this many (default 100)', positiveInt)
    .action(
      action(async (o: Opts) => {
        need(o);
        const rows: Row[] = [];
        await pages(adminApi(o), baseOf(o), o, (p) => rows.push(...p), o.max ?? 100);
        if (o.json) return json(rows);
        table(
          o,
          rows.map((r) => ({ ...r, actor: who(r), code: r.code ?? '', reason: why(r) })),
          ['seq', 'at', 'actor', 'action', 'target', 'outcome', 'code', 'reason'],
        );
      }),
    );
  withFilters(scoped(sub(g, 'export', 'write every matching record: JSON lines (default) or CSV', false)))
    .option('--format <format>', 'jsonl or csv', 'jsonl')
    .action(
      action(async (o: Opts) => {
        need(o);
        if (o.format !== 'jsonl' && o.format !== 'csv')
          throw new ZtError('BAD_REQUEST', `--format ${o.format} is not jsonl or csv`);
        const cell = (v: unknown) => `"${String(v ?? '').replaceAll('"', '""')}"`;
        if (o.format === 'csv')
          process.stdout.write('seq,at,actor_kind,actor_id,actor_name,action,target,outcome,code,detail\n');
        await pages(adminApi(o), baseOf(o), o, (rows) => {
          const text = rows
            .map((r) =>
              o.format === 'csv'
                ? [r.seq, r.at, r.actor.kind, r.actor.id, r.actor.name, r.action, r.target, r.outcome, r.code]
                    .map(cell)
                    .concat(cell(r.detail ? JSON.stringify(r.detail) : ''))
                    .join(',')
                : JSON.stringify(r),
            )
            .join('\n');
          process.stdout.write(`${text}\n`);
        });
      }),
    );
}

/** Adds `registration history` to the registration command. */
export function registerHistory(r: Command): void {
  sub(r, 'history <registrationId>', "a device's registrations, refusals and failures, oldest first").action(
    action(async (id: string, o: Opts) => {
      const rows: Row[] = [];
      await pages(adminApi(o), `${t(o)}/audit`, { ...o, target: `registration/${id}` }, (p) =>
        rows.push(...p),
      );
      if (o.json) return json(rows);
      if (rows.length === 0) return out(`no history for ${id} in this scope`);
      for (const x of rows) {
        const d = x.detail ?? {};
        const where = d.assignedHub ? ` -> ${d.assignedHub} (${d.substatus ?? ''})` : '';
        out(`${x.at}  ${x.action}${where}${x.code ? ` ${x.code}` : ''}${d.reason ? `: ${d.reason}` : ''}`);
      }
    }),
  );
}
