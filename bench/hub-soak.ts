/**
 * Builtin-hub soak: N devices (default 1000) registered through DPS, connected to the builtin hub
 * over MQTT, each reporting a property every second for S seconds (default 60). Prints what the
 * server stored against what the devices sent, and the server's CPU time and memory per
 * connected device. Not a ratio scenario: run it as `node --expose-gc bench/hub-soak.ts [devices] [seconds]`.
 * The devices are raw mqtt.js clients speaking the IoT Hub topics (the Azure SDK's would cost the
 * client side more than the server under test).
 */
import { randomUUID } from 'node:crypto';
import mqtt from 'mqtt';
import { certificatePem } from '../src/pki/certificate.ts';
import { adminClient } from '../src/testing/admin.ts';
import { dpsFixture, makeDevice } from '../src/testing/dps.ts';
import { startTestServer } from '../src/testing/server.ts';

const devices = Number(process.argv[2] ?? 1000);
const seconds = Number(process.argv[3] ?? 60);
const say = (m: string) => process.stderr.write(`${m}\n`);

const server = await startTestServer({
  logLevel: 'warn',
  flags: { 'device.max_connections_per_source': 0, 'device.auth_failures_per_minute': 0 },
});
try {
  const fx = await dpsFixture(server, 'soak');
  const api = adminClient(server);
  await api('PUT', `/v1/tenants/${fx.idScope}/hubs/localhost`, { kind: 'builtin' });
  await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/soak`, {
    enrollmentGroupId: 'soak',
    attestation: {
      type: 'x509',
      x509: { signingCertificates: { primary: { certificate: certificatePem(fx.intermediate.cert) } } },
    },
    iotHubs: ['localhost'],
  });
  const tenant = await server.services.tenants.getTenant(fx.idScope);
  say(
    `registering ${devices} devices through DPS (service call, as the assignment a DPS registration makes)`,
  );
  const ids = [];
  for (let i = 0; i < devices; i++) {
    const d = makeDevice(fx.intermediate, `soak-${i}`);
    const { loadCertificates } = await import('../src/pki/certificate.ts');
    const op = await server.services.registrations.register(
      fx.idScope,
      d.registrationId,
      { registrationId: d.registrationId },
      {
        chain: loadCertificates(d.chainPem),
      },
    );
    let state = op;
    for (let k = 0; k < 50 && state.status !== 'assigned'; k++) {
      await new Promise((r) => setTimeout(r, 20));
      state = await server.services.registrations.operation(
        fx.idScope,
        d.registrationId,
        op.operationId,
        loadCertificates(d.chainPem),
      );
    }
    ids.push(d);
  }
  global.gc?.();
  const memIdle = process.memoryUsage();
  say(`connecting ${devices} devices to the builtin hub`);
  const ca = certificatePem(server.devPki.root.certificate);
  const clients: mqtt.MqttClient[] = [];
  for (let i = 0; i < ids.length; i += 50) {
    clients.push(
      ...(await Promise.all(
        ids.slice(i, i + 50).map((d) =>
          mqtt.connectAsync(`mqtts://localhost:${server.mqttPort}`, {
            clientId: d.registrationId,
            username: `localhost/${d.registrationId}/?api-version=2021-04-12`,
            ca,
            cert: d.chainPem,
            key: d.keyPem,
            reconnectPeriod: 0,
            connectTimeout: 60_000,
          }),
        ),
      )),
    );
  }
  const acked = new Map<mqtt.MqttClient, number>();
  for (const c of clients) {
    acked.set(c, 0);
    c.on('message', (topic) => {
      if (topic.startsWith('$iothub/twin/res/204/')) acked.set(c, (acked.get(c) ?? 0) + 1);
    });
    await c.subscribeAsync('$iothub/twin/res/#', { qos: 0 });
  }
  global.gc?.();
  const memConnected = process.memoryUsage();
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  say(`each device reports a property every second for ${seconds} s`);
  let sent = 0;
  for (let s = 1; s <= seconds; s++) {
    clients.forEach((c, i) => {
      c.publish(
        `$iothub/twin/PATCH/properties/reported/?$rid=${randomUUID()}`,
        JSON.stringify({ tick: s, device: i }),
        { qos: 0 },
      );
      sent++;
    });
    const wait = t0 + s * 1000 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  // Let the last second's answers arrive.
  for (let k = 0; k < 100 && [...acked.values()].reduce((a, b) => a + b, 0) < sent; k++)
    await new Promise((r) => setTimeout(r, 100));
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const mem = process.memoryUsage();
  const answered = [...acked.values()].reduce((a, b) => a + b, 0);
  let stored = 0;
  for (const d of ids) {
    const dev = await server.services.registry.get(tenant.id, 'localhost', d.registrationId);
    if (dev.twin.properties.reported.tick === seconds) stored++;
  }
  for (const c of clients) c.end(true);
  const line = [
    `${devices} devices x ${seconds} s: ${sent} reported patches sent, ${answered} answered 204, ${stored}/${devices} devices hold the last tick`,
    `process CPU (server and clients share it) ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s over ${elapsed.toFixed(1)} s = ${((cpu.user + cpu.system) / 1e3 / elapsed / devices).toFixed(3)} ms per device-second`,
    `memory per connected device (server and its client together, after GC): heap ${((memConnected.heapUsed - memIdle.heapUsed) / 2 ** 10 / devices).toFixed(1)} KB, rss ${((memConnected.rss - memIdle.rss) / 2 ** 10 / devices).toFixed(1)} KB; after the run: heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MB, rss ${(mem.rss / 2 ** 20).toFixed(0)} MB`,
  ];
  process.stdout.write(line.join('\n') + '\n');
} finally {
  await server.dispose();
}
