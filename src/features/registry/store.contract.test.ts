import assert from 'node:assert/strict';
import { it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { KyselyDeviceStore } from './store.ts';
import type { RegistryDevice } from './types.ts';

function device(hub: string, deviceId: string, tag = 'a'): RegistryDevice {
  const now = new Date().toISOString();
  return {
    deviceId,
    hub,
    registrationId: deviceId,
    status: 'enabled',
    authentication: { type: 'certificateAuthority' },
    capabilities: { iotEdge: false },
    twin: { tags: { tag }, properties: { desired: {}, reported: {} } },
    enrollment: { kind: 'group', id: 'g1' },
    etag: `"${tag}"`,
    createdDateTimeUtc: now,
    lastUpdatedDateTimeUtc: now,
  };
}

describeEachStore('registry device store', (getStore) => {
  const store = () => new KyselyDeviceStore(getStore().db);

  it('stores a device per hub (hub in any case, device ID exactly) and replaces it in place', async () => {
    const t = await newTenant(getStore());
    await store().putDevice(t.id, device('hub1.example.com', 'dev-1'));
    assert.equal((await store().findDevice(t.id, 'HUB1.example.com', 'dev-1'))?.twin.tags.tag, 'a');
    assert.equal(await store().findDevice(t.id, 'hub1.example.com', 'DEV-1'), undefined);
    assert.equal(await store().findDevice(t.id, 'hub2.example.com', 'dev-1'), undefined);
    await store().putDevice(t.id, device('hub1.example.com', 'dev-1', 'b'));
    assert.equal((await store().findDevice(t.id, 'hub1.example.com', 'dev-1'))?.etag, '"b"');
    assert.equal((await store().listDevices(t.id)).items.length, 1);
  });

  it('lists devices of a tenant or of one hub in pages, and refuses a bad continuation', async () => {
    const t = await newTenant(getStore());
    for (const id of ['d3', 'd1', 'd2']) await store().putDevice(t.id, device('a.example.com', id));
    await store().putDevice(t.id, device('b.example.com', 'd1'));
    const first = await store().listDevices(t.id, 'A.example.com', 2);
    assert.equal(first.items.length, 2);
    assert.ok(first.continuation);
    const second = await store().listDevices(t.id, 'a.example.com', 2, first.continuation);
    assert.equal(second.items.length, 1);
    assert.equal(second.continuation, undefined);
    assert.deepEqual([...first.items, ...second.items].map((d) => d.deviceId).sort(), ['d1', 'd2', 'd3']);
    assert.equal((await store().listDevices(t.id)).items.length, 4);
    await assert.rejects(store().listDevices(t.id, undefined, 10, 'x'), (e) => isZtError(e, 'BAD_REQUEST'));
  });

  it('finds devices by certificate and pages the devices of an enrollment', async () => {
    const t = await newTenant(getStore());
    const other = await newTenant(getStore());
    const withCert = (d: RegistryDevice, sha256: string, group = 'g1'): RegistryDevice => ({
      ...d,
      enrollment: { kind: 'group', id: group },
      certificate: { sha1Thumbprint: 'AA', sha256Thumbprint: sha256, notAfterUtc: d.createdDateTimeUtc },
    });
    await store().putDevice(t.id, withCert(device('a.example.com', 'd1'), 'C1'));
    await store().putDevice(t.id, withCert(device('b.example.com', 'd1'), 'C1'));
    await store().putDevice(t.id, withCert(device('a.example.com', 'd2'), 'C2', 'Line-2'));
    await store().putDevice(other.id, withCert(device('a.example.com', 'd1'), 'C1'));
    const byCert = await store().devicesWithCertificate(t.id, 'c1');
    assert.deepEqual(byCert.map((d) => d.hub).sort(), ['a.example.com', 'b.example.com']);
    await store().putDevice(t.id, withCert(device('a.example.com', 'd1'), 'C3'));
    assert.equal((await store().devicesWithCertificate(t.id, 'C1')).length, 1, 'replaced in place');

    for (const id of ['d3', 'd4']) await store().putDevice(t.id, withCert(device('a.example.com', id), 'C9'));
    const page1 = await store().devicesOfEnrollment(t.id, 'group', 'G1', 2);
    const last = page1[page1.length - 1]!;
    const page2 = await store().devicesOfEnrollment(t.id, 'group', 'g1', 2, {
      hubKey: last.hub,
      deviceId: last.deviceId,
    });
    assert.deepEqual(
      [...page1, ...page2].map((d) => `${d.hub}/${d.deviceId}`),
      ['a.example.com/d1', 'a.example.com/d3', 'a.example.com/d4', 'b.example.com/d1'],
    );
    assert.deepEqual(
      (await store().devicesOfEnrollment(t.id, 'group', 'line-2', 10)).map((d) => d.deviceId),
      ['d2'],
    );
  });

  it('deletes a device once and keeps tenants apart', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    await store().putDevice(a.id, device('h.example.com', 'same'));
    await store().putDevice(b.id, device('h.example.com', 'same', 'b'));
    assert.equal(await store().deleteDevice(a.id, 'h.example.com', 'same'), true);
    assert.equal(await store().deleteDevice(a.id, 'h.example.com', 'same'), false);
    assert.equal((await store().findDevice(b.id, 'h.example.com', 'same'))?.etag, '"b"');
    await b.remove();
    assert.deepEqual((await store().listDevices(b.id)).items, []);
  });
});
