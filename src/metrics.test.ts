import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from './pki/certificate.ts';
import { adminClient } from './testing/admin.ts';
import { registerAndWait } from './testing/dps-client.ts';
import { dpsFixture, type DpsFixture, makeDevice } from './testing/dps.ts';
import { makeRoot } from './testing/pki.ts';
import { startTestServer, type TestServer } from './testing/server.ts';

const DASHBOARD = join(import.meta.dirname, '..', 'contrib', 'grafana', 'zerotouch-dashboard.json');
const PANEL_TYPES = new Set(['timeseries', 'stat', 'bargauge', 'gauge', 'table', 'barchart', 'text']);

/** The value of one series in a Prometheus text exposition, 0 when absent. */
function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('/metrics and the Grafana dashboard', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let ca: string;
  const scrape = async () => {
    const token = readFileSync(server.adminTokenFile, 'utf8').trim();
    const res = await fetch(`${server.adminUrl}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200);
    return res.text();
  };

  before(async () => {
    server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
    fx = await dpsFixture(server, 'metered');
    ca = certificatePem(server.devPki.root.certificate);
    const api = adminClient(server);
    await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/metered`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
    });
    await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'metered-ca' });
  });
  after(async () => {
    await server?.dispose();
  });

  it('moves the counters while devices register and are refused, and reports expiry gauges', async () => {
    const before = await scrape();
    for (let i = 0; i < 3; i++)
      assert.equal(
        (
          await registerAndWait(
            server.devicePort,
            ca,
            fx.idScope,
            makeDevice(fx.intermediate, `metered-${i}`),
          )
        ).status,
        'assigned',
      );
    await registerAndWait(
      server.devicePort,
      ca,
      fx.idScope,
      makeDevice(makeRoot('Stranger'), 'stranger'),
    ).catch(() => undefined);
    const now = await scrape();
    const assigned = 'zerotouch_registrations_total{result="assigned"}';
    assert.equal(value(now, assigned) - value(before, assigned), 3);
    assert.ok(value(now, 'zerotouch_device_refusals_total{face="dps",code="CHAIN_UNKNOWN_ISSUER"}') >= 1);
    assert.match(
      now,
      /zerotouch_http_request_duration_seconds_bucket\{le="[\d.]+",listener="device",route="\/:idScope\/registrations\/:registrationId\/register",method="PUT",status="2xx"\}/,
    );
    // The plant's root from the fixture, and the issuing CA made above, each with its expiry.
    assert.match(
      now,
      new RegExp(`zerotouch_ca_expiry_timestamp_seconds\\{tenant="[^"]+",ca="root",kind="dps"\\} \\d{10}`),
    );
    assert.match(
      now,
      /zerotouch_ca_expiry_timestamp_seconds\{tenant="[^"]+",ca="metered-ca",kind="issuing"\} \d{10}/,
    );
    assert.match(now, /zerotouch_mqtt_connections \d+/);
  });

  it('ships a Grafana dashboard whose panels all query metrics the server exports', async () => {
    const d = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    assert.equal(typeof d.title, 'string');
    assert.equal(typeof d.uid, 'string');
    assert.ok(Number.isInteger(d.schemaVersion) && d.schemaVersion >= 36, 'a current dashboard schema');
    assert.ok(
      d.templating.list.some(
        (v: { type: string; name: string }) => v.type === 'datasource' && v.name === 'datasource',
      ),
    );
    const ids = new Set<number>();
    const exported = await scrape();
    for (const p of d.panels) {
      assert.ok(Number.isInteger(p.id) && !ids.has(p.id), `panel ids are unique integers (${p.id})`);
      ids.add(p.id);
      assert.ok(PANEL_TYPES.has(p.type), `${p.title}: panel type ${p.type}`);
      const g = p.gridPos;
      assert.ok(
        [g.x, g.y, g.w, g.h].every(Number.isInteger) && g.x + g.w <= 24,
        `${p.title}: gridPos within 24 columns`,
      );
      assert.equal(p.datasource.uid, '${datasource}');
      assert.ok(p.targets.length > 0);
      for (const t of p.targets) {
        assert.match(t.refId, /^[A-Z]$/);
        for (const metric of t.expr.match(/zerotouch_\w+/g) ?? []) {
          const base = metric.replace(/_bucket$/, '');
          assert.ok(exported.includes(`# TYPE ${base} `), `${p.title}: ${metric} is exported`);
        }
      }
    }
  });
});
