// The scope at a glance, from /metrics: registrations per minute, refusals by reason, certificates
// expiring within 30 days, CA expiry. Counters are sampled while the page is open.
import { useEffect, useState } from 'preact/hooks';
import { call } from '../api.js';
import { BarChart, ErrorBox, html, LineChart, Page, Table } from '../ui.js';

/** Prometheus text format to [{name, labels, value}] (the lines the console reads). */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]] = l[2].replace(/\\(.)/g, '$1');
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const sum = (rows, name, where = () => true) =>
  rows.filter((r) => r.name === name && where(r.labels)).reduce((a, r) => a + r.value, 0);

const SAMPLE_MS = 10_000;

export function Dashboard({ ctx }) {
  const [samples, setSamples] = useState([]);
  const [error, setError] = useState(null);
  useEffect(() => {
    let stop = false;
    const tick = async () => {
      try {
        const rows = parseMetrics((await call('GET', '/metrics', undefined, { text: true })).data);
        if (!stop) setSamples((s) => [...s.slice(-59), { t: Date.now(), rows }]);
        setError(null);
      } catch (e) {
        if (!stop) setError(e);
      }
    };
    tick();
    const timer = setInterval(tick, SAMPLE_MS);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, []);
  const tenant = ctx.tenants.find((t) => t.idScope === ctx.scope);
  const last = samples.at(-1)?.rows ?? [];
  // Registrations per minute between consecutive samples.
  const rate = samples.slice(1).map((s, i) => {
    const prev = samples[i];
    const d = sum(s.rows, 'zerotouch_registrations_total') - sum(prev.rows, 'zerotouch_registrations_total');
    return { t: s.t, v: Math.round((Math.max(0, d) * 60_000) / (s.t - prev.t)) };
  });
  const refusals = {};
  for (const r of last.filter((r) => r.name === 'zerotouch_device_refusals_total'))
    refusals[r.labels.code] = (refusals[r.labels.code] ?? 0) + r.value;
  const expiring = sum(last, 'zerotouch_certificates_expiring_30d', (l) => !tenant || l.tenant === tenant.id);
  const cas = last
    .filter(
      (r) => r.name === 'zerotouch_ca_expiry_timestamp_seconds' && (!tenant || r.labels.tenant === tenant.id),
    )
    .map((r) => ({ ...r.labels, at: new Date(r.value * 1000) }))
    .sort((a, b) => a.at - b.at);
  return html`<${Page} title="Dashboard">
    <${ErrorBox} error=${error} />
    <p class="lead">
      Server-wide counters from <code>/metrics</code>, sampled every ${SAMPLE_MS / 1000} s while this page is
      open.
    </p>
    <div class="tiles">
      <div class="tile">
        <span class="big">${sum(last, 'zerotouch_registrations_total')}</span> registrations since start
      </div>
      <div class="tile">
        <span class="big">${sum(last, 'zerotouch_certificates_issued_total')}</span> certificates issued
      </div>
      <div class="tile">
        <span class="big">${expiring}</span> certificates of this scope expiring within 30 days
      </div>
      <div class="tile">
        <span class="big">${sum(last, 'zerotouch_mqtt_connections')}</span> MQTT connections now
      </div>
    </div>
    <div class="charts">
      <${LineChart} label="Registrations per minute" points=${rate} />
      <${BarChart}
        label="Device refusals by reason"
        bars=${Object.entries(refusals)
          .sort((a, b) => b[1] - a[1])
          .slice(0, 10)
          .map(([label, v]) => ({ label, v }))}
      />
    </div>
    <h2>CA expiry in this scope</h2>
    <${Table}
      caption="CA expiry"
      rows=${cas}
      empty="No CA yet."
      columns=${[
        { label: 'CA', value: (c) => c.ca },
        { label: 'Kind', value: (c) => c.kind },
        { label: 'Expires', value: (c) => c.at.toLocaleDateString() },
        { label: 'Days left', value: (c) => String(Math.floor((c.at - Date.now()) / 86400e3)) },
      ]}
    />
  <//>`;
}
