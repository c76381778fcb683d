import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { deviceRequest, registerAndWait } from '../../testing/dps-client.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('DPS allocation, reprovisioning, throttling and etags', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  let ca: string;
  let hook: Server;
  let hookUrl: string;
  const hookCalls: any[] = [];
  let hookAnswer: (body: any) => { status: number; body: unknown } = () => ({ status: 500, body: {} });

  const group = async (id: string, doc: Record<string, unknown>) => {
    const r = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/${id}`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
      ...doc,
    });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return r.body;
  };
  const register = (name: string, body: Record<string, unknown> = {}, headers?: Record<string, string>) =>
    registerAndWait(server.devicePort, ca, fx.idScope, makeDevice(fx.intermediate, name), body, { headers });

  before(async () => {
    server = await startTestServer({ logLevel: 'warn' });
    api = adminClient(server);
    fx = await dpsFixture(server, 'alloc');
    ca = certificatePem(server.devPki.root.certificate);
    hook = createServer((req, res) => {
      let text = '';
      req.on('data', (d) => (text += d));
      req.on('end', () => {
        const body = JSON.parse(text);
        hookCalls.push(body);
        const a = hookAnswer(body);
        res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/allocate`;
  });
  after(async () => {
    hook?.close();
    await server?.dispose();
  });

  it('passes the device payload to the custom webhook and applies its hub, initial twin and payload', async () => {
    await group('custom', {
      allocationPolicy: 'custom',
      customAllocationDefinition: { webhookUrl: hookUrl, apiVersion: '2019-03-31' },
      initialTwin: { tags: { from: 'enrollment' } },
    });
    hookAnswer = (b) => ({
      status: 200,
      body: {
        iotHubHostName: fx.hubs[1],
        initialTwin: { tags: { from: 'webhook', model: b.deviceRuntimeContext.payload.model } },
        payload: { answer: 42 },
      },
    });
    // the custom enrollment group matches every device under the root, so use one group at a time
    const op = await register('custom-dev-1', { payload: { model: 'x100' } });
    assert.equal(op.status, 'assigned', JSON.stringify(op));
    assert.equal(op.registrationState.assignedHub, fx.hubs[1]);
    assert.deepEqual(op.registrationState.payload, { answer: 42 });
    const call = hookCalls.at(-1);
    assert.equal(call.deviceRuntimeContext.registrationId, 'custom-dev-1');
    assert.deepEqual(call.deviceRuntimeContext.payload, { model: 'x100' });
    assert.equal(call.enrollmentGroup.enrollmentGroupId, 'custom');
    assert.deepEqual(call.linkedHubs.sort(), [...fx.hubs].sort());
    assert.match(call.deviceRuntimeContext.x509.certificateInfo.subjectName, /custom-dev-1/);
    const dev = await api('GET', `/v1/tenants/${fx.idScope}/devices/${fx.hubs[1]}/custom-dev-1`);
    assert.deepEqual(dev.body.twin.tags, { from: 'webhook', model: 'x100' });
  });

  it('fails registrations with DPS error codes when the webhook fails', async () => {
    const cases: Array<[string, () => { status: number; body: unknown }, number, RegExp]> = [
      [
        'hook-400',
        () => ({ status: 400, body: {} }),
        400207,
        /Custom allocation failed with status code: 400/,
      ],
      [
        'hook-401',
        () => ({ status: 401, body: {} }),
        400209,
        /Custom allocation failed with status code: 401/,
      ],
      [
        'hook-unlinked',
        () => ({ status: 200, body: { iotHubHostName: 'elsewhere.example' } }),
        400206,
        /chose a hub that is not linked to this ID scope/,
      ],
    ];
    for (const [name, answer, code, message] of cases) {
      hookAnswer = answer;
      const op = await register(name);
      assert.equal(op.status, 'failed', name);
      assert.equal(op.registrationState.errorCode, code, name);
      assert.match(op.registrationState.errorMessage, message);
    }
    await group('custom', {
      allocationPolicy: 'custom',
      customAllocationDefinition: { webhookUrl: 'http://127.0.0.1:1/down', apiVersion: '2019-03-31' },
    });
    const op = await register('hook-down');
    assert.equal(op.registrationState.errorCode, 400208);
    assert.match(op.registrationState.errorMessage, /could not be reached/);
    assert.equal(op.registrationState.errorDetail, undefined, 'the device is not told where the webhook is');
    assert.doesNotMatch(op.registrationState.errorMessage, /127\.0\.0\.1/);
    const rec = await api('GET', `/v1/tenants/${fx.idScope}/registrations/hook-down`);
    assert.equal(rec.body.status, 'failed');
    assert.equal(rec.body.errorCode, 400208);
    assert.match(rec.body.errorDetail, /webhook http:\/\/127\.0\.0\.1:1 could not be reached/);
    const unlinked = await api('GET', `/v1/tenants/${fx.idScope}/registrations/hook-unlinked`);
    assert.match(unlinked.body.errorDetail, /"elsewhere.example", which is not one of the linked hubs/);
  });

  it('sends geoLatency devices to a hub in the region of the request', async () => {
    await group('custom', { allocationPolicy: 'geoLatency' });
    for (const [name, region, hub] of [
      ['geo-east', 'eastus', fx.hubs[1]],
      ['geo-west', 'WestEurope', fx.hubs[0]],
    ] as const) {
      const op = await register(name, {}, { 'x-zerotouch-region': region });
      assert.equal(op.registrationState.assignedHub, hub, name);
    }
  });

  it('reprovisions as reprovisionPolicy says and reports the substatus', async () => {
    const base = { allocationPolicy: 'static' as const };
    await group('custom', { ...base, iotHubs: [fx.hubs[0]], initialTwin: { tags: { v: 1 } } });
    let op = await register('moving-dev');
    assert.equal(op.registrationState.substatus, 'initialAssignment');
    assert.equal(op.registrationState.assignedHub, fx.hubs[0]);

    // migrate: new hub, twin carried over, old record removed
    await group('custom', {
      ...base,
      iotHubs: [fx.hubs[1]],
      initialTwin: { tags: { v: 2 } },
      reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
    });
    op = await register('moving-dev');
    assert.equal(op.registrationState.substatus, 'deviceDataMigrated');
    assert.equal(op.registrationState.assignedHub, fx.hubs[1]);
    let dev = await api('GET', `/v1/tenants/${fx.idScope}/devices/${fx.hubs[1]}/moving-dev`);
    assert.deepEqual(dev.body.twin.tags, { v: 1 });
    const gone = await api('GET', `/v1/tenants/${fx.idScope}/devices/${fx.hubs[0]}/moving-dev`);
    assert.equal(gone.status, 404);

    // reset: new hub, twin re-seeded from the enrollment
    await group('custom', {
      ...base,
      iotHubs: [fx.hubs[0]],
      initialTwin: { tags: { v: 3 } },
      reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: false },
    });
    op = await register('moving-dev');
    assert.equal(op.registrationState.substatus, 'deviceDataReset');
    dev = await api('GET', `/v1/tenants/${fx.idScope}/devices/${fx.hubs[0]}/moving-dev`);
    assert.deepEqual(dev.body.twin.tags, { v: 3 });

    // never reassign: stays where it is
    await group('custom', {
      ...base,
      iotHubs: [fx.hubs[1]],
      reprovisionPolicy: { updateHubAssignment: false, migrateDeviceData: true },
    });
    op = await register('moving-dev');
    assert.equal(op.registrationState.substatus, 'reprovisionedToInitialAssignment');
    assert.equal(op.registrationState.assignedHub, fx.hubs[0]);
    const devices = await api('GET', `/v1/tenants/${fx.idScope}/devices?max=1000`);
    assert.equal(devices.body.items.filter((d: any) => d.deviceId === 'moving-dev').length, 1);
  });

  it('throttles a device that registers or polls too fast with 429, errorCode 429001 and Retry-After', async () => {
    await group('custom', { allocationPolicy: 'hashed' });
    const dev = makeDevice(fx.intermediate, 'eager-dev');
    const path = `/${fx.idScope}/registrations/eager-dev`;
    const puts = [];
    for (let i = 0; i < 14; i++) {
      puts.push(
        await deviceRequest(
          server.devicePort,
          ca,
          dev,
          'PUT',
          `${path}/register?api-version=2021-06-01`,
          '{"registrationId":"eager-dev"}',
        ),
      );
    }
    const limited = puts.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, 'some PUTs are throttled');
    assert.ok(puts.every((r) => r.status === 202 || r.status === 429));
    assert.equal(limited[0]!.json.errorCode, 429001);
    assert.match(limited[0]!.json.message, /too many|slow down|retry/i);
    assert.ok(Number(limited[0]!.headers['retry-after']) >= 1);

    const opId = puts[0]!.json.operationId;
    const polls = [];
    for (let i = 0; i < 10; i++) {
      polls.push(
        await deviceRequest(
          server.devicePort,
          ca,
          dev,
          'GET',
          `${path}/operations/${opId}?api-version=2021-06-01`,
        ),
      );
    }
    const pl = polls.filter((r) => r.status === 429);
    assert.ok(pl.length > 0, 'some polls are throttled');
    assert.equal(pl[0]!.json.errorCode, 429001);
    assert.ok(Number(pl[0]!.headers['retry-after']) >= 1);
  });

  it('makes native API writes conditional on If-Match and answers a stale etag with 412', async () => {
    const path = `/v1/tenants/${fx.idScope}/enrollment-groups/etagged`;
    // A second group on the root: a lower priority than "custom" keeps the root's devices there.
    const doc = { attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } }, priority: -1 };
    const first = await api('PUT', path, doc);
    assert.equal(first.status, 200);
    const etag = first.headers.get('etag')!;
    assert.equal(etag, first.body.etag);
    const second = await api('PUT', path, { ...doc, provisioningStatus: 'disabled' }, { 'if-match': etag });
    assert.equal(second.status, 200, JSON.stringify(second.body));
    assert.notEqual(second.body.etag, etag);
    const stale = await api('PUT', path, doc, { 'if-match': etag });
    assert.equal(stale.status, 412);
    assert.equal(stale.body.code, 'PRECONDITION_FAILED');
    assert.match(stale.body.message, /etag/i);
    const del = await api('DELETE', path, undefined, { 'if-match': etag });
    assert.equal(del.status, 412);
    assert.equal((await api('DELETE', path, undefined, { 'if-match': second.body.etag })).status, 204);
  });
});
