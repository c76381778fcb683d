/**
 * The web console on the admin listener: ES modules served as they are (no build step), the UI
 * library from node_modules, every file held compressed in memory, a strict Content-Security-Policy.
 * The console speaks only the public admin API, with the token the operator signs in with.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply } from 'fastify';

const SOURCE = join(import.meta.dirname, 'console');

/** The pinned UI library files the console imports, by the name its import map gives them. */
const VENDOR: Record<string, [pkg: string, file: string]> = {
  'preact.js': ['preact', 'dist/preact.mjs'],
  'hooks.js': ['preact', 'hooks/dist/hooks.mjs'],
  'htm.js': ['htm', 'dist/htm.module.js'],
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  type: string;
  raw: Buffer;
  gzip: Buffer;
  etag: string;
}

function asset(path: string, raw: Buffer): Asset {
  return {
    type: TYPES[extname(path)] ?? 'application/octet-stream',
    raw,
    gzip: gzipSync(raw, { level: 9 }),
    etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`,
  };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith('.test.ts') ? [] : [join(dir, e.name)],
  );
}

/** The directory of package `name`, found above a file it resolves to (not every package exports package.json). */
function packageRoot(file: string, name: string): string {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir))
    if (existsSync(join(dir, 'package.json')) && dir.endsWith(`node_modules/${name}`)) return dir;
  throw new Error(`the console's UI library ${name} is not installed: run npm ci`);
}

/** The console's files by URL path, and the CSP that admits its one inline script (the import map). */
export function consoleAssets(): { assets: Map<string, Asset>; csp: string } {
  const assets = new Map<string, Asset>();
  const require = createRequire(import.meta.url);
  for (const [name, [pkg, file]] of Object.entries(VENDOR)) {
    const root = packageRoot(require.resolve(pkg), pkg);
    assets.set(`/console/vendor/${name}`, asset(name, readFileSync(join(root, file))));
  }
  for (const file of walk(SOURCE)) {
    const url = `/console/${relative(SOURCE, file).split('\\').join('/')}`;
    assets.set(url, asset(file, readFileSync(file)));
  }
  const index = readFileSync(join(SOURCE, 'index.html'), 'utf8');
  const importMap = /<script type="importmap">([\s\S]*?)<\/script>/.exec(index)?.[1] ?? '';
  const hash = createHash('sha256').update(importMap).digest('base64');
  const csp = [
    "default-src 'none'",
    `script-src 'self' 'sha256-${hash}'`,
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "font-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
  assets.set('/', assets.get('/console/index.html')!);
  return { assets, csp };
}

/** Paths the console serves without a token (it asks for one in the browser). */
export function isConsolePath(path: string): boolean {
  return path === '/' || path.startsWith('/console/');
}

/** Serves the console at / and /console/*. */
export function installConsole(app: FastifyInstance): void {
  const { assets, csp } = consoleAssets();
  app.get('/', { schema: { hide: true } }, async (req, reply) => send(req.headers, reply, assets.get('/')!));
  app.get('/console/*', { schema: { hide: true } }, async (req, reply) => {
    const a = assets.get(req.url.split('?')[0]!);
    if (!a) return reply.code(404).type('text/plain').send('not a file of the console');
    return send(req.headers, reply, a);
  });

  function send(headers: Record<string, string | string[] | undefined>, reply: FastifyReply, a: Asset) {
    reply
      .header('content-security-policy', csp)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-cache')
      .header('etag', a.etag)
      .header('vary', 'accept-encoding')
      .type(a.type);
    if (headers['if-none-match'] === a.etag) return reply.code(304).send();
    if (/\bgzip\b/.test(String(headers['accept-encoding'] ?? '')))
      return reply.header('content-encoding', 'gzip').send(a.gzip);
    return reply.send(a.raw);
  }
}
