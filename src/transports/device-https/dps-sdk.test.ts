import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { sdkRegister } from '../../testing/azure-sdk.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { makeRoot } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('DPS registration with the Azure IoT provisioning device SDK (HTTP, X.509)', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  let ca: string;
  before(async () => {
    server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
    api = adminClient(server);
    fx = await dpsFixture(server);
    ca = certificatePem(server.devPki.root.certificate);
  });
  after(async () => {
    await server?.dispose();
  });

  it('registers a device with an individual enrollment and lands it on the enrollment hub with its device ID', async () => {
    const selfCa = makeRoot('Lone Device CA');
    const dev = makeDevice(selfCa, 'lone-device-01');
    const put = await api('PUT', `/v1/tenants/${fx.idScope}/enrollments/lone-device-01`, {
      registrationId: 'lone-device-01',
      deviceId: 'edge-gateway-7',
      attestation: {
        type: 'x509',
        x509: {
          clientCertificates: {
            primary: { certificate: dev.chainPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0] },
          },
        },
      },
      capabilities: { iotEdge: true },
      initialTwin: { tags: { environment: 'test' }, properties: { desired: { interval: 30 } } },
      allocationPolicy: 'static',
      iotHubs: [fx.hubs[1]],
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const state = await sdkRegister(server.devicePort, ca, fx.idScope, dev);
    assert.equal(state.status, 'assigned');
    assert.equal(state.assignedHub, fx.hubs[1]);
    assert.equal(state.deviceId, 'edge-gateway-7');
    assert.equal(state.substatus, 'initialAssignment');
    assert.deepEqual(state.x509, {});
    const device = await api('GET', `/v1/tenants/${fx.idScope}/devices/${fx.hubs[1]}/edge-gateway-7`);
    assert.equal(device.status, 200);
    assert.equal(device.body.capabilities.iotEdge, true);
    assert.deepEqual(device.body.twin.tags, { environment: 'test' });
    assert.equal(device.body.authentication.type, 'selfSigned');
  });

  it('registers a device under a group enrollment on an intermediate whose root is verified', async () => {
    const put = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/line-3`, {
      enrollmentGroupId: 'line-3',
      attestation: {
        type: 'x509',
        x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
      },
      initialTwin: { tags: { environment: 'test' } },
    });
    assert.equal(put.status, 200, JSON.stringify(put.body));
    const dev = makeDevice(fx.intermediate, 'Sensor-0042');
    const state = await sdkRegister(server.devicePort, ca, fx.idScope, dev, { model: 'thermo' });
    assert.equal(state.status, 'assigned');
    assert.ok(fx.hubs.includes(state.assignedHub));
    assert.equal(state.deviceId, 'Sensor-0042');
    assert.deepEqual(state.x509, { enrollmentGroupId: 'line-3' });
    // Hashed allocation is stable: registering again lands on the same hub.
    const again = await sdkRegister(server.devicePort, ca, fx.idScope, dev);
    assert.equal(again.assignedHub, state.assignedHub);
    const regs = await api('GET', `/v1/tenants/${fx.idScope}/registrations`);
    assert.ok(
      regs.body.items.some(
        (r: { registrationId: string; status: string }) =>
          r.registrationId === 'Sensor-0042' && r.status === 'assigned',
      ),
    );
  });

  it('rejects a device whose chain does not reach a verified CA, and the SDK reports 401002', async () => {
    const stranger = makeRoot('Stranger CA');
    const dev = makeDevice(stranger, 'intruder-1');
    await assert.rejects(sdkRegister(server.devicePort, ca, fx.idScope, dev), (e: Error) => {
      // The SDK's UnauthorizedError carries the DPS error body as its message.
      assert.equal(e.name, 'UnauthorizedError');
      const body = JSON.parse(e.message.replace(/^Error: /, '')) as {
        errorCode: number;
        message: string;
        trackingId: string;
      };
      assert.equal(body.errorCode, 401002);
      assert.match(body.message, /does not reach a CA this ID scope trusts/);
      assert.match(body.trackingId, /^[0-9a-f-]{36}$/);
      return true;
    });
  });
});
