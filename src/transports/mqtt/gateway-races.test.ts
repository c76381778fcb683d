import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { certificatePem } from '../../pki/certificate.ts';
import { exportPrivateKeyPem } from '../../pki/keys.ts';
import { createTestDatabase, postgresProblem } from '../../store/testing.ts';
import { adminClient } from '../../testing/admin.ts';
import { makeLeaf, makeRoot } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const TEMPLATE = JSON.stringify({
  Parameters: {
    'AWS::IoT::Certificate::CommonName': { Type: 'String' },
    'AWS::IoT::Certificate::Id': { Type: 'String' },
  },
  Resources: {
    thing: {
      Type: 'AWS::IoT::Thing',
      Properties: {
        ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' },
        AttributePayload: { line: 'a' },
      },
      OverrideSettings: { AttributePayload: 'FAIL' },
    },
    certificate: {
      Type: 'AWS::IoT::Certificate',
      Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'ACTIVE' },
    },
    policy: {
      Type: 'AWS::IoT::Policy',
      Properties: {
        PolicyDocument: {
          Version: '2012-10-17',
          Statement: [
            { Effect: 'Allow', Action: 'iot:Publish', Resource: 'arn:aws:iot:*:*:topic/${iot:ClientId}/*' },
          ],
        },
      },
    },
  },
});

// One server on each store, and two servers on one PostgreSQL with the connections alternating.
for (const [dialect, count] of [
  ['sqlite', 1],
  ['postgres', 1],
  ['postgres', 2],
] as const) {
  const skip =
    dialect === 'postgres' && postgresProblem() !== null && !process.env.CI
      ? `PostgreSQL is not reachable (${postgresProblem()})`
      : false;
  const name = count === 1 ? dialect : `${count} servers on one ${dialect}`;
  describe(`JITP under racing first connections [${name}]`, { skip }, () => {
    let server: TestServer;
    const others: TestServer[] = [];
    let disposeDb: (() => Promise<void>) | undefined;
    before(async () => {
      let flags: Record<string, unknown> = {};
      if (dialect === 'postgres') {
        const db = await createTestDatabase();
        disposeDb = db.dispose;
        flags = { 'store.url': db.url };
      }
      server = await startTestServer({ flags });
      for (let i = 1; i < count; i++) others.push(await startTestServer({ flags }));
    });
    after(async () => {
      await server?.dispose();
      for (const o of others) await o.dispose();
      await disposeDb?.();
    });

    it('100 simultaneous first connections of 20 new devices leave 20 things, 20 certificates and their attachments, and no errors', async () => {
      const api = adminClient(server);
      const t = await api('POST', '/v1/tenants', { name: 'race', idScope: 'racescope' });
      assert.equal(t.status, 201);
      const root = makeRoot('Race Root');
      const up = await api('POST', '/v1/tenants/racescope/cas', {
        name: 'race-root',
        certificate: certificatePem(root.cert),
        verified: true,
      });
      assert.equal(up.status, 201, JSON.stringify(up.body));
      const reg = await api('PUT', '/v1/tenants/racescope/iot/cas/race-root', {
        allowAutoRegistration: true,
        registrationConfig: { templateBody: TEMPLATE },
      });
      assert.equal(reg.status, 200, JSON.stringify(reg.body));
      const devices = Array.from({ length: 20 }, (_, i) => makeLeaf(root, `racer-${i}`));
      const nodes = [server, ...others];
      const attempts = devices.flatMap((d, i) =>
        Array.from({ length: 5 }, (_, j) =>
          mqtt
            .connectAsync(`mqtts://localhost:${nodes[j % nodes.length]!.mqttPort}`, {
              clientId: `racer-${i}-${j}`,
              ca: certificatePem(nodes[j % nodes.length]!.devPki.root.certificate),
              cert: certificatePem(d.cert),
              key: exportPrivateKeyPem(d.key),
              reconnectPeriod: 0,
              connectTimeout: 60_000,
            })
            .then(async (c) => {
              await c.publishAsync(`racer-${i}-${j}/hello`, 'hi', { qos: 1 });
              await c.endAsync();
              return 'ok';
            }),
        ),
      );
      const results = await Promise.allSettled(attempts);
      const failures = results
        .filter((r) => r.status === 'rejected')
        .map((r) => String((r as PromiseRejectedResult).reason));
      assert.deepEqual(failures, []);
      const things = await api('GET', '/v1/tenants/racescope/iot/things?max=1000');
      assert.equal(things.body.items.length, 20);
      const certs = await api('GET', '/v1/tenants/racescope/iot/certificates?max=1000');
      assert.equal(certs.body.items.length, 20);
      assert.ok(certs.body.items.every((c: { status: string }) => c.status === 'ACTIVE'));
      for (const c of certs.body.items) {
        const a = await api('GET', `/v1/tenants/racescope/iot/certificates/${c.certificateId}/attachments`);
        assert.equal(a.body.things.length, 1);
        assert.match(c.subject, new RegExp(`CN=${a.body.things[0]}$`));
        assert.equal(a.body.policies.length, 1);
      }
      const policies = await api('GET', '/v1/tenants/racescope/iot/policies');
      assert.equal(policies.body.length, 1);
      for (const n of nodes)
        assert.ok(!n.logs.some((l) => /"level":(50|60)/.test(l)), 'no errors in the log');
    });
  });
}
