/**
 * The Prometheus metrics of a server, served on the admin listener at /metrics. The JITP ones
 * carry AWS's metric names (ProvisionThing.Success, .ClientError, .ServerError) as the `result`
 * label of zerotouch_ProvisionThing_total, so dashboards built on CloudWatch port over. The
 * fleet's counters come from the audit trail's records (one place says what happened); gauges of
 * CA expiry and soon-expiring certificates are read from the store at scrape time.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AuditInput } from './features/audit/types.ts';
import type { GatewayMetrics } from './features/iot/gateway.ts';

/** What the gauges read when Prometheus scrapes. */
export interface MetricSources {
  caExpiries(): Promise<Array<{ tenantId: string; name: string; kind: 'dps' | 'issuing'; notAfter: Date }>>;
  expiringSoon(days: number): Promise<Array<{ tenantId: string; count: number }>>;
  mqttConnections(): number;
}

export interface Metrics {
  registry: Registry;
  gateway: GatewayMetrics;
  /** Counts what an audit record says happened. */
  observe(e: AuditInput): void;
  /** Times one HTTP request of a listener (route = the route pattern, never the raw URL). */
  http(listener: string, route: string, method: string, status: number, seconds: number): void;
  /** Counts a store outage seen by a query. */
  storeUnavailable(): void;
  /** Sets where the gauges read from (once the services and listeners exist). */
  setSources(s: MetricSources): void;
}

/** A registry with the process metrics, the gateway's counters and the fleet's. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'zerotouch_' });
  const provision = new Counter({
    name: 'zerotouch_ProvisionThing_total',
    help: 'JITP provisionings by result, as AWS IoT ProvisionThing.Success / ProvisionThing.ClientError / ProvisionThing.ServerError',
    labelNames: ['result'],
    registers,
  });
  const connections = new Counter({
    name: 'zerotouch_gateway_connections_total',
    help: 'Connection attempts at the MQTT device gateway by outcome, and for refusals the reason',
    labelNames: ['outcome', 'reason'],
    registers,
  });
  const messages = new Counter({
    name: 'zerotouch_gateway_denied_total',
    help: 'Publishes, subscriptions and deliveries a policy did not allow, by action',
    labelNames: ['action'],
    registers,
  });
  const registrations = new Counter({
    name: 'zerotouch_registrations_total',
    help: 'DPS registrations that finished, by result (assigned or failed)',
    labelNames: ['result'],
    registers,
  });
  const refusals = new Counter({
    name: 'zerotouch_device_refusals_total',
    help: 'Device requests refused before an operation started, by face and zerotouch error code',
    labelNames: ['face', 'code'],
    registers,
  });
  const issued = new Counter({
    name: 'zerotouch_certificates_issued_total',
    help: 'Certificates issued, by method (est-simpleenroll, est-simplereenroll, est-serverkeygen, dps-csr, api, jitp)',
    labelNames: ['method'],
    registers,
  });
  const revoked = new Counter({
    name: 'zerotouch_certificates_revoked_total',
    help: 'Issued certificates revoked',
    registers,
  });
  const latency = new Histogram({
    name: 'zerotouch_http_request_duration_seconds',
    help: 'HTTP request time by listener (device, admin, aws), route pattern, method and status class',
    labelNames: ['listener', 'route', 'method', 'status'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });
  const storeErrors = new Counter({
    name: 'zerotouch_store_unavailable_total',
    help: 'Store queries that failed because the database could not be reached',
    registers,
  });
  let sources: MetricSources | undefined;
  new Gauge({
    name: 'zerotouch_ca_expiry_timestamp_seconds',
    help: 'When each CA certificate expires (Unix time): kind dps = uploaded CAs, issuing = issuing CAs',
    labelNames: ['tenant', 'ca', 'kind'],
    // Every worker reads the same store: across workers the value is one reading, not a sum.
    aggregator: 'max',
    registers,
    async collect() {
      this.reset();
      for (const c of (await sources?.caExpiries().catch(() => [])) ?? [])
        this.set({ tenant: c.tenantId, ca: c.name, kind: c.kind }, Math.floor(c.notAfter.getTime() / 1000));
    },
  });
  new Gauge({
    name: 'zerotouch_certificates_expiring_30d',
    help: 'Valid issued certificates that expire within 30 days, per tenant',
    labelNames: ['tenant'],
    // Every worker reads the same store: across workers the value is one reading, not a sum.
    aggregator: 'max',
    registers,
    async collect() {
      this.reset();
      for (const c of (await sources?.expiringSoon(30).catch(() => [])) ?? [])
        this.set({ tenant: c.tenantId }, c.count);
    },
  });
  new Gauge({
    name: 'zerotouch_mqtt_connections',
    help: 'MQTT connections open on this node (device gateway, DPS over MQTT, builtin hubs)',
    registers,
    collect() {
      this.set(sources?.mqttConnections() ?? 0);
    },
  });
  for (const result of ['Success', 'ClientError', 'ServerError']) provision.inc({ result }, 0);
  for (const result of ['assigned', 'failed']) registrations.inc({ result }, 0);
  return {
    registry,
    gateway: {
      provisioned: (result) => provision.inc({ result }),
      connection: (outcome, reason) => connections.inc({ outcome, reason: reason ?? '' }),
      denied: (action) => messages.inc({ action }),
    },
    observe(e) {
      switch (e.action) {
        case 'registration.assigned':
          return registrations.inc({ result: 'assigned' });
        case 'registration.failed':
          return registrations.inc({ result: 'failed' });
        case 'device.refused':
          return refusals.inc({ face: String(e.detail?.face ?? 'dps'), code: e.code ?? '' });
        case 'certificate.issued':
        case 'certificate.renewed':
          return issued.inc({ method: String(e.detail?.method ?? '') });
        case 'certificate.revoked':
          return revoked.inc();
      }
    },
    http(listener, route, method, status, seconds) {
      latency.observe({ listener, route, method, status: `${Math.floor(status / 100)}xx` }, seconds);
    },
    storeUnavailable: () => storeErrors.inc(),
    setSources(s) {
      sources = s;
    },
  };
}
