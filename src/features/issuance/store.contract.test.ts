import assert from 'node:assert/strict';
import { it } from 'node:test';
import { describeEachStore } from '../../store/testing.ts';
import { newTenant } from '../../testing/store.ts';
import { KyselyIssuanceStore, type StoredIssuingCa } from './store.ts';
import type { CertificateProfile, IssuedCertificate } from './types.ts';

const ca = (name: string): StoredIssuingCa => ({
  name,
  certificate: `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`,
  chain: '',
  keyRef: { type: 'pkcs11', uri: `pkcs11:object=${name}` },
  crlNumber: 0,
  createdAt: new Date().toISOString(),
});

const profile = (name: string, validityDays = 30): CertificateProfile => ({
  name,
  kind: 'device',
  validityDays,
  sans: 'copy',
  allowedKeyTypes: ['p256'],
});

function issued(serial: string, over: Partial<IssuedCertificate> = {}): IssuedCertificate {
  return {
    serialNumber: serial,
    issuingCa: 'Devices',
    subject: `CN=${serial.toLowerCase()}`,
    subjectAltNames: ['DNS:a.example.com'],
    sha1Thumbprint: serial.padEnd(40, '0'),
    sha256Thumbprint: serial.padEnd(64, '0'),
    notBeforeUtc: '2026-01-01T00:00:00.000Z',
    notAfterUtc: '2027-01-01T00:00:00.000Z',
    profile: 'device',
    method: 'api',
    requester: 'api:ci',
    status: 'valid',
    createdDateTimeUtc: new Date().toISOString(),
    ...over,
  };
}

describeEachStore('issuance store', (getStore) => {
  const store = () => new KyselyIssuanceStore(getStore().db);

  it('keeps issuing CAs by name in any case, refuses a taken name, and counts CRL numbers without gaps under races', async () => {
    const t = await newTenant(getStore());
    const s = store();
    assert.equal(await s.insertCa(t.id, ca('Devices'), 'a'.repeat(64)), true);
    assert.equal(await s.insertCa(t.id, ca('devices'), 'b'.repeat(64)), false);
    assert.deepEqual((await s.findCa(t.id, 'DEVICES'))?.keyRef, {
      type: 'pkcs11',
      uri: 'pkcs11:object=Devices',
    });
    const numbers = await Promise.all(Array.from({ length: 8 }, () => s.nextCrlNumber(t.id, 'devices')));
    assert.deepEqual(
      numbers.sort((x, y) => x - y),
      [1, 2, 3, 4, 5, 6, 7, 8],
    );
    assert.equal((await s.findCa(t.id, 'Devices'))?.crlNumber, 8);
    await s.insertCa(t.id, ca('Alpha'), 'c'.repeat(64));
    assert.deepEqual(
      (await s.listCas(t.id)).map((c) => c.name),
      ['Alpha', 'Devices'],
    );
    assert.equal(await s.deleteCa(t.id, 'alpha'), true);
    assert.equal(await s.deleteCa(t.id, 'alpha'), false);
  });

  it('stores, replaces, lists by name and deletes profiles', async () => {
    const t = await newTenant(getStore());
    const s = store();
    await s.putProfile(t.id, profile('sensor'));
    await s.putProfile(t.id, profile('Gateway'));
    await s.putProfile(t.id, profile('SENSOR', 7));
    assert.deepEqual(await s.findProfile(t.id, 'sensor'), profile('SENSOR', 7));
    assert.deepEqual(
      (await s.listProfiles(t.id)).map((p) => p.name),
      ['Gateway', 'SENSOR'],
    );
    assert.equal(await s.deleteProfile(t.id, 'gateway'), true);
    assert.equal(await s.findProfile(t.id, 'gateway'), undefined);
  });

  it('records issued certificates and filters them, newest first', async () => {
    const t = await newTenant(getStore());
    const s = store();
    const at = (m: number) => new Date(Date.UTC(2026, 5, 1, 0, m)).toISOString();
    await s.insertIssued(t.id, issued('0A', { createdDateTimeUtc: at(1) }), 'pem-a', 'issuer-1');
    await s.insertIssued(
      t.id,
      issued('0B', {
        createdDateTimeUtc: at(2),
        method: 'est-simpleenroll',
        notAfterUtc: '2026-07-01T00:00:00.000Z',
      }),
      'pem-b',
      'issuer-1',
    );
    await s.insertIssued(
      t.id,
      issued('0C', { createdDateTimeUtc: at(3), issuingCa: 'Other', subject: 'CN=Gateway-7' }),
      'pem-c',
      'issuer-2',
    );
    const serials = async (f: Parameters<typeof s.listIssued>[1]) =>
      (await s.listIssued(t.id, f, 10)).items.map((c) => c.serialNumber);
    assert.deepEqual(await serials({}), ['0C', '0B', '0A']);
    const first = await s.listIssued(t.id, {}, 1);
    assert.deepEqual(
      (await s.listIssued(t.id, {}, 1, first.continuation)).items.map((c) => c.serialNumber),
      ['0B'],
    );
    assert.deepEqual(await serials({ ca: 'devices' }), ['0B', '0A']);
    assert.deepEqual(await serials({ subject: 'gateway' }), ['0C']);
    assert.deepEqual(await serials({ method: 'est-simpleenroll' }), ['0B']);
    assert.deepEqual(await serials({ expiringBefore: '2026-12-31T00:00:00.000Z' }), ['0B']);
    const found = await s.findIssued(t.id, '0a');
    assert.equal(found?.pem, 'pem-a');
    assert.deepEqual(found?.record.subjectAltNames, ['DNS:a.example.com']);
  });

  it('revokes once, lists revocations per CA and finds revoked certificates by issuer and serial only', async () => {
    const t = await newTenant(getStore());
    const s = store();
    await s.insertIssued(t.id, issued('1A'), 'pem', 'issuer-1');
    await s.insertIssued(t.id, issued('1B'), 'pem', 'issuer-1');
    assert.equal(await s.revoke(t.id, '1a', 'keyCompromise', '2026-06-02T00:00:00.000Z'), true);
    assert.equal(await s.revoke(t.id, '1A', 'superseded', '2026-06-03T00:00:00.000Z'), false);
    assert.deepEqual(await s.revokedOf(t.id, 'DEVICES'), [
      { serial: '1A', revokedAt: '2026-06-02T00:00:00.000Z', reason: 'keyCompromise' },
    ]);
    assert.equal((await s.listIssued(t.id, { status: 'revoked' })).items.length, 1);
    assert.deepEqual(await s.firstRevoked([{ issuerKey: 'issuer-1', serial: '1A' }]), {
      issuerKey: 'issuer-1',
      serial: '1A',
      revokedAt: '2026-06-02T00:00:00.000Z',
    });
    assert.equal(await s.firstRevoked([{ issuerKey: 'issuer-2', serial: '1A' }]), undefined);
    assert.equal(await s.firstRevoked([{ issuerKey: 'issuer-1', serial: '1B' }]), undefined);
    assert.equal(await s.firstRevoked([]), undefined);
  });

  it('keeps one CRL per CA, and tenants apart', async () => {
    const a = await newTenant(getStore());
    const b = await newTenant(getStore());
    const s = store();
    await s.putCrl(a.id, 'Devices', 1, '2026-06-02T00:00:00.000Z', Buffer.from([1, 2, 3]));
    await s.putCrl(a.id, 'devices', 2, '2026-06-03T00:00:00.000Z', Buffer.from([4, 5]));
    const crl = await s.getCrl(a.id, 'DEVICES');
    assert.equal(crl?.number, 2);
    assert.deepEqual([...crl!.der], [4, 5]);
    assert.equal(await s.getCrl(b.id, 'devices'), undefined);
    await s.insertIssued(a.id, issued('2A'), 'pem', 'issuer-1');
    assert.equal(await s.findIssued(b.id, '2A'), undefined);
    assert.equal(await s.revoke(b.id, '2A', 'unspecified', new Date().toISOString()), false);
    await s.deleteCrl(a.id, 'devices');
    assert.equal(await s.getCrl(a.id, 'devices'), undefined);
    await a.remove();
    assert.equal(await s.findIssued(a.id, '2A'), undefined);
  });
});
