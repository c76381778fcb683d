// A DPS operation whose server is killed mid-assignment: another server on the same store answers
// its polls "assigning" while the dead server's device lease lasts, then "not found" (register
// again) instead of "assigning" for minutes, and the device's next registration is not held up.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { deviceRequest, registerAndWait } from '../../testing/dps-client.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { scratchDir } from '../../testing/pki.ts';
import { type ServerProcess, spawnServer } from '../../testing/server-process.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const bin = join(import.meta.dirname, '..', '..', '..', 'bin', 'zerotouch');

describe('a DPS operation on a server killed mid-assignment', () => {
  let doomed: ServerProcess;
  let survivor: TestServer;
  let fx: DpsFixture;
  let admin: { adminUrl: string; adminToken: string };
  let hook: Server;
  const held: ServerResponse[] = [];

  before(async () => {
    const dataDir = scratchDir('zt-killed-');
    // Two servers on one SQLite file: one in its own process (to be killed), one in this process.
    doomed = await spawnServer([bin, 'server', '--dps-retry-after-seconds', '1'], dataDir);
    survivor = await startTestServer({ dataDir, flags: { 'dps.retry_after_seconds': 1 } });
    // The first server made the admin token; the second reads the same store.
    admin = {
      adminUrl: survivor.adminUrl,
      adminToken: readFileSync(join(dataDir, 'admin-token'), 'utf8').trim(),
    };
    fx = await dpsFixture(admin, 'killed');
    // A custom-allocation webhook that never answers its first call: that assignment is still
    // running when its server dies. Later calls get the first hub.
    hook = createServer((req: IncomingMessage, res: ServerResponse) => {
      req.resume().on('end', () => {
        if (held.length === 0) held.push(res);
        else
          res
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ iotHubHostName: fx.hubs[0] }));
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    const group = await adminClient(admin)('POST', `/v1/tenants/${fx.idScope}/enrollment-groups`, {
      enrollmentGroupId: 'fleet',
      attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
      allocationPolicy: 'custom',
      customAllocationDefinition: {
        webhookUrl: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/allocate`,
        apiVersion: '2019-03-31',
      },
    });
    assert.equal(group.status, 201, JSON.stringify(group.body));
  });
  after(async () => {
    doomed?.child.kill('SIGKILL');
    for (const r of held) r.destroy();
    hook?.close();
    await survivor?.dispose();
  });

  it('is "assigning" on the other server until the lease expires, then "not found"; the device registers again at once', async () => {
    const device = makeDevice(fx.intermediate, 'killed-dev-1', [fx.root]);
    const ca = certificatePem(survivor.devPki.root.certificate);
    const call = (port: number, method: string, path: string, body?: unknown) =>
      deviceRequest(
        port,
        ca,
        device,
        method,
        `/${fx.idScope}/registrations/${device.registrationId}${path}?api-version=2021-06-01`,
        body === undefined ? undefined : JSON.stringify(body),
        new Agent({ keepAlive: false }),
      );
    const put = await call(doomed.devicePort, 'PUT', '/register', { registrationId: device.registrationId });
    assert.equal(put.status, 202, put.text);
    for (let i = 0; i < 100 && held.length === 0; i++) await sleep(50);
    assert.equal(held.length, 1, 'the assignment reached the webhook');
    doomed.child.kill('SIGKILL');
    await new Promise((r) => doomed.child.once('exit', r));
    const killedAt = performance.now();

    const answers: string[] = [];
    let seconds = NaN;
    while (performance.now() - killedAt < 60_000) {
      const r = await call(survivor.devicePort, 'GET', `/operations/${put.json.operationId}`);
      if (r.status !== 429) answers.push(r.status === 202 ? r.json.status : String(r.status));
      if (r.status === 404) {
        seconds = (performance.now() - killedAt) / 1000;
        assert.match(r.json.message, /no longer running.*register again/);
        break;
      }
      assert.ok(r.status === 202 || r.status === 429, `${r.status} ${r.text}`);
      await sleep(1000);
    }
    assert.equal(answers[0], 'assigning', answers.join(' '));
    assert.equal(answers.at(-1), '404', `still ${answers.at(-1)} a minute after the kill`);
    // The lease lasts 15 s past its last renewal, and the first 10 s of an operation are
    // "assigning" whatever the lease: well before the old two minutes.
    assert.ok(seconds < 30, `"not found" came ${seconds} s after the kill`);
    process.stdout.write(`# "not found" ${seconds.toFixed(1)} s after the kill (${answers.length} polls)\n`);

    // The device registers again on the surviving server, with nothing left holding it up.
    const again = await registerAndWait(survivor.devicePort, ca, fx.idScope, device);
    assert.equal(again.status, 'assigned', JSON.stringify(again));
    assert.equal(again.registrationState.assignedHub, fx.hubs[0]);
  });
});
