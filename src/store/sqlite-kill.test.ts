// An acknowledged registration survives kill -9 of the server on its embedded SQLite store
// (WAL, synchronous = NORMAL: a committed transaction is in the WAL file before the device is
// answered; only a power cut can lose the last ones, see docs/configuration.md).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificatePem } from '../pki/certificate.ts';
import { registerAndWait } from '../testing/dps-client.ts';
import { makeDevice } from '../testing/dps.ts';
import { makeRoot, scratchDir } from '../testing/pki.ts';
import { type ServerProcess, spawnServer } from '../testing/server-process.ts';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'zerotouch');

describe('kill -9 under registration load (SQLite)', () => {
  it('keeps every registration a device saw assigned, once, with the hub it was told', async () => {
    const dataDir = scratchDir('zt-kill-');
    let server: ServerProcess = await spawnServer([bin, 'server'], dataDir);
    const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(server.adminUrl + path, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: r.status, body: (await r.json().catch(() => undefined)) as any };
    };
    try {
      const scope = (await api('POST', '/v1/tenants', { name: 'kill' })).body.idScope as string;
      await api('PUT', `/v1/tenants/${scope}/hubs/kill-1.hubs.example`, {});
      await api('PUT', `/v1/tenants/${scope}/hubs/kill-2.hubs.example`, {});
      const root = makeRoot('Kill Root');
      const up = await api('POST', `/v1/tenants/${scope}/cas`, {
        name: 'root',
        certificate: certificatePem(root.cert),
        verified: true,
      });
      assert.equal(up.status, 201, JSON.stringify(up.body));
      const g = await api('POST', `/v1/tenants/${scope}/enrollment-groups`, {
        enrollmentGroupId: 'fleet',
        attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
      });
      assert.equal(g.status, 201, JSON.stringify(g.body));
      const ca = readFileSync(join(dataDir, 'pki/certs/dev-root.cert.pem'), 'utf8');
      const devices = Array.from({ length: 400 }, (_, i) => makeDevice(root, `kill-dev-${i}`));

      // Devices register 16 at a time until the server is killed; each answer "assigned" is kept.
      const assigned = new Map<string, string>();
      let next = 0;
      let killed = false;
      const lane = async () => {
        while (!killed && next < devices.length) {
          const d = devices[next++]!;
          const op = await registerAndWait(server.devicePort, ca, scope, d, {}, { pollMs: 20 }).catch(
            () => undefined,
          );
          if (op?.status === 'assigned') assigned.set(d.registrationId, op.registrationState.assignedHub);
        }
      };
      const lanes = Array.from({ length: 16 }, lane);
      while (assigned.size < 40) await sleep(20);
      server.child.kill('SIGKILL');
      killed = true;
      await Promise.all(lanes);
      await new Promise((r) => (server.child.exitCode !== null ? r(null) : server.child.once('exit', r)));

      server = await spawnServer([bin, 'server'], dataDir);
      const lost: string[] = [];
      for (const [id, hub] of assigned) {
        const r = await api('GET', `/v1/tenants/${scope}/registrations/${id}`);
        if (r.status !== 200 || r.body.status !== 'assigned' || r.body.assignedHub !== hub) lost.push(id);
      }
      assert.deepEqual(lost, [], `${lost.length} of ${assigned.size} acknowledged registrations lost`);
      // One record per device, whatever was in flight when the process died.
      const all = await api('GET', `/v1/tenants/${scope}/registrations?max=1000`);
      const ids = all.body.items.map((r: { registrationId: string }) => r.registrationId);
      assert.equal(new Set(ids).size, ids.length);
      console.log(`kill -9 after ${assigned.size} acknowledged registrations: ${ids.length} records, 0 lost`);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
