import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { scratchDir } from '../../testing/pki.ts';
import { startTestServer } from '../../testing/server.ts';
import { backoffMs } from './outbox.ts';

/** A webhook receiver that answers `status()` and keeps what it got. */
async function receiver(status: () => number, port = 0) {
  const got: Array<{ headers: Record<string, unknown>; body: string }> = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      got.push({ headers: req.headers, body });
      res.writeHead(status()).end();
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    got,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((r) => server.close(r)),
  };
}

describe('webhook outbox', () => {
  it('backs off from 2 s, doubling, to at most an hour', () => {
    assert.deepEqual(
      [1, 2, 3, 4].map((n) => backoffMs(n)),
      [2000, 4000, 8000, 16000],
    );
    assert.equal(backoffMs(30), 3_600_000);
    assert.equal(backoffMs(3, 5000), 5000, 'audit.webhook_max_retry_seconds caps it');
  });

  it('retries a failing receiver and loses nothing across a restart; deliveries are signed', async () => {
    const dataDir = scratchDir('zt-outbox-');
    let answer = 503;
    const hook = await receiver(() => answer);
    let server = await startTestServer({ dataDir });
    const t = await server.services.tenants.createTenant({ name: 'hooks', idScope: 'hookscope' });
    const url = `http://127.0.0.1:${hook.port}/events`;
    const secret = 'a-webhook-secret-of-some-length';
    await server.services.outbox.enqueue(t.id, '$aws/events/test', { hello: 'world' }, [{ url, secret }]);
    for (let i = 0; i < 50 && hook.got.length === 0; i++) await sleep(100);
    assert.equal(hook.got.length, 1, 'first attempt made');
    let [m] = await server.services.outbox.list(t.id);
    assert.equal(m!.deliveredAt, undefined);
    assert.equal(m!.lastError, 'HTTP 503');
    // The server stops before the retry; the receiver recovers; the next server delivers.
    await server.dispose();
    answer = 204;
    server = await startTestServer({ dataDir });
    for (let i = 0; i < 100 && hook.got.length < 2; i++) await sleep(100);
    [m] = await server.services.outbox.list(t.id);
    assert.ok(m!.deliveredAt, JSON.stringify(m));
    assert.equal(m!.attempts, 2);
    const last = hook.got.at(-1)!;
    assert.equal(last.body, JSON.stringify({ hello: 'world' }));
    assert.equal(last.headers['x-zerotouch-event'], '$aws/events/test');
    assert.equal(
      last.headers['x-zerotouch-signature'],
      `sha256=${createHmac('sha256', secret).update(last.body).digest('hex')}`,
    );
    await server.dispose();
    await hook.close();
  });
});
