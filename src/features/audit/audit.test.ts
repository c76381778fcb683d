import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { cliRunner } from '../../testing/cli.ts';
import { registerAndWait } from '../../testing/dps-client.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { freePort } from '../../testing/proxy.ts';
import { makeRoot, scratchDir } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const SECRET = 'event-webhook-secret-0123456789';

describe('the audit trail, events on webhooks and as a stream', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  let ca: string;
  const dataDir = scratchDir('zt-audit-');
  const dir = scratchDir('zt-audit-cli-');
  const { ok } = cliRunner(() => server, dir);
  let opsToken = '';
  const adminToken = () => readFileSync(server.adminTokenFile, 'utf8').trim();

  /** An admin call made with the "ops-bot" token. */
  const asOps = (method: string, path: string, body?: unknown) =>
    fetch(`${server.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${opsToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, body: await r.json().catch(() => undefined) }));

  before(async () => {
    server = await startTestServer({
      dataDir,
      flags: { 'dps.retry_after_seconds': 1, 'audit.webhook_max_retry_seconds': 2 },
    });
    api = adminClient(server);
    fx = await dpsFixture(server, 'audited');
    ca = certificatePem(server.devPki.root.certificate);
    const t = await api('POST', '/v1/tokens', { name: 'ops-bot', scopes: ['write'], tenant: fx.idScope });
    opsToken = t.body.secret;
  });
  after(async () => {
    await server?.dispose();
  });

  it('names the token behind each admin change, with the enrollment before and after', async () => {
    const path = `/v1/tenants/${fx.idScope}/enrollment-groups/audited-line`;
    const created = await asOps('PUT', path, {
      attestation: {
        type: 'x509',
        x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
      },
      initialTwin: { tags: { line: 1 } },
    });
    assert.equal(created.status, 200, JSON.stringify(created.body));
    assert.equal((await asOps('PATCH', path, { initialTwin: { tags: { line: 2 } } })).status, 200);
    const rows = (await api('GET', `/v1/tenants/${fx.idScope}/audit?target=enrollment-group/audited-line`))
      .body;
    const changes = rows.filter((r: { action: string }) => r.action === 'enrollment.changed');
    assert.equal(changes.length, 2);
    assert.equal(changes[1].actor.name, 'ops-bot', 'the service-level record knows the caller');
    assert.deepEqual(changes[1].detail.before.initialTwin.tags, { line: 1 });
    assert.deepEqual(changes[1].detail.after.initialTwin.tags, { line: 2 });
    const calls = (await api('GET', `/v1/tenants/${fx.idScope}/audit?action=PATCH*`)).body;
    assert.equal(calls[0].action, 'PATCH /v1/tenants/:idScope/enrollment-groups/:id');
    assert.equal(calls[0].actor.kind, 'token');
    assert.equal(calls[0].actor.name, 'ops-bot');
    // Credentials in a request body are never kept.
    await asOps('PUT', `/v1/tenants/${fx.idScope}/est-labels/audited`, {});
    await asOps('PUT', `/v1/tenants/${fx.idScope}/hubs/hook.audited.example`, {
      kind: 'webhook',
      webhook: { url: 'http://127.0.0.1:9/x', secret: 'a-secret-that-must-not-leak' },
    });
    const all = JSON.stringify((await api('GET', `/v1/tenants/${fx.idScope}/audit?max=1000`)).body);
    assert.doesNotMatch(all, /a-secret-that-must-not-leak/);
  });

  it('keeps a history per device: refusals with their reason code, then the assignment', async () => {
    const stranger = makeDevice(makeRoot('Unknown Root'), 'audited-dev-1');
    const refused = await registerAndWait(server.devicePort, ca, fx.idScope, stranger).catch((e: Error) => e);
    assert.ok(refused instanceof Error);
    const dev = makeDevice(fx.intermediate, 'audited-dev-1');
    assert.equal((await registerAndWait(server.devicePort, ca, fx.idScope, dev)).status, 'assigned');
    let history = '';
    for (let i = 0; i < 50 && !/registration.assigned/.test(history); i++) {
      await sleep(50);
      history = await ok('registration', 'history', 'audited-dev-1', '--scope', fx.idScope);
    }
    const lines = history.trim().split('\n');
    assert.match(lines[0]!, /device\.refused CHAIN_UNKNOWN_ISSUER: .*Unknown Root/);
    assert.match(lines[1]!, /registration\.assigned -> \S+ \(initialAssignment\)/);
    const refusals = JSON.parse(
      await ok('audit', 'list', '--outcome', 'refused', '--json', '--scope', fx.idScope),
    );
    assert.equal(refusals[0].actor.kind, 'device');
    assert.equal(refusals[0].code, 'CHAIN_UNKNOWN_ISSUER');
  });

  it('records EST requests refused for a wrong password, with the user and the reason', async () => {
    await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'audited-est' });
    await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/audited-est`, { issuingCa: 'audited-est' });
    await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/audited-est/users/estdev`, {
      password: 'right-password',
    });
    const { estRequest } = await import('../../testing/est-client.ts');
    const { createCsr } = await import('../../pki/csr.ts');
    const { generateKey } = await import('../../pki/keys.ts');
    const csr = createCsr(generateKey('p256'), { CN: 'est-audited' }).toString('base64');
    const r = await estRequest(
      { port: server.devicePort, ca, path: '/.well-known/est/audited-est' },
      'POST',
      'simpleenroll',
      { basic: { user: 'estdev', password: 'wrong-password' } },
      csr,
    );
    assert.equal(r.status, 401);
    let rows: Array<{ actor: { id: string }; code?: string; detail?: { face?: string } }> = [];
    for (let i = 0; i < 50 && rows.length === 0; i++) {
      rows = (await api('GET', `/v1/tenants/${fx.idScope}/audit?target=est-label/audited-est`)).body;
      if (!rows.length) await sleep(50);
    }
    assert.equal(rows[0]?.actor.id, 'estdev');
    assert.equal(rows[0]?.code, 'UNAUTHENTICATED');
    assert.equal(rows[0]?.detail?.face, 'est');
  });

  it('records who issued and who revoked a certificate, and exports the trail as CSV', async () => {
    assert.equal(
      (await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'audited-ca' })).status,
      201,
    );
    const key = await import('../../pki/keys.ts');
    const { createCsr } = await import('../../pki/csr.ts');
    const csr = createCsr(key.generateKey('p256'), { CN: 'audited-issue-1' }).toString('base64');
    const issued = await api('POST', `/v1/tenants/${fx.idScope}/certificates`, { csr, ca: 'audited-ca' });
    assert.equal(issued.status, 201, JSON.stringify(issued.body));
    const serial = issued.body.serialNumber;
    const revoked = await asOps('POST', `/v1/tenants/${fx.idScope}/certificates/${serial}/revoke`, {
      reason: 'keyCompromise',
    });
    assert.equal(revoked.status, 200, JSON.stringify(revoked.body));
    const rows = (await api('GET', `/v1/tenants/${fx.idScope}/audit?target=certificate/${serial}`)).body;
    const byAction = Object.fromEntries(rows.map((r: { action: string }) => [r.action, r]));
    assert.equal(byAction['certificate.issued'].detail.method, 'api');
    assert.equal(byAction['certificate.revoked'].actor.name, 'ops-bot', 'revoked by');
    const csv = await ok(
      'audit',
      'export',
      '--format',
      'csv',
      '--action',
      'certificate.*',
      '--scope',
      fx.idScope,
    );
    const [header, ...lines] = csv.trim().split('\n');
    assert.equal(header, 'seq,at,actor_kind,actor_id,actor_name,action,target,outcome,code,detail');
    assert.ok(lines.some((l) => l.includes('"certificate.revoked"') && l.includes('"ops-bot"')));
  });

  /** Reads a stream until `done(text)` or about `ms`; one read is pending at a time. */
  async function readUntil(
    reader: ReadableStreamDefaultReader<Uint8Array>,
    done: (t: string) => boolean,
    ms = 10_000,
  ) {
    let text = '';
    const end = Date.now() + ms;
    let pending = reader.read();
    while (!done(text) && Date.now() < end) {
      const r = await Promise.race([pending, sleep(200).then(() => undefined)]);
      if (!r) continue;
      if (r.value) text += Buffer.from(r.value).toString('utf8');
      if (r.done) break;
      pending = reader.read();
    }
    return text;
  }

  it('streams events as server-sent events, resuming after Last-Event-ID', async () => {
    const res = await fetch(`${server.adminUrl}/v1/tenants/${fx.idScope}/events`, {
      headers: { authorization: `Bearer ${adminToken()}` },
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
    const reader = res.body!.getReader();
    await ok(
      'enrollment',
      'update',
      'audited-line',
      '--group',
      '--desired',
      '{"v":1}',
      '--scope',
      fx.idScope,
    );
    const text = await readUntil(reader, (t) => t.includes('event: enrollment.changed'));
    await reader.cancel();
    const id = /id: (\d+)\nevent: enrollment\.changed\ndata: (.*)\n/.exec(text);
    assert.ok(id, text);
    assert.equal(JSON.parse(id[2]!).target, 'enrollment-group/audited-line');
    // Resuming before that id gives it again.
    const again = await fetch(`${server.adminUrl}/v1/tenants/${fx.idScope}/events`, {
      headers: { authorization: `Bearer ${adminToken()}`, 'last-event-id': String(Number(id[1]) - 1) },
    });
    const r2 = again.body!.getReader();
    const text2 = await readUntil(r2, (t) => t.includes(`id: ${id[1]}`));
    await r2.cancel();
    assert.match(text2, new RegExp(`id: ${id[1]}\\nevent: enrollment.changed`));
  });

  it(
    'delivers signed events to a webhook across a server restart and a receiver down for a minute',
    { timeout: 180_000 },
    async () => {
      const port = await freePort();
      const url = `http://127.0.0.1:${port}/events`;
      await api('PATCH', `/v1/tenants/${fx.idScope}/iot/settings`, {
        eventWebhooks: [{ url, secret: SECRET }],
      });
      // The receiver is down: the assignment's event waits in the outbox.
      const dev = makeDevice(fx.intermediate, 'audited-dev-2');
      assert.equal((await registerAndWait(server.devicePort, ca, fx.idScope, dev)).status, 'assigned');
      await sleep(1500);
      const pending = (await api('GET', `/v1/tenants/${fx.idScope}/iot/webhook-deliveries`)).body.find(
        (m: { kind: string }) => m.kind === 'registration.assigned',
      );
      assert.ok(pending && !pending.deliveredAt && pending.lastError, JSON.stringify(pending));
      // The server restarts on the same data while the receiver stays down.
      await server.close();
      server = await startTestServer({ dataDir, flags: { 'audit.webhook_max_retry_seconds': 2 } });
      api = adminClient(server);
      await sleep(60_000 - 1500);
      const got: Array<{ event: string; body: string; signature: string }> = [];
      const receiver: Server = createServer((req, res) => {
        let body = '';
        req.setEncoding('utf8').on('data', (d: string) => (body += d));
        req.on('end', () => {
          got.push({
            event: String(req.headers['x-zerotouch-event']),
            body,
            signature: String(req.headers['x-zerotouch-signature']),
          });
          res.end();
        });
      });
      await new Promise<void>((r) => receiver.listen(port, '127.0.0.1', r));
      try {
        for (let i = 0; i < 100 && !got.some((g) => g.event === 'registration.assigned'); i++)
          await sleep(100);
        const assigned = got.find((g) => g.event === 'registration.assigned');
        assert.ok(assigned, 'delivered once the receiver is back');
        assert.equal(
          assigned.signature,
          `sha256=${createHmac('sha256', SECRET).update(assigned.body).digest('hex')}`,
        );
        assert.equal(JSON.parse(assigned.body).target, 'registration/audited-dev-2');
      } finally {
        receiver.close();
      }
    },
  );
});
