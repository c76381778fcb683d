/**
 * TOML for configuration files (the server's and the agent's aziot-style config.toml): size and
 * key-depth bounded before smol-toml reads them, since its time grows faster than linearly with
 * deeply dotted keys; errors are CONFIG_INVALID with the file, line and column.
 */
import { parse } from 'smol-toml';
import { ZtError } from '../errors.ts';

/** Largest configuration file read (the commented aziot template is about 25 KiB). */
export const MAX_TOML_BYTES = 64 * 1024;
/** Most dotted parts in one key or table header; real files use a handful. */
export const MAX_TOML_KEY_DEPTH = 32;

/** Parses TOML text from `source` (a file name for messages) into a table. */
export function parseTomlText(text: string, source: string): Record<string, unknown> {
  if (text.length > MAX_TOML_BYTES) {
    throw new ZtError(
      'CONFIG_INVALID',
      `${source}: ${text.length} bytes is larger than the ${MAX_TOML_BYTES}-byte limit for a configuration file`,
    );
  }
  checkKeyDepth(text, source);
  try {
    return parse(text) as Record<string, unknown>;
  } catch (e) {
    const err = e as { line?: number; column?: number; message?: string };
    const where = err.line ? `:${err.line}:${err.column}` : '';
    throw new ZtError(
      'CONFIG_INVALID',
      `${source}${where}: not valid TOML: ${String(err.message ?? e).split('\n')[0]}`,
    );
  }
}

/** Refuses a line whose key (before "=") or table header has more dotted parts than allowed. */
function checkKeyDepth(text: string, source: string): void {
  let line = 1;
  let dots = 0;
  let inKey = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      dots = 0;
      inKey = true;
    } else if (!inKey) continue;
    else if (c === 61 /* = */ || c === 35 /* # */ || c === 34 /* " */ || c === 39 /* ' */) inKey = false;
    else if (c === 46 /* . */ && ++dots >= MAX_TOML_KEY_DEPTH) {
      throw new ZtError(
        'CONFIG_INVALID',
        `${source}:${line}: a key with more than ${MAX_TOML_KEY_DEPTH} dotted parts is not a configuration key`,
      );
    }
  }
}
