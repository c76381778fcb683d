import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { adminClient } from '../../testing/admin.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';
import { buildAdminApp } from './app.ts';

type Operation = {
  requestBody?: { content?: Record<string, { schema?: object }> };
  responses?: Record<string, { content?: Record<string, { schema?: object }> }>;
};
type OpenApi = {
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, object> };
};

/** Every "METHOD /path" fastify routes, read from its route tree (HEAD is implied by GET). */
function routesOf(tree: string): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of tree.split('\n')) {
    const m = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)/.exec(line) ?? /^([│ ]*)[├└]── (\S+)$/.exec(line);
    if (!m) continue;
    const depth = m[1].length / 4;
    stack.length = depth;
    stack.push(m[2]);
    for (const method of (m[3] ?? '').split(', ').filter((x) => x && x !== 'HEAD')) {
      out.push(`${method} ${stack.join('')}`);
    }
  }
  return out;
}

// Not API: health probes, the document itself, and the web console's static files (/ and /console/*, which the route tree shows as /*).
const HIDDEN = ['GET /healthz', 'GET /readyz', 'GET /v1/openapi.json', 'GET /', 'GET /*'];

describe('the admin API schemas', () => {
  let server: TestServer;
  let doc: OpenApi;
  let routes: string[];
  before(async () => {
    server = await startTestServer();
    const app = await buildAdminApp({
      logger: pino({ level: 'silent' }),
      services: server.services,
      serviceHost: 'localhost',
      ready: async () => true,
      bodyLimit: 1_000_000,
      version: 'test',
    });
    await app.ready();
    routes = routesOf(app.printRoutes({ commonPrefix: false }));
    doc = app.swagger() as unknown as OpenApi;
    await app.close();
  });
  after(() => server?.dispose());

  it('documents every route, each with its request body and its answers', () => {
    assert.ok(routes.length >= 50, `read ${routes.length} routes from the route tree`);
    const documented = new Set(
      Object.entries(doc.paths).flatMap(([path, ops]) =>
        Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
      ),
    );
    const problems: string[] = [];
    for (const r of routes) {
      if (HIDDEN.includes(r)) continue;
      if (!documented.has(r)) problems.push(`${r}: not in /v1/openapi.json`);
    }
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`;
        if (['post', 'put', 'patch'].includes(method)) {
          const body = op.requestBody?.content?.['application/json']?.schema;
          if (!body) problems.push(`${name}: no request body schema`);
        }
        const ok = Object.entries(op.responses ?? {}).filter(([status]) => /^2/.test(status));
        if (ok.length === 0) problems.push(`${name}: no success answer`);
        for (const [status, answer] of ok) {
          if (status === '204') continue;
          const schemas = Object.values(answer.content ?? {}).filter((c) => c.schema);
          if (schemas.length === 0) problems.push(`${name}: answer ${status} has no schema`);
        }
        for (const status of ['400', '401', '404']) {
          if (!op.responses?.[status] && !path.startsWith('/crl/'))
            problems.push(`${name}: no ${status} answer`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('names only components it has', () => {
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/([^"]+)"/g)].map(
      (m) => m[1],
    );
    assert.ok(refs.length > 50);
    for (const r of new Set(refs)) assert.ok(doc.components.schemas[r], `component ${r}`);
  });

  it('answers a request its schema refuses with BAD_REQUEST, the part and the JSON path that failed', async () => {
    const api = adminClient(server);
    const cases: Array<[string, string, unknown, RegExp, { in: string; path: string }]> = [
      [
        'POST',
        '/v1/tenants',
        { name: 5 },
        /the body field name must be of type string/,
        { in: 'body', path: '/name' },
      ],
      ['POST', '/v1/tenants', {}, /the body field name is required/, { in: 'body', path: '/name' }],
      [
        'POST',
        '/v1/tenants',
        { name: 'x', idscope: 'typo' },
        /unknown property "idscope"; known properties: name, idScope/,
        { in: 'body', path: '/idscope' },
      ],
      [
        'POST',
        '/v1/tenants',
        { name: 'x', idScope: 'no spaces' },
        /idScope must match/,
        { in: 'body', path: '/idScope' },
      ],
      [
        'POST',
        '/v1/tokens',
        { name: 't', scopes: ['root'] },
        /scopes\[0\] must be one of "admin", "read", "write"/,
        { in: 'body', path: '/scopes/0' },
      ],
      [
        'POST',
        '/v1/tokens',
        { name: 't', expiresAt: 'tomorrow' },
        /expiresAt must be a date-time \(ISO 8601/,
        { in: 'body', path: '/expiresAt' },
      ],
      [
        'GET',
        '/v1/tenants/0neXYZ/enrollments?max=lots',
        undefined,
        /query parameter max must be of type integer/,
        { in: 'querystring', path: '/max' },
      ],
      [
        'PUT',
        '/v1/tenants/0neXYZ/hubs/not_a_host',
        {},
        /path parameter hostName must match/,
        { in: 'params', path: '/hostName' },
      ],
    ];
    for (const [method, path, body, message, detail] of cases) {
      const r = await api(method, path, body);
      assert.equal(r.status, 400, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 'BAD_REQUEST');
      assert.match(r.body.message, message);
      assert.deepEqual(r.body.detail, detail);
    }
  });

  it('checks enrollments against the Azure shape before the service sees them', async () => {
    const api = adminClient(server);
    const t = (await api('POST', '/v1/tenants', { name: 'schemas' })).body;
    const base = `/v1/tenants/${t.idScope}/enrollment-groups/g1`;
    let r = await api('PUT', base, { attestation: { type: 'tpm', tpm: {} } });
    assert.equal(r.status, 400);
    assert.match(r.body.message, /the body field attestation.x509 is required/);
    r = await api('PUT', base, { attestation: { type: 'symmetricKey', x509: {} } });
    assert.match(r.body.message, /the body field attestation.type must be one of "x509"/);
    r = await api('PUT', base, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'x' } } },
      allocationPolicy: 'random',
    });
    assert.match(
      r.body.message,
      /allocationPolicy must be one of "hashed", "geoLatency", "static", "custom" or null/,
    );
    r = await api('PUT', base, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'x' } } },
      customAllocationDefinition: { webhookUrl: 'ftp://example.com/hook' },
    });
    assert.match(r.body.message, /customAllocationDefinition.webhookUrl must match/);
    // Fields of the Azure shape that zerotouch has no use for are accepted and dropped.
    r = await api('PUT', `/v1/tenants/${t.idScope}/enrollments/dev-1`, {
      attestation: {
        type: 'x509',
        x509: { clientCertificates: { primary: { certificate: 'not a certificate' } } },
      },
      deviceInformation: { any: 'thing' },
    });
    assert.equal(r.body.code, 'PEM_MALFORMED', JSON.stringify(r.body));
  });
});
