import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { certificatePem, parseCertificate } from '../../pki/certificate.ts';
import { createCsr } from '../../pki/csr.ts';
import { exportPrivateKeyPem, generateKey } from '../../pki/keys.ts';
import { adminClient } from '../../testing/admin.ts';
import { cliRunner } from '../../testing/cli.ts';
import { registerAndWait } from '../../testing/dps-client.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../../testing/dps.ts';
import { mosquittoPub } from '../../testing/jitp.ts';
import { canRunMosquitto, startMosquitto, type TestMosquitto } from '../../testing/mosquitto.ts';
import { makeLeaf, makeRoot, scratchDir } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const HUB = 'broker.plant.example';

describe(
  'a mosquitto hub: devices assigned there get a client and a role on a real Mosquitto',
  {
    skip: !canRunMosquitto() && 'Debian mosquitto with the dynamic-security plugin is not installed',
  },
  () => {
    let server: TestServer;
    let broker: TestMosquitto;
    let fx: DpsFixture;
    let api: ReturnType<typeof adminClient>;
    let ca: string;
    const dir = scratchDir('zt-mosquitto-');
    const { ok: run } = cliRunner(() => server, dir);
    const ok = (args: string[]) => run(...args, '--scope', fx.idScope);
    const csrRoot = makeRoot('Mosquitto Line Bootstrap CA');

    /** Writes a device's chain and key for mosquitto_pub. */
    function files(name: string, chainPem: string, keyPem: string) {
      const cert = join(dir, `${name}.chain.pem`);
      const key = join(dir, `${name}.key.pem`);
      writeFileSync(cert, chainPem);
      writeFileSync(key, keyPem, { mode: 0o600 });
      return { cert, key };
    }
    /** mosquitto_pub over MQTT 5, where a refused publish comes back as "Not authorized". */
    const publish = (dev: { cert: string; key: string }, topic: string) =>
      mosquittoPub({
        port: broker.tlsPort,
        cafile: broker.serverCaFile,
        cert: dev.cert,
        key: dev.key,
        args: ['-V', '5', '-q', '1', '-t', topic, '-m', 'hello'],
      });
    /** Waits until a publish is allowed (true) or refused (false), as the outbox catches up. */
    async function eventually(dev: { cert: string; key: string }, topic: string, allowed: boolean) {
      let last = '';
      for (let i = 0; i < 100; i++) {
        const r = await publish(dev, topic);
        last = r.stderr;
        const refused = /Not authori[sz]ed/.test(r.stderr);
        if (r.code === 0 && refused !== allowed) return;
        await sleep(100);
      }
      assert.fail(`publish to ${topic} was never ${allowed ? 'allowed' : 'refused'}; last stderr: ${last}`);
    }

    before(async () => {
      server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
      api = adminClient(server);
      fx = await dpsFixture(server, 'mqplant');
      ca = certificatePem(server.devPki.root.certificate);
      const ic = await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'line-ca' });
      assert.equal(ic.status, 201, JSON.stringify(ic.body));
      // The broker trusts the plant's root (devices with their own certificates) and the issuing CA.
      const deviceCas = join(dir, 'device-cas.pem');
      writeFileSync(deviceCas, certificatePem(fx.root.cert) + ic.body.certificate);
      broker = await startMosquitto(dir, deviceCas);
      const pw = join(dir, 'broker-password');
      writeFileSync(pw, broker.adminPassword);
      const linked = await ok([
        'hub',
        'link',
        HUB,
        '--kind',
        'mosquitto',
        '--mosquitto-url',
        broker.adminUrl,
        '--mosquitto-user',
        broker.adminUser,
        '--mosquitto-password-file',
        pw,
      ]);
      assert.match(linked, /linked broker\.plant\.example \(mosquitto/);
      await ok([
        'enrollment',
        'create',
        'mq-line',
        '--group',
        '--cert',
        writePem('intermediate.pem', certificatePem(fx.intermediate.cert)),
        '--hub',
        HUB,
        '--mqtt-acl',
        'publishClientSend devices/{deviceId}/telemetry allow',
        'subscribePattern devices/{deviceId}/commands allow',
      ]);
      await api('POST', `/v1/tenants/${fx.idScope}/cas`, {
        name: 'mq-bootstrap',
        certificate: certificatePem(csrRoot.cert),
        verified: true,
      });
      const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/mq-csr-line`, {
        attestation: { type: 'x509', x509: { caReferences: { primary: 'mq-bootstrap' } } },
        iotHubs: [HUB],
        certificateIssuancePolicy: { validityDays: 7, issuingCa: 'line-ca' },
      });
      assert.equal(g.status, 200, JSON.stringify(g.body));
    });
    after(async () => {
      await server?.dispose();
      await broker?.stop();
    });

    function writePem(name: string, pem: string): string {
      const f = join(dir, name);
      writeFileSync(f, pem);
      return f;
    }

    it('lets an assigned device publish only where its enrollment ACL allows, and drops it when disabled', async () => {
      const dev = makeDevice(fx.intermediate, 'mq-dev-1');
      const op = await registerAndWait(server.devicePort, ca, fx.idScope, dev);
      assert.equal(op.status, 'assigned', JSON.stringify(op));
      assert.equal(op.registrationState.assignedHub, HUB);
      const f = files('mq-dev-1', dev.chainPem, dev.keyPem);
      await eventually(f, 'devices/mq-dev-1/telemetry', true);
      // The ACL is the enrollment's: nothing else, and not another device's topics.
      assert.match((await publish(f, 'devices/mq-dev-1/other')).stderr, /Not authorized/);
      assert.match((await publish(f, 'devices/mq-dev-2/telemetry')).stderr, /Not authorized/);
      const role = broker.ctrl(['getRole', `zerotouch/${(await tenantId()) ?? ''}/mq-dev-1`]);
      assert.match(role, /publishClientSend\s*: allow : devices\/mq-dev-1\/telemetry/);

      assert.match(await ok(['device', 'disable', HUB, 'mq-dev-1', '--reason', 'stolen']), /is disabled/);
      await eventually(f, 'devices/mq-dev-1/telemetry', false);
      assert.match(broker.ctrl(['listClients']), /^(?![\s\S]*mq-dev-1)/);
      await ok(['device', 'enable', HUB, 'mq-dev-1']);
      await eventually(f, 'devices/mq-dev-1/telemetry', true);
    });

    it('refuses a device after its issued certificate is revoked', async () => {
      const boot = makeLeaf(csrRoot, 'mq-dev-csr');
      const key = generateKey('p256');
      const op = await registerAndWait(
        server.devicePort,
        ca,
        fx.idScope,
        {
          registrationId: 'mq-dev-csr',
          chainPem: certificatePem(boot.cert),
          keyPem: exportPrivateKeyPem(boot.key),
          sha256: boot.cert.sha256,
        },
        { csr: createCsr(key, { CN: 'mq-dev-csr' }).toString('base64') },
        { apiVersion: '2025-07-01-preview' },
      );
      assert.equal(op.status, 'assigned', JSON.stringify(op));
      const chain = (op.registrationState.issuedCertificateChain as string[]).map((b) =>
        parseCertificate(Buffer.from(b, 'base64')),
      );
      const f = files('mq-dev-csr', chain.map(certificatePem).join(''), exportPrivateKeyPem(key));
      await eventually(f, 'devices/mq-dev-csr/telemetry', true);
      // The registry knows the device by its issued certificate, the one it uses from now on.
      const d = await api('GET', `/v1/tenants/${fx.idScope}/devices/${HUB}/mq-dev-csr`);
      assert.equal(d.body.certificate.sha256Thumbprint, chain[0]!.sha256);

      const serial = chain[0]!.serialNumber;
      assert.match(await ok(['cert', 'revoke', serial]), /revoked/);
      const after = await api('GET', `/v1/tenants/${fx.idScope}/devices/${HUB}/mq-dev-csr`);
      assert.equal(after.body.status, 'disabled');
      assert.equal(after.body.statusReason, 'certificate revoked');
      await eventually(f, 'devices/mq-dev-csr/telemetry', false);
    });

    it('reconciles drift: a client deleted on the broker is made again, a stray one removed, a foreign one left alone', async () => {
      const dev = makeDevice(fx.intermediate, 'mq-dev-3');
      assert.equal((await registerAndWait(server.devicePort, ca, fx.idScope, dev)).status, 'assigned');
      const f = files('mq-dev-3', dev.chainPem, dev.keyPem);
      await eventually(f, 'devices/mq-dev-3/telemetry', true);
      // Someone removes it on the broker, and someone else made a client a device will need.
      broker.ctrl(['deleteClient', 'mq-dev-3']);
      broker.ctrl(['createClient', 'mq-dev-4', '-p', 'not-ours-password']);
      await eventually(f, 'devices/mq-dev-3/telemetry', false);
      const dev4 = makeDevice(fx.intermediate, 'mq-dev-4');
      assert.equal((await registerAndWait(server.devicePort, ca, fx.idScope, dev4)).status, 'assigned');

      // A client zerotouch made for this hub that no device needs any more (as a lost removal leaves it).
      const marker = `zerotouch ${await tenantId()} ${HUB} mq-ghost`;
      broker.ctrl(['createClient', 'mq-ghost', '-p', 'ghost-password']);
      broker.command({ command: 'modifyClient', username: 'mq-ghost', textname: marker });
      const dry = await ok(['hub', 'reconcile', HUB, '--dry-run']);
      assert.match(dry, /would be created: mq-dev-3/);
      assert.match(dry, /would be removed: mq-ghost/);
      assert.match(dry, /not managed by zerotouch \(left alone\): mq-dev-4/);
      assert.match(
        (await publish(f, 'devices/mq-dev-3/telemetry')).stderr,
        /Not authorized/,
        'a dry run changes nothing',
      );
      const done = await ok(['hub', 'reconcile', HUB]);
      assert.match(done, /^created: mq-dev-3$/m);
      assert.match(done, /^removed: mq-ghost$/m);
      assert.doesNotMatch(broker.ctrl(['listClients']), /mq-ghost/);
      await eventually(f, 'devices/mq-dev-3/telemetry', true);
      assert.match(broker.ctrl(['getClient', 'mq-dev-4']), /mq-dev-4/, 'the foreign client is still there');
      const again = JSON.parse(await ok(['hub', 'reconcile', HUB, '--json']));
      assert.deepEqual([again.created, again.updated, again.removed], [[], [], []]);

      // The operator's view: the broker's refusal of mq-dev-4 is in the outbox with its reason.
      const outbox = await api('GET', `/v1/tenants/${fx.idScope}/iot/webhook-deliveries`);
      const stuck = (outbox.body as Array<{ target: string; lastError?: string }>).find((m) =>
        m.lastError?.includes('mq-dev-4'),
      );
      assert.equal(stuck?.target, `mosquitto://${HUB}`);
      assert.match(stuck!.lastError!, /zerotouch did not make/);
    });

    it('hides the broker password in answers and keeps it when ******** is sent back', async () => {
      const hub = (await api('GET', `/v1/tenants/${fx.idScope}/hubs`)).body.find(
        (h: { hostName: string }) => h.hostName === HUB,
      );
      assert.equal(hub.mosquitto.password, '********');
      const again = await api('PUT', `/v1/tenants/${fx.idScope}/hubs/${HUB}`, {
        ...hub,
        hostName: undefined,
      });
      assert.equal(again.status, 200, JSON.stringify(again.body));
      const dry = JSON.parse(await ok(['hub', 'reconcile', HUB, '--dry-run', '--json']));
      assert.equal(dry.hub, HUB, 'the stored password still works');
      const bad = await api('PUT', `/v1/tenants/${fx.idScope}/hubs/${HUB}`, { kind: 'mosquitto' });
      assert.equal(bad.status, 200, 'the stored settings are kept when none are given');
      const none = await api('PUT', `/v1/tenants/${fx.idScope}/hubs/other.example`, { kind: 'mosquitto' });
      assert.equal(none.status, 400);
      assert.match(none.body.message, /needs mosquitto\.url/);
    });

    async function tenantId(): Promise<string | undefined> {
      const t = await api('GET', `/v1/tenants/${fx.idScope}`);
      return t.body.id;
    }
  },
);
