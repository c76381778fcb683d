import assert from 'node:assert/strict';
import type { Agent } from 'node:https';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { WebSocket } from 'ws';
import { certificatePem } from '../../pki/certificate.ts';
import { adminClient } from '../../testing/admin.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { scratchDir } from '../../testing/pki.ts';
import { hasCommand, startTinyproxy, type TestProxy, TunnelAgent } from '../../testing/proxy.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

describe('MQTT over WebSockets on the device HTTPS listener', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let ca: string;
  let proxy: TestProxy | undefined;
  const dir = scratchDir('zt-mqttws-');

  before(async () => {
    server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
    fx = await dpsFixture(server, 'wsplant');
    ca = certificatePem(server.devPki.root.certificate);
    const api = adminClient(server);
    const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/ws-line`, {
      enrollmentGroupId: 'ws-line',
      attestation: {
        type: 'x509',
        x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
      },
    });
    assert.equal(g.status, 200, JSON.stringify(g.body));
    if (hasCommand('tinyproxy')) proxy = await startTinyproxy(dir, 'fleet', 'pr0xy-secret');
  });
  after(async () => {
    proxy?.stop();
    await server?.dispose();
  });

  /** Registers a device with DPS over MQTT carried by a WebSocket, optionally through a proxy agent. */
  async function registerOverWs(registrationId: string, agent?: Agent) {
    const dev = makeDevice(fx.intermediate, registrationId);
    const client = await mqtt.connectAsync(`wss://localhost:${server.devicePort}/$iothub/websocket`, {
      clientId: registrationId,
      username: `${fx.idScope}/registrations/${registrationId}/api-version=2019-03-31`,
      protocolVersion: 4,
      ca,
      cert: dev.chainPem,
      key: dev.keyPem,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      ...(agent ? { wsOptions: { agent } } : {}),
    });
    try {
      await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
      const answers: Array<{ status: number; body: any }> = [];
      client.on('message', (topic, payload) =>
        answers.push({
          status: Number(/res\/(\d+)\//.exec(topic)![1]),
          body: JSON.parse(payload.toString()),
        }),
      );
      await client.publishAsync(
        '$dps/registrations/PUT/iotdps-register/?$rid=1',
        JSON.stringify({ registrationId }),
        { qos: 1 },
      );
      for (let i = 0; i < 50 && answers.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      const op = answers[0]!.body.operationId as string;
      for (let poll = 2; poll < 20; poll++) {
        await new Promise((r) => setTimeout(r, 1000));
        const n = answers.length;
        await client.publishAsync(
          `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${poll}&operationId=${op}`,
          '',
          { qos: 1 },
        );
        for (let i = 0; i < 50 && answers.length === n; i++) await new Promise((r) => setTimeout(r, 100));
        const last = answers.at(-1)!;
        if (last.body.status === 'assigned') return last.body.registrationState;
      }
      throw new Error('not assigned');
    } finally {
      await client.endAsync();
    }
  }

  it('registers a device through DPS over MQTT in a WebSocket at /$iothub/websocket', async () => {
    const state = await registerOverWs('ws-device-01');
    assert.match(state.assignedHub, /wsplant-/);
  });

  it(
    'does the same through an HTTPS proxy with Basic authentication (tinyproxy)',
    { skip: hasCommand('tinyproxy') ? false : 'tinyproxy is not installed' },
    async () => {
      const state = await registerOverWs(
        'ws-device-02',
        new TunnelAgent(proxy!.port, 'fleet', 'pr0xy-secret'),
      );
      assert.match(state.assignedHub, /wsplant-/);
      assert.match(proxy!.log(), new RegExp(`CONNECT localhost:${server.devicePort}`));
      // The MQTT port is not involved: every byte went through 443's stand-in.
      assert.doesNotMatch(proxy!.log(), new RegExp(`CONNECT localhost:${server.mqttPort}`));
    },
  );

  it('answers other upgrade paths with 404', async () => {
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const ws = new WebSocket(`wss://localhost:${server.devicePort}/not-mqtt`, 'mqtt', { ca });
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode);
        ws.terminate();
      });
      ws.on('open', () => reject(new Error('the upgrade was accepted')));
      ws.on('error', () => undefined);
    });
    assert.equal(status, 404);
  });
});
