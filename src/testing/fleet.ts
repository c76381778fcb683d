/** Test helper: a scope with two hubs, a verified root CA and one enrollment group on it. */
import assert from 'node:assert/strict';
import { certificatePem } from '../pki/certificate.ts';
import type { adminClient } from './admin.ts';
import { makeRoot, type TestCa } from './pki.ts';

export interface Fleet {
  idScope: string;
  root: TestCa;
  hubs: string[];
}

/** Creates the scope `name` with group "fleet" on root CA "root" (marked verified) through `api`. */
export async function createFleet(
  api: ReturnType<typeof adminClient>,
  name: string,
  group: Record<string, unknown> = {},
): Promise<Fleet> {
  const t = await api('POST', '/v1/tenants', { name });
  assert.equal(t.status, 201, JSON.stringify(t.body));
  const idScope = t.body.idScope as string;
  const hubs = [`${name}-1.hubs.example`, `${name}-2.hubs.example`];
  for (const h of hubs) assert.equal((await api('PUT', `/v1/tenants/${idScope}/hubs/${h}`, {})).status, 200);
  const root = makeRoot(`${name} Root`);
  const up = await api('POST', `/v1/tenants/${idScope}/cas`, {
    name: 'root',
    certificate: certificatePem(root.cert),
    verified: true,
  });
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const g = await api('POST', `/v1/tenants/${idScope}/enrollment-groups`, {
    enrollmentGroupId: 'fleet',
    attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
    ...group,
  });
  assert.equal(g.status, 201, JSON.stringify(g.body));
  return { idScope, root, hubs };
}
