import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { sdkRegister, serviceClient } from '../../testing/azure-sdk.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('Azure DPS service API with the azure-iot-provisioning-service SDK', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let client: ReturnType<typeof serviceClient>;
  let ca: string;
  before(async () => {
    server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
    fx = await dpsFixture(server, 'svc');
    ca = certificatePem(server.devPki.root.certificate);
    const api = adminClient(server);
    const policy = await api('PUT', `/v1/tenants/${fx.idScope}/access-policies/provisioningserviceowner`, {});
    assert.equal(policy.status, 200, JSON.stringify(policy.body));
    assert.match(
      policy.body.connectionString,
      /^HostName=localhost;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=/,
    );
    client = serviceClient(server.devicePort, ca, policy.body.connectionString);
    key = policy.body.primaryKey;
  });
  let key: string;

  /** A raw service API call signed the way the SDK signs. */
  const raw = (method: string, path: string, body: unknown) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const se = Math.floor(Date.now() / 1000) + 600;
      const sig = createHmac('sha256', Buffer.from(key, 'base64'))
        .update(`localhost\n${se}`)
        .digest('base64');
      const auth = `SharedAccessSignature sr=localhost&sig=${encodeURIComponent(sig)}&se=${se}&skn=provisioningserviceowner`;
      const req = request(
        {
          host: '127.0.0.1',
          port: server.devicePort,
          method,
          path,
          ca,
          servername: 'localhost',
          headers: { authorization: auth, 'content-type': 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString() || '{}') }),
          );
        },
      );
      req.on('error', reject);
      req.end(JSON.stringify(body));
    });
  after(async () => {
    await server?.dispose();
  });

  it('creates, reads, updates with etags, queries and deletes individual enrollments', async () => {
    const devices = ['svc-dev-1', 'svc-dev-2', 'svc-dev-3'].map((id) => makeDevice(fx.intermediate, id));
    for (const d of devices) {
      const leaf = d.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0];
      const created = await client.createOrUpdateIndividualEnrollment({
        registrationId: d.registrationId,
        attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate: leaf } } } },
        provisioningStatus: 'enabled',
      } as never);
      assert.equal(created.responseBody.registrationId, d.registrationId);
      assert.equal(
        created.responseBody.attestation.x509?.clientCertificates?.primary?.info?.sha256Thumbprint,
        d.sha256,
      );
    }
    const got = (await client.getIndividualEnrollment('svc-dev-1')).responseBody;
    assert.ok(got.etag);
    got.initialTwin = { tags: { environment: 'test' }, properties: { desired: {} } } as never;
    const updated = (await client.createOrUpdateIndividualEnrollment(got)).responseBody;
    assert.notEqual(updated.etag, got.etag);
    // A stale etag is refused with 412.
    await assert.rejects(
      client.createOrUpdateIndividualEnrollment(got),
      (e: Error & { response?: { statusCode: number } }) => {
        assert.equal(e.response?.statusCode, 412);
        return true;
      },
    );
    const query = client.createIndividualEnrollmentQuery({ query: '*' }, 2);
    const page1 = await query.next();
    assert.equal((page1.responseBody as unknown as unknown[]).length, 2);
    assert.equal(query.hasMoreResults, true);
    // The SDK's promise form drops the stored token unless it is passed back explicitly.
    const page2 = await query.next(query.continuationToken);
    assert.equal((page2.responseBody as unknown as unknown[]).length, 1);
    assert.equal(query.hasMoreResults, false);
    const att = await client.getIndividualEnrollmentAttestationMechanism('svc-dev-2');
    assert.equal(att.responseBody.type, 'x509');
    await client.deleteIndividualEnrollment('svc-dev-3');
    await assert.rejects(client.getIndividualEnrollment('svc-dev-3'));
  });

  it('manages enrollment groups, and devices register under one; registration states are queryable', async () => {
    const group = await client.createOrUpdateEnrollmentGroup({
      enrollmentGroupId: 'svc-group',
      attestation: {
        type: 'x509',
        x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
      },
      provisioningStatus: 'enabled',
      capabilities: { iotEdge: true },
    } as never);
    assert.equal(group.responseBody.enrollmentGroupId, 'svc-group');
    const dev = makeDevice(fx.intermediate, 'svc-grouped-1');
    const state = await sdkRegister(server.devicePort, ca, fx.idScope, dev);
    assert.equal(state.status, 'assigned');
    const regs = await client
      .createEnrollmentGroupDeviceRegistrationStateQuery({ query: '*' }, 'svc-group')
      .next();
    assert.deepEqual(
      (regs.responseBody as unknown as Array<{ registrationId: string }>).map((r) => r.registrationId),
      ['svc-grouped-1'],
    );
    const reg = await client.getDeviceRegistrationState('svc-grouped-1');
    assert.equal(reg.responseBody.assignedHub, state.assignedHub);
    const groups = await client.createEnrollmentGroupQuery({ query: '*' }).next();
    assert.ok(
      (groups.responseBody as unknown as Array<{ enrollmentGroupId: string }>).some(
        (g) => g.enrollmentGroupId === 'svc-group',
      ),
    );
    await client.deleteDeviceRegistrationState('svc-grouped-1');
    await client.deleteEnrollmentGroup('svc-group');
    await assert.rejects(client.getEnrollmentGroup('svc-group'));
  });

  it('runs bulk operations and reports per-item errors', async () => {
    const d = makeDevice(fx.intermediate, 'bulk-1');
    const leaf = d.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0];
    const enrollment = {
      registrationId: 'bulk-1',
      attestation: { type: 'x509', x509: { clientCertificates: { primary: { certificate: leaf } } } },
    };
    // The SDK's promise form of runBulkEnrollmentOperation never settles (it only calls back when
    // given a callback), so it is used with one, as its users must.
    const bulk = (mode: string) =>
      new Promise<{ isSuccessful: boolean; errors: Array<{ registrationId: string; errorStatus: string }> }>(
        (resolve, reject) =>
          client.runBulkEnrollmentOperation({ mode, enrollments: [enrollment] } as never, (err, result) =>
            err ? reject(err) : resolve(result as never),
          ),
      );
    assert.equal((await bulk('create')).isSuccessful, true);
    const again = await bulk('create');
    assert.equal(again.isSuccessful, false);
    assert.equal(again.errors[0].registrationId, 'bulk-1');
    assert.match(again.errors[0].errorStatus, /already exists/);
    assert.equal((await bulk('delete')).isSuccessful, true);
  });

  it('checks requests against their schemas and answers a refusal in the DPS error shape', async () => {
    let r = await raw('POST', '/enrollments?api-version=2021-10-01', { mode: 'upsert', enrollments: [] });
    assert.equal(r.status, 400);
    assert.equal(r.body.errorCode, 400001);
    assert.match(
      String(r.body.message),
      /the body field mode must be one of "create", "update", "updateIfMatchETag", "delete"/,
    );
    r = await raw('PUT', '/enrollmentGroups/g1?api-version=2021-10-01', {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'x' } } },
      provisioningStatus: 'paused',
    });
    assert.equal(r.status, 400);
    assert.match(String(r.body.message), /provisioningStatus must be one of "enabled", "disabled" or null/);
  });

  it('refuses a wrong key', async () => {
    const bad = serviceClient(
      server.devicePort,
      ca,
      `HostName=localhost;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=${Buffer.alloc(32).toString('base64')}`,
    );
    await assert.rejects(
      bad.getIndividualEnrollment('svc-dev-1'),
      (e: Error & { response?: { statusCode: number } }) => {
        assert.equal(e.response?.statusCode, 401);
        return true;
      },
    );
  });
});
