import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { certificatePem } from '../pki/certificate.ts';
import { adminClient } from '../testing/admin.ts';
import { type DeviceIdentity, dpsFixture, type DpsFixture, makeDevice } from '../testing/dps.ts';
import { deviceRequest, type RawResponse } from '../testing/dps-client.ts';
import { estRequest } from '../testing/est-client.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';
import { startTcpProxy, type TcpProxy } from '../testing/tcp-proxy.ts';
import { TEST_PG_URL } from './testing.ts';

const pgUp = await new pg.Client({ connectionString: TEST_PG_URL, connectionTimeoutMillis: 3000 })
  .connect()
  .then(
    (c) => c.end().then(() => true),
    () => false,
  );
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(
  'a PostgreSQL outage under load',
  { skip: pgUp || process.env.CI ? false : `PostgreSQL at ${TEST_PG_URL} is not reachable` },
  () => {
    let proxy: TcpProxy;
    let server: TestServer;
    let fx: DpsFixture;
    let ca: string;
    let api: ReturnType<typeof adminClient>;
    const database = `zt_outage_${process.pid}`;
    const admin = () => new pg.Client({ connectionString: TEST_PG_URL });

    before(async () => {
      const c = admin();
      await c.connect();
      await c.query(`drop database if exists ${database}`);
      await c.query(`create database ${database}`);
      await c.end();
      const target = new URL(TEST_PG_URL);
      proxy = await startTcpProxy(Number(target.port || 5432), target.hostname);
      target.host = `127.0.0.1:${proxy.port}`;
      target.pathname = `/${database}`;
      server = await startTestServer({ logLevel: 'info', flags: { 'store.url': target.toString() } });
      api = adminClient(server);
      fx = await dpsFixture(server, 'outage');
      ca = certificatePem(server.devPki.root.certificate);
      const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/line`, {
        attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
      });
      assert.equal(g.status, 200);
      assert.equal(
        (await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'est-ca' })).status,
        201,
      );
      assert.equal((await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/outage`, {})).status, 200);
    });
    after(async () => {
      await server?.dispose();
      await proxy?.close();
      const c = admin();
      await c.connect();
      await c.query(`drop database if exists ${database} with (force)`);
      await c.end();
    });

    const register = (dev: DeviceIdentity) =>
      deviceRequest(
        server.devicePort,
        ca,
        dev,
        'PUT',
        `/${fx.idScope}/registrations/${dev.registrationId}/register?api-version=2021-06-01`,
        JSON.stringify({ registrationId: dev.registrationId }),
      );
    const poll = (dev: DeviceIdentity, operationId: string) =>
      deviceRequest(
        server.devicePort,
        ca,
        dev,
        'GET',
        `/${fx.idScope}/registrations/${dev.registrationId}/operations/${operationId}?api-version=2021-06-01`,
      );

    it('answers 503 with Retry-After on every face while the database is gone, never 500, and recovers without a restart', async () => {
      // Load: devices registering back to back while the connection is cut and restored.
      const statuses: number[] = [];
      let loading = true;
      const load = (async () => {
        for (let i = 0; loading; i++) {
          const r = await register(makeDevice(fx.intermediate, `load-${i}`)).catch(() => undefined);
          if (r) statuses.push(r.status);
        }
      })();
      await sleep(300);

      // A registration whose assignment may meet the outage: it ends assigned or failed with 503001.
      const inFlight = makeDevice(fx.intermediate, 'in-flight');
      const started = await register(inFlight);
      assert.equal(started.status, 202, started.text);
      proxy.cut();

      const dps = await register(makeDevice(fx.intermediate, 'during-outage'));
      assert.equal(dps.status, 503, dps.text);
      assert.equal(dps.json.errorCode, 503001);
      assert.equal(dps.headers['retry-after'], '5');
      assert.match(dps.json.message, /store is not reachable right now/);
      const est = await estRequest(
        { port: server.devicePort, ca, path: '/.well-known/est/outage' },
        'GET',
        'cacerts',
        {},
      );
      assert.equal(est.status, 503);
      assert.equal(est.headers['retry-after'], '5');
      const adm = await api('GET', '/v1/tenants');
      assert.equal(adm.status, 503, JSON.stringify(adm.body));
      assert.equal(adm.body.code, 'STORE_UNAVAILABLE');
      assert.equal((await fetch(`${server.adminUrl}/readyz`)).status, 503);

      await sleep(500);
      proxy.restore();
      let op: RawResponse | undefined;
      for (let i = 0; i < 50; i++) {
        op = await poll(inFlight, started.json.operationId);
        if (op.status === 200) break;
        await sleep(100);
      }
      assert.equal(op!.status, 200, op!.text);
      if (op!.json.status === 'failed') {
        assert.equal(op!.json.registrationState.errorCode, 503001);
        assert.match(op!.json.registrationState.errorMessage, /store is unavailable; register again/);
      } else assert.equal(op!.json.status, 'assigned');

      // Recovered, same process: devices register again.
      let after: RawResponse | undefined;
      for (let i = 0; i < 50; i++) {
        after = await register(makeDevice(fx.intermediate, 'after-outage'));
        if (after.status === 202) break;
        await sleep(100);
      }
      assert.equal(after!.status, 202, after!.text);
      assert.equal((await fetch(`${server.adminUrl}/readyz`)).status, 200);
      loading = false;
      await load;
      assert.ok(statuses.length > 0);
      assert.deepEqual(
        [...new Set(statuses)].filter((s) => s !== 202 && s !== 503 && s !== 429),
        [],
        `statuses seen under load: ${[...new Set(statuses)].join(', ')}`,
      );
      const internal = server.logs.filter((l) => /"level":50/.test(l));
      assert.deepEqual(internal, [], 'no internal errors logged');
    });
  },
);
