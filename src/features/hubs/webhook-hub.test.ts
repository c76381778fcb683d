import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { registerAndWait } from '../../testing/dps-client.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const HUB = 'fleet-manager.plant.example';
const SECRET = 'a-webhook-hub-secret-of-32-chars';

interface Delivery {
  event: string;
  signature: string;
  raw: string;
  body: {
    present: boolean;
    deviceId: string;
    reason?: string;
    device?: { certificate: { sha256Thumbprint: string } };
  };
}

describe('a webhook hub: another system is told of each device change, signed', () => {
  let server: TestServer;
  let receiver: Server;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  let ca: string;
  const got: Delivery[] = [];

  async function next(n: number): Promise<Delivery[]> {
    for (let i = 0; i < 100 && got.length < n; i++) await sleep(50);
    assert.ok(got.length >= n, `expected ${n} deliveries, got ${got.length}`);
    return got.slice(0, n);
  }

  before(async () => {
    receiver = createServer((req, res) => {
      let raw = '';
      req.setEncoding('utf8').on('data', (d: string) => (raw += d));
      req.on('end', () => {
        got.push({
          event: String(req.headers['x-zerotouch-event']),
          signature: String(req.headers['x-zerotouch-signature']),
          raw,
          body: JSON.parse(raw),
        });
        res.end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
    api = adminClient(server);
    fx = await dpsFixture(server, 'whplant');
    ca = certificatePem(server.devPki.root.certificate);
    const hub = await api('PUT', `/v1/tenants/${fx.idScope}/hubs/${HUB}`, {
      kind: 'webhook',
      webhook: {
        url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/devices`,
        secret: SECRET,
      },
    });
    assert.equal(hub.status, 200, JSON.stringify(hub.body));
    assert.equal(hub.body.webhook.secret, '********');
    const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/wh-line`, {
      attestation: {
        type: 'x509',
        x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
      },
      iotHubs: [HUB],
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
  });
  after(async () => {
    await server?.dispose();
    receiver?.close();
  });

  it('posts the device on assignment and its removal when the enrollment is disabled', async () => {
    const dev = makeDevice(fx.intermediate, 'wh-dev-1');
    assert.equal((await registerAndWait(server.devicePort, ca, fx.idScope, dev)).status, 'assigned');
    const [assigned] = await next(1);
    assert.equal(assigned!.event, 'hub.device.present');
    assert.equal(assigned!.body.deviceId, 'wh-dev-1');
    assert.equal(assigned!.body.device?.certificate.sha256Thumbprint, dev.sha256);
    const expected = `sha256=${createHmac('sha256', SECRET).update(assigned!.raw).digest('hex')}`;
    assert.equal(assigned!.signature, expected);

    const cur = await api('GET', `/v1/tenants/${fx.idScope}/enrollment-groups/wh-line`);
    const off = await api(
      'PUT',
      `/v1/tenants/${fx.idScope}/enrollment-groups/wh-line`,
      { ...cur.body, provisioningStatus: 'disabled' },
      { 'if-match': cur.body.etag },
    );
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const [, removed] = await next(2);
    assert.equal(removed!.event, 'hub.device.absent');
    assert.equal(removed!.body.present, false);
    assert.match(removed!.body.reason ?? '', /enrollment is disabled/);
  });
});
