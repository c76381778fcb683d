import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { connect, type TLSSocket } from 'node:tls';
import { exportPrivateKeyPem } from './pki/keys.ts';
import { certificatePem } from './pki/certificate.ts';
import { makeLeaf, makeRoot, scratchDir } from './testing/pki.ts';
import { spawnServer } from './testing/server-process.ts';
import { startTestServer, type TestServer } from './testing/server.ts';

function tlsConnect(
  port: number,
  opts: {
    ca: string;
    cert?: string;
    key?: string;
    maxVersion?: 'TLSv1.2' | 'TLSv1.3' | 'TLSv1.1';
    minVersion?: 'TLSv1.1';
  },
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ...opts }, () => resolve(s));
    s.on('error', reject);
  });
}

describe('server', () => {
  let server: TestServer;
  const auth = () => ({ authorization: `Bearer ${server.adminToken}` });
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server?.dispose();
  });

  it('answers /healthz and /readyz on both listeners', async () => {
    for (const path of ['/healthz', '/readyz']) {
      const r = await fetch(server.adminUrl + path);
      assert.equal(r.status, 200);
    }
    // curl checks the server certificate against the development root by the name "localhost".
    const { stdout } = await promisify(execFile)('curl', [
      '-sS',
      '-m',
      '20',
      '--cacert',
      server.devPki.root.cert,
      `https://localhost:${server.devicePort}/healthz`,
    ]);
    assert.deepEqual(JSON.parse(stdout), { status: 'ok' });
  });

  it('creates the first admin token once, in a 0600 file', () => {
    assert.match(server.adminToken ?? '', /^zt_/);
    assert.equal(statSync(server.adminTokenFile).mode & 0o777, 0o600);
    assert.equal(statSync(server.devPki.root.key).mode & 0o777, 0o600);
  });

  it('refuses the admin API without a valid bearer token, with a challenge and a hint', async () => {
    const r = await fetch(server.adminUrl + '/v1/tenants');
    assert.equal(r.status, 401);
    assert.match(r.headers.get('www-authenticate') ?? '', /Bearer/);
    const body = (await r.json()) as { code: string; message: string };
    assert.equal(body.code, 'UNAUTHENTICATED');
    assert.match(body.message, /admin-token/);
    const bad = await fetch(server.adminUrl + '/v1/tenants', {
      headers: { authorization: 'Bearer zt_aaaaaaaaaaaa_' + 'x'.repeat(43) },
    });
    assert.equal(bad.status, 401);
  });

  it('manages tenants and tokens over /v1, described in the OpenAPI document', async () => {
    const created = await fetch(server.adminUrl + '/v1/tenants', {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'plant 1' }),
    });
    assert.equal(created.status, 201);
    const tenant = (await created.json()) as { idScope: string };
    assert.match(tenant.idScope, /^0ne/);
    const got = await fetch(`${server.adminUrl}/v1/tenants/${tenant.idScope}`, { headers: auth() });
    assert.equal(((await got.json()) as { name: string }).name, 'plant 1');
    const tok = await fetch(server.adminUrl + '/v1/tokens', {
      method: 'POST',
      headers: { ...auth(), 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'reader', scopes: ['read'] }),
    });
    const { secret } = (await tok.json()) as { secret: string };
    const denied = await fetch(server.adminUrl + '/v1/tenants', {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: '{"name":"x"}',
    });
    assert.equal(denied.status, 403);
    const list = await fetch(server.adminUrl + '/v1/tenants', {
      headers: { authorization: `Bearer ${secret}` },
    });
    assert.equal(list.status, 200);
    const spec = (await (await fetch(server.adminUrl + '/v1/openapi.json')).json()) as {
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
    };
    assert.equal(spec.openapi, '3.1.0');
    assert.ok(spec.paths['/v1/tenants'].post);
    assert.ok(spec.paths['/v1/tokens'].post);
  });

  it('answers bad input with clear 4xx errors, never a 500', async () => {
    const err = async (r: Response) => (await r.json()) as { code: string; message: string };
    const post = (body: string, type = 'application/json') =>
      fetch(server.adminUrl + '/v1/tenants', {
        method: 'POST',
        headers: { ...auth(), 'content-type': type },
        body,
      });
    const malformed = await post('{"name":');
    assert.equal(malformed.status, 400);
    assert.equal((await err(malformed)).code, 'BAD_REQUEST');
    const missing = await post('{}');
    assert.equal(missing.status, 400);
    assert.match((await err(missing)).message, /name/);
    const huge = await post(JSON.stringify({ name: 'x'.repeat(2_000_000) }));
    assert.equal(huge.status, 413);
    assert.equal((await err(huge)).code, 'BODY_TOO_LARGE');
    const wrongType = await post('name=x', 'application/x-www-form-urlencoded');
    assert.equal(wrongType.status, 415);
    const dup = await post(JSON.stringify({ name: 'a', idScope: '0neDUP00001' }));
    assert.equal(dup.status, 201);
    const dup2 = await post(JSON.stringify({ name: 'b', idScope: '0neDUP00001' }));
    assert.equal(dup2.status, 409);
    const nf = await fetch(server.adminUrl + '/v1/nothing', { headers: auth() });
    assert.equal(nf.status, 404);
    assert.equal((await err(nf)).code, 'NOT_FOUND');
  });

  it('speaks TLS 1.2 and 1.3 with a client certificate on the device listener, and refuses TLS 1.1', async () => {
    const ca = makeRoot('Some Device CA');
    const dev = makeLeaf(ca, 'dev-tls');
    const base = {
      ca: certificatePem(server.devPki.root.certificate),
      cert: certificatePem(dev.cert),
      key: exportPrivateKeyPem(dev.key),
    };
    for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
      const s = await tlsConnect(server.devicePort, { ...base, maxVersion: v });
      assert.equal(s.getProtocol(), v);
      assert.ok(s.authorized, String(s.authorizationError));
      s.destroy();
    }
    await assert.rejects(
      tlsConnect(server.devicePort, { ...base, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1' }),
    );
  });

  it('never writes the admin token or authorization headers into the logs', () => {
    const all = server.logs.join('');
    assert.ok(all.length > 0);
    assert.ok(!all.includes(server.adminToken ?? 'none'));
  });
});

describe('server restarts', () => {
  it('reuses the development CA and the admin token on a second start', async () => {
    const dataDir = scratchDir('zt-restart-');
    const first = await startTestServer({ dataDir });
    const rootSha = first.devPki.root.certificate.sha256;
    assert.ok(first.devPki.root.created);
    await first.close();
    const second = await startTestServer({ dataDir });
    try {
      assert.equal(second.devPki.root.certificate.sha256, rootSha);
      assert.equal(second.devPki.root.created, false);
      assert.equal(second.devPki.server.created, false);
      assert.equal(second.adminToken, undefined);
    } finally {
      await second.dispose();
    }
  });

  it('starts from the bin shim, prints where things are, and stops cleanly on SIGTERM', async () => {
    const dataDir = scratchDir('zt-bin-');
    const bin = join(import.meta.dirname, '..', 'bin', 'zerotouch');
    const { child, adminUrl, output, stdout, stderr } = await spawnServer([bin, 'server'], dataDir);
    // The banner is for people, on stderr; it names the token's file and never the token.
    assert.match(stderr(), /development CA:\s+\S+dev-root\.cert\.pem/);
    assert.match(stderr(), /admin token:\s+in \S+admin-token\s+\(created now, mode 0600\)/);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    assert.ok(!output().includes(token), 'the admin token is printed nowhere');
    assert.equal((await fetch(adminUrl + '/healthz')).status, 200);
    // stdout is the log stream: one JSON object per line, each with one msg.
    const lines = stdout().trim().split('\n');
    assert.ok(lines.length > 0);
    for (const line of lines) {
      const entry = JSON.parse(line);
      assert.equal(typeof entry.msg, 'string');
      assert.equal(line.split('"msg":').length, 2, `one msg per line: ${line}`);
    }
    const code = await new Promise<number | null>((resolve) => {
      child.on('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    assert.equal(code, 0);
    assert.match(output(), /stopped/);
  });
});
