/**
 * Scenario (b): mutual-TLS connections per second on the device listener (full handshake with a
 * client certificate, then GET /healthz) against a bare node:tls server with the same TLS options
 * and certificates that answers the same bytes; each server in its own process.
 */
import { startBareTlsProcess, startServerProcess } from './server-process.ts';
import type { Scenario } from './harness.ts';

const CONCURRENCY = 4;

export const mtls: Scenario = {
  name: 'device listener: mTLS handshake + GET /healthz',
  unit: 'conn/s',
  baselineName: 'bare node:tls',
  async setup() {
    // The server runs at the production log level: fastify logs each request, as in production.
    const server = await startServerProcess('mtls');
    const bare = await startBareTlsProcess(server, CONCURRENCY);
    return {
      scenario: bare.runnerFor(server.devicePort, server.cpuSeconds),
      baseline: bare.runnerFor(bare.port, bare.cpuSeconds),
      async teardown() {
        await bare.close();
        await server.close();
      },
    };
  },
};
