/**
 * The Prometheus metrics of a server, served on the admin listener at /metrics. The JITP ones
 * carry AWS's metric names (ProvisionThing.Success, .ClientError, .ServerError) as the `result`
 * label of zerotouch_ProvisionThing_total, so dashboards built on CloudWatch port over.
 */
import { Counter, collectDefaultMetrics, Registry } from 'prom-client';
import type { GatewayMetrics } from './features/iot/gateway.ts';

export interface Metrics {
  registry: Registry;
  gateway: GatewayMetrics;
}

/** A registry with the process metrics and the gateway's counters. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'zerotouch_' });
  const provision = new Counter({
    name: 'zerotouch_ProvisionThing_total',
    help: 'JITP provisionings by result, as AWS IoT ProvisionThing.Success / ProvisionThing.ClientError / ProvisionThing.ServerError',
    labelNames: ['result'],
    registers: [registry],
  });
  const connections = new Counter({
    name: 'zerotouch_gateway_connections_total',
    help: 'Connection attempts at the MQTT device gateway by outcome, and for refusals the reason',
    labelNames: ['outcome', 'reason'],
    registers: [registry],
  });
  const messages = new Counter({
    name: 'zerotouch_gateway_denied_total',
    help: 'Publishes, subscriptions and deliveries a policy did not allow, by action',
    labelNames: ['action'],
    registers: [registry],
  });
  for (const result of ['Success', 'ClientError', 'ServerError']) provision.inc({ result }, 0);
  return {
    registry,
    gateway: {
      provisioned: (result) => provision.inc({ result }),
      connection: (outcome, reason) => connections.inc({ outcome, reason: reason ?? '' }),
      denied: (action) => messages.inc({ action }),
    },
  };
}
