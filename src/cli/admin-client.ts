/** Admin API client used by the management commands: URL and token from flags, env or the data dir. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ERROR_CATALOGUE, type ErrorCode, ZtError } from '../errors.ts';

export interface ConnectionOptions {
  url?: string;
  token?: string;
  dataDir?: string;
}

/** Adds --url, --token and --data-dir to a management command. */
export function withConnection(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'admin API base URL [ZEROTOUCH_URL]', process.env.ZEROTOUCH_URL)
    .option('--token <token>', 'admin API token [ZEROTOUCH_TOKEN]; default: <data-dir>/admin-token')
    .option('--data-dir <dir>', 'server data directory holding admin-token [ZEROTOUCH_DATA_DIR]');
}

function resolveToken(o: ConnectionOptions): string {
  if (o.token) return o.token;
  if (process.env.ZEROTOUCH_TOKEN) return process.env.ZEROTOUCH_TOKEN;
  const file = join(o.dataDir ?? process.env.ZEROTOUCH_DATA_DIR ?? 'data', 'admin-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new ZtError(
    'UNAUTHENTICATED',
    `no admin token: pass --token, set ZEROTOUCH_TOKEN, or point --data-dir at the server's data directory (looked for ${file})`,
  );
}

/** A bound admin API caller: throws ZtError with the server's code and message on 4xx/5xx. */
export type AdminCall = <T = any>(
  method: string,
  path: string,
  body?: unknown,
  headers?: Record<string, string>,
) => Promise<T>;

/** Creates an admin API caller from the command's connection options. */
export function adminApi(o: ConnectionOptions): AdminCall {
  const base = (o.url ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const token = resolveToken(o);
  return async (method, path, body, headers = {}) => {
    let res: Response;
    try {
      res = await fetch(base + path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...headers,
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new ZtError(
        'SERVER_UNREACHABLE',
        `cannot reach the admin API at ${base} (${cause?.code ?? cause?.message ?? (e as Error).message}); is the server running? pass --url if it listens elsewhere`,
      );
    }
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = text;
    }
    if (!res.ok) {
      const code: ErrorCode =
        typeof parsed?.code === 'string' && parsed.code in ERROR_CATALOGUE ? parsed.code : 'INTERNAL';
      const message =
        typeof parsed?.message === 'string'
          ? parsed.message
          : `HTTP ${res.status}: ${text || res.statusText}`;
      throw new ZtError(code, message, parsed?.detail);
    }
    return parsed;
  };
}

/** Encodes one path segment. */
export const seg = (s: string) => encodeURIComponent(s);

/** Options every management command receives. */
export type Opts = ConnectionOptions & { scope: string; json?: boolean } & Record<string, any>;

/** Prints a line (adds the newline). */
export const out = (s: string): void => void process.stdout.write(s.endsWith('\n') ? s : s + '\n');
/** Prints JSON, indented. */
export const json = (v: unknown): void => out(JSON.stringify(v, null, 2));

/** Prints rows as an aligned table (or JSON with --json). */
export function table(o: { json?: boolean }, rows: Array<Record<string, unknown>>, cols: string[]): void {
  if (o.json) return json(rows);
  if (rows.length === 0) return out('(none)');
  const cells = rows.map((r) => cols.map((c) => (r[c] === undefined || r[c] === null ? '' : String(r[c]))));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]) =>
    vals
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  out([line(cols), ...cells.map(line)].join('\n'));
}

/** Follows continuation tokens until every item is read. */
export async function all<T>(api: AdminCall, path: string): Promise<T[]> {
  const items: T[] = [];
  let cont: string | undefined;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await api<{ items: T[]; continuation?: string }>(
      'GET',
      `${path}${sep}max=1000${cont ? `&continuation=${encodeURIComponent(cont)}` : ''}`,
    );
    items.push(...page.items);
    cont = page.continuation;
  } while (cont);
  return items;
}

/** A subcommand with connection options, --scope (unless tenant-level) and --json. */
export function sub(parent: Command, spec: string, description: string, scoped = true): Command {
  const c = withConnection(parent.command(spec).description(description)).option(
    '--json',
    'print JSON instead of text',
  );
  if (scoped)
    c.requiredOption(
      '-s, --scope <idScope>',
      'ID scope of the tenant [ZEROTOUCH_SCOPE]',
      process.env.ZEROTOUCH_SCOPE,
    );
  return c;
}

/** Base path of the tenant named by --scope. */
export const t = (o: Opts) => `/v1/tenants/${seg(o.scope)}`;
