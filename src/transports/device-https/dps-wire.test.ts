import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { deviceRequest, identitydRegister } from '../../testing/dps-client.ts';
import { makeIntermediate, makeRoot } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('DPS device API on the wire', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  let ca: string;
  const put = (
    scope: string,
    dev: ReturnType<typeof makeDevice> | undefined,
    regId = dev?.registrationId ?? 'x',
    body?: string,
  ) =>
    deviceRequest(
      server.devicePort,
      ca,
      dev,
      'PUT',
      `/${scope}/registrations/${regId}/register?api-version=2021-06-01`,
      body ?? JSON.stringify({ registrationId: regId }),
    );
  const rejected = (r: Awaited<ReturnType<typeof put>>, code: string, message: RegExp) => {
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.errorCode, 401002);
    assert.equal(r.json.info.code, code);
    assert.match(r.json.message, message);
    assert.ok(r.json.trackingId && r.json.timestampUtc);
    assert.equal(r.headers['x-ms-error-code'], '401002');
  };

  before(async () => {
    server = await startTestServer();
    api = adminClient(server);
    fx = await dpsFixture(server, 'wire');
    ca = certificatePem(server.devPki.root.certificate);
    const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/wire-group`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
      capabilities: { iotEdge: true },
      initialTwin: { tags: { environment: 'test' } },
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
  });
  after(async () => {
    await server?.dispose();
  });

  it('serves aziot-identityd: PUT gets 202 with Retry-After and Location, fixed 5 s polls reach assigned', async () => {
    const dev = makeDevice(fx.intermediate, 'edge-01');
    const first = await put(fx.idScope, dev);
    assert.equal(first.status, 202, first.text);
    assert.match(String(first.headers['content-type']), /application\/json/);
    assert.equal(first.headers['retry-after'], '3');
    assert.match(
      String(first.headers.location),
      new RegExp(`/${fx.idScope}/registrations/edge-01/register$`),
    );
    assert.match(first.json.operationId, /^\d\.[0-9a-f]{16}\.[0-9a-f-]{36}$/);
    assert.equal(first.json.status, 'assigning');
    const r = await identitydRegister(server.devicePort, ca, fx.idScope, dev);
    assert.ok(fx.hubs.includes(r.assignedHub));
    assert.equal(r.deviceId, 'edge-01');
    assert.equal(r.polls, 1);
    const device = await api('GET', `/v1/tenants/${fx.idScope}/devices/${r.assignedHub}/edge-01`);
    assert.equal(device.body.capabilities.iotEdge, true);
    assert.equal(device.body.authentication.type, 'certificateAuthority');
  });

  it('answers the status lookup with the registration state and polls with the DPS shapes', async () => {
    const dev = makeDevice(fx.intermediate, 'lookup-01');
    const p = await put(fx.idScope, dev);
    const op = p.json.operationId;
    let got;
    for (let i = 0; i < 20; i++) {
      got = await deviceRequest(
        server.devicePort,
        ca,
        dev,
        'GET',
        `/${fx.idScope}/registrations/lookup-01/operations/${op}?api-version=2019-03-31`,
      );
      if (got.status === 200) break;
      assert.equal(got.status, 202);
      assert.equal(got.json.registrationState.registrationId, 'lookup-01');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(got!.json.status, 'assigned');
    const rs = got!.json.registrationState;
    assert.deepEqual(rs.x509, { enrollmentGroupId: 'wire-group' });
    for (const k of ['createdDateTimeUtc', 'lastUpdatedDateTimeUtc', 'etag', 'assignedHub', 'deviceId'])
      assert.ok(rs[k], k);
    const look = await deviceRequest(
      server.devicePort,
      ca,
      dev,
      'POST',
      `/${fx.idScope}/registrations/LOOKUP-01?api-version=2021-06-01`,
      '{"registrationId":"lookup-01"}',
    );
    assert.equal(look.status, 200, look.text);
    assert.equal(look.json.status, 'assigned');
    const unknownOp = await deviceRequest(
      server.devicePort,
      ca,
      dev,
      'GET',
      `/${fx.idScope}/registrations/lookup-01/operations/5.0.nope?api-version=2021-06-01`,
    );
    assert.equal(unknownOp.status, 404);
    assert.equal(unknownOp.json.errorCode, 404201);
  });

  it("rejects an unverified CA: the device learns the fix is the operator's, the operator learns which CA", async () => {
    const other = makeRoot('Unverified Root');
    await api('POST', `/v1/tenants/${fx.idScope}/cas`, {
      name: 'unverified',
      certificate: certificatePem(other.cert),
    });
    await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/unverified-group`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'unverified' } } },
    });
    const dev = makeDevice(other, 'u-01');
    const r = await put(fx.idScope, dev);
    rejected(r, 'CA_NOT_VERIFIED', /does not trust yet; the operator has to verify that CA/);
    assert.doesNotMatch(r.json.message, /"unverified"|zerotouch /, 'no CA name, no admin command');
    const d = await api('POST', `/v1/tenants/${fx.idScope}/diagnose`, { chain: dev.chainPem });
    assert.match(d.body.reason, /"unverified".*not verified.*prove possession/);
  });

  it('rejects a chain that does not reach the enrollment CA (intermediate not sent)', async () => {
    const dev = makeDevice(fx.intermediate, 'partial-01');
    const leafOnly = { ...dev, chainPem: dev.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0] };
    rejected(
      await put(fx.idScope, leafOnly),
      'CHAIN_UNKNOWN_ISSUER',
      /does not reach a CA this ID scope trusts.*Send the full chain/,
    );
  });

  it('rejects an expired device certificate', async () => {
    const dev = makeDevice(fx.intermediate, 'old-01', [], {
      notBefore: new Date(Date.now() - 50_000),
      notAfter: new Date(Date.now() - 10_000),
    });
    rejected(await put(fx.idScope, dev), 'CERT_EXPIRED', /expired on .*new certificate/);
  });

  it('lets a disabled individual enrollment override an enabled group, and records the failure', async () => {
    const dev = makeDevice(fx.intermediate, 'blocked-01');
    const enrollment = (certificate: string) => ({
      attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate } } } },
      provisioningStatus: 'disabled',
    });
    // The portal pitfall: a full chain where the device certificate belongs.
    const chainUpload = await api(
      'PUT',
      `/v1/tenants/${fx.idScope}/enrollments/blocked-01`,
      enrollment(dev.chainPem),
    );
    assert.equal(chainUpload.status, 400);
    assert.match(chainUpload.body.message, /holds 2 certificates; give exactly one \(not a full chain\)/);
    const leafPem = dev.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0];
    const ok = await api('PUT', `/v1/tenants/${fx.idScope}/enrollments/blocked-01`, enrollment(leafPem));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    rejected(await put(fx.idScope, dev), 'ENROLLMENT_DISABLED', /enrollment of this device is disabled/);
    const rec = await api('GET', `/v1/tenants/${fx.idScope}/registrations/blocked-01`);
    assert.equal(rec.body.status, 'failed');
    assert.equal(rec.body.errorCode, 401002);
    // The record keeps the whole reason for the operator.
    assert.match(rec.body.errorDetail, /individual enrollment "blocked-01" is disabled; enable it/);
  });

  it('rejects a device certificate of scope A registering in scope B', async () => {
    const b = await dpsFixture(server, 'other');
    const devOfA = makeDevice(fx.intermediate, 'a-device');
    const r = await put(b.idScope, devOfA);
    rejected(r, 'CHAIN_UNKNOWN_ISSUER', /does not reach a CA this ID scope trusts/);
    assert.doesNotMatch(r.json.message, /CAs here|trusted CAs/, 'the device learns nothing of scope B');
  });

  it('answers a poll of a running or finished operation only in the ID scope it was started in', async () => {
    const b = await dpsFixture(server, 'poll-other');
    const dev = makeDevice(fx.intermediate, 'poll-scope-01');
    const op = (await put(fx.idScope, dev)).json.operationId;
    const poll = (scope: string) =>
      deviceRequest(
        server.devicePort,
        ca,
        dev,
        'GET',
        `/${scope}/registrations/poll-scope-01/operations/${op}?api-version=2021-06-01`,
      );
    // Polled at once (still assigning here) and again once it has finished.
    for (let round = 0; round < 2; round++) {
      const other = await poll(b.idScope);
      assert.equal(other.status, 401, other.text);
      assert.equal(other.json.info.code, 'CHAIN_UNKNOWN_ISSUER');
      assert.equal((await poll('0ne-no-such-scope')).status, 401);
      let own = await poll(fx.idScope);
      for (let i = 0; i < 20 && own.status === 202; i++) {
        await new Promise((r) => setTimeout(r, 100));
        own = await poll(fx.idScope);
      }
      assert.equal(own.status, 200, own.text);
      assert.equal(own.json.status, 'assigned');
    }
  });

  it('rejects a registration ID in the URL that differs from the certificate CN', async () => {
    const dev = makeDevice(fx.intermediate, 'real-cn');
    rejected(
      await put(fx.idScope, dev, 'someone-else'),
      'REGISTRATION_ID_MISMATCH',
      /not the certificate CN \(real-cn\); register as real-cn/,
    );
  });

  it('answers missing certificates, unknown scopes and bad bodies in the DPS error shape', async () => {
    rejected(await put(fx.idScope, undefined, 'nobody'), 'CHAIN_EMPTY', /no client certificate/);
    const dev = makeDevice(fx.intermediate, 'shape-01');
    // An unknown scope answers exactly as a scope that does not trust the device: scopes, and
    // enrollments in them, cannot be probed.
    const unknown = await put('0neFFFFFFFF', dev);
    const other = await put((await dpsFixture(server, 'empty')).idScope, dev);
    assert.equal(unknown.status, 401);
    assert.equal(unknown.json.errorCode, 401002);
    assert.deepEqual(
      [unknown.json.info.code, unknown.json.message],
      [other.json.info.code, other.json.message],
    );
    const malformed = await put(fx.idScope, dev, 'shape-01', '{"registrationId":');
    assert.equal(malformed.status, 400);
    assert.equal(typeof malformed.json.errorCode, 'number');
    const badPayload = await put(
      fx.idScope,
      dev,
      'shape-01',
      '{"registrationId":"shape-01","payload":"text"}',
    );
    assert.equal(badPayload.status, 400);
    assert.match(badPayload.json.message, /payload must be a JSON object/);
    const huge = await put(
      fx.idScope,
      dev,
      'shape-01',
      JSON.stringify({ registrationId: 'shape-01', payload: { x: 'y'.repeat(100_000) } }),
    );
    assert.equal(huge.status, 413);
    assert.equal(huge.json.errorCode, 413001);
  });

  it('refuses a device of a tenant deleted a moment after its last registration', async () => {
    // The server keeps an ID scope's tenant for a few seconds; what a device is matched against
    // is read every time, so the deletion holds at once.
    const doomed = await dpsFixture(server, 'doomed');
    const g = await api('PUT', `/v1/tenants/${doomed.idScope}/enrollment-groups/doomed-group`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
    const dev = makeDevice(doomed.intermediate, 'doomed-01');
    assert.equal((await put(doomed.idScope, dev)).status, 202);
    await server.services.registrations.drain();
    assert.equal((await api('DELETE', `/v1/tenants/${doomed.idScope}`)).status, 204);
    const again = await put(doomed.idScope, dev);
    rejected(again, 'CHAIN_UNKNOWN_ISSUER', /./);
  });

  it('ends 200 concurrent registrations of the same 20 devices with exactly 20 devices and no 5xx', async () => {
    const inter = makeIntermediate(fx.root, 'Burst Intermediate');
    const devices = Array.from({ length: 20 }, (_, i) =>
      makeDevice(inter, `burst-${String(i).padStart(2, '0')}`),
    );
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => put(fx.idScope, devices[i % 20])),
    );
    assert.ok(
      results.every((r) => r.status < 500),
      results.map((r) => r.status).join(','),
    );
    assert.ok(
      results.every((r) => r.status === 202 || r.status === 429),
      results.map((r) => `${r.status} ${r.text}`).find((t) => !t.startsWith('202')),
    );
    await server.services.registrations.drain();
    const list = await api('GET', `/v1/tenants/${fx.idScope}/devices?max=1000`);
    const burst = list.body.items.filter((d: { deviceId: string }) => d.deviceId.startsWith('burst-'));
    assert.equal(burst.length, 20);
    assert.equal(new Set(burst.map((d: { deviceId: string }) => d.deviceId)).size, 20);
    const regs = await api('GET', `/v1/tenants/${fx.idScope}/registrations?max=1000`);
    const burstRegs = regs.body.items.filter((r: { registrationId: string }) =>
      r.registrationId.startsWith('burst-'),
    );
    assert.equal(burstRegs.length, 20);
    assert.ok(burstRegs.every((r: { status: string }) => r.status === 'assigned'));
  });
});
