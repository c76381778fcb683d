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
