/** Test helpers for DPS flows: a tenant with linked hubs, a verified root and an intermediate. */
import assert from 'node:assert/strict';
import { certificatePem } from '../pki/certificate.ts';
import { exportPrivateKeyPem } from '../pki/keys.ts';
import { adminClient } from './admin.ts';
import { makeIntermediate, makeLeaf, makeRoot, type TestCa } from './pki.ts';
import type { TestServer } from './server.ts';

export interface DeviceIdentity {
  registrationId: string;
  /** Leaf then intermediates, PEM. */
  chainPem: string;
  keyPem: string;
  sha256: string;
}

/** A device certificate under `ca`, with the full chain (without the root) in PEM. */
export function makeDevice(
  ca: TestCa,
  registrationId: string,
  parents: TestCa[] = [],
  extra = {},
): DeviceIdentity {
  const leaf = makeLeaf(ca, registrationId, extra);
  const chainPem = [
    leaf.cert,
    ...(ca.cert.subject.der.equals(ca.cert.issuer.der) ? [] : [ca.cert]),
    ...parents.map((p) => p.cert),
  ]
    .map(certificatePem)
    .join('');
  return { registrationId, chainPem, keyPem: exportPrivateKeyPem(leaf.key), sha256: leaf.cert.sha256 };
}

export interface DpsFixture {
  idScope: string;
  root: TestCa;
  intermediate: TestCa;
  hubs: string[];
}

/** Creates a tenant with two linked hubs and a root CA verified by proof of possession. */
export async function dpsFixture(
  server: Pick<TestServer, 'adminUrl' | 'adminToken'>,
  name = 'plant',
): Promise<DpsFixture> {
  const api = adminClient(server);
  const t = await api('POST', '/v1/tenants', { name });
  assert.equal(t.status, 201, JSON.stringify(t.body));
  const idScope = t.body.idScope as string;
  const hubs = [`${name}-west.hubs.example`, `${name}-east.hubs.example`];
  await api('PUT', `/v1/tenants/${idScope}/hubs/${hubs[0]}`, { region: 'westeurope' });
  await api('PUT', `/v1/tenants/${idScope}/hubs/${hubs[1]}`, { region: 'eastus' });
  const root = makeRoot(`${name} Root CA`);
  const intermediate = makeIntermediate(root, `${name} Intermediate CA`);
  const up = await api('POST', `/v1/tenants/${idScope}/cas`, {
    name: 'root',
    certificate: certificatePem(root.cert),
  });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const code = await api('POST', `/v1/tenants/${idScope}/cas/root/verification-code`);
  const proof = makeLeaf(root, code.body.verificationCode, { profile: 'verification' });
  const v = await api('POST', `/v1/tenants/${idScope}/cas/root/verify`, {
    certificate: certificatePem(proof.cert),
  });
  assert.equal(v.body.isVerified, true, JSON.stringify(v.body));
  return { idScope, root, intermediate, hubs };
}
