import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem, loadCertificates } from '../pki/certificate.ts';
import { adminClient } from '../testing/admin.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../testing/dps.ts';
import { makeLeaf, makeRoot, scratchDir } from '../testing/pki.ts';
import { exportPrivateKeyPem } from '../pki/keys.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';
import { DeviceAgent } from './agent.ts';
import { loadAgentConfig, parseAgentConfig } from './config.ts';

describe('device agent', () => {
  let server: TestServer;
  let fx: DpsFixture;
  let api: ReturnType<typeof adminClient>;
  const dir = scratchDir('zt-agent-');
  const p = (f: string) => join(dir, f);
  const quiet = { echo: () => {} };

  /** Writes an aziot config.toml for this test server and loads it. */
  function config(name: string, body: string) {
    const file = p(`${name}.toml`);
    writeFileSync(
      file,
      `hostname = "test-device"\ntrust_bundle_cert = "file://${p('server-root.pem')}"\n` +
        `[agent_state]\ndir = "${p(`state-${name}`)}"\n` +
        `[provisioning]\nsource = "dps"\nglobal_endpoint = "https://localhost:${server.devicePort}"\nid_scope = "${fx.idScope}"\n` +
        body,
    );
    return loadAgentConfig(file, {});
  }

  before(async () => {
    server = await startTestServer({ logLevel: 'warn', flags: { 'dps.retry_after_seconds': 1 } });
    api = adminClient(server);
    fx = await dpsFixture(server, 'agent');
    writeFileSync(p('server-root.pem'), certificatePem(server.devPki.root.certificate));
    const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/agents`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
    });
    assert.equal(g.status, 200);
    const ca = await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'est-ca' });
    assert.equal(ca.status, 201);
    const eg = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/est-devices`, {
      attestation: { type: 'x509', x509: { caReferences: { primary: 'est-ca' } } },
    });
    assert.equal(eg.status, 200);
    await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/agents`, { profile: 'device-1d' });
    await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/agents/users/agent`, {
      password: 'agent-password-1',
    });
  });
  after(async () => {
    await server?.dispose();
  });

  it('provisions a file identity, caches the assignment and starts offline from the cache', async () => {
    const dev = makeDevice(fx.intermediate, 'file-device-01');
    writeFileSync(p('file-device.pem'), dev.chainPem);
    writeFileSync(p('file-device.key'), dev.keyPem);
    writeFileSync(p('payload.json'), '{"model":"x1"}');
    const cfg = config(
      'file',
      `payload = { uri = "file://${p('payload.json')}" }\n[provisioning.attestation]\nmethod = "x509"\nregistration_id = "file-device-01"\n` +
        `identity_cert = "file://${p('file-device.pem')}"\nidentity_pk = "file://${p('file-device.key')}"\n`,
    );
    const agent = new DeviceAgent(cfg, quiet);
    const first = await agent.start();
    assert.equal(first.assignment.deviceId, 'file-device-01');
    assert.ok(fx.hubs.includes(first.assignment.assignedHub));

    // Dynamic (default): the next start uses the cache, even with DPS unreachable.
    const offline = new DeviceAgent(
      { ...cfg, dps: { ...cfg.dps, globalEndpoint: 'https://127.0.0.1:1' } },
      quiet,
    );
    const again = await offline.start();
    assert.deepEqual(again.assignment, first.assignment);
    // AlwaysOnStartup asks DPS every start; offline it still starts from the cache.
    const always = new DeviceAgent(
      {
        ...cfg,
        autoReprovisioningMode: 'AlwaysOnStartup',
        dps: { ...cfg.dps, globalEndpoint: 'https://127.0.0.1:1' },
      },
      quiet,
    );
    const r = await always.start();
    assert.equal(r.assignment.deviceId, 'file-device-01');
    assert.equal(always.state.readJson<any>('status').state, 'offline');
  });

  it('gets an EST identity, renews it at the threshold and registers the new certificate before committing it', async () => {
    const cfg = config(
      'est',
      `[provisioning.attestation]\nmethod = "x509"\nregistration_id = "est-device-01"\nidentity_pk = "file://${p('unused.key')}"\n` +
        `[provisioning.attestation.identity_cert]\nmethod = "est"\ncommon_name = "est-device-01"\n` +
        `[provisioning.attestation.identity_cert.auto_renew]\nrotate_key = true\nthreshold = "80%"\nretry = "4%"\n` +
        `[cert_issuance.est]\ntrusted_certs = ["file://${p('server-root.pem')}"]\n` +
        `[cert_issuance.est.auth]\nusername = "agent"\npassword = "agent-password-1"\n` +
        `[cert_issuance.est.urls]\ndefault = "https://localhost:${server.devicePort}/.well-known/est/agents"\n`,
    );
    const agent = new DeviceAgent(cfg, quiet);
    const first = await agent.start();
    assert.equal(first.assignment.deviceId, 'est-device-01');
    const leaf1 = first.identity.chain[0]!;
    const lifetime = leaf1.notAfter.getTime() - leaf1.notBefore.getTime();
    assert.equal(first.nextRenewal!.getTime(), leaf1.notAfter.getTime() - lifetime * 0.2);

    // 85% of the lifetime later: renewal is due at start; it re-registers, then commits.
    const later = new Date(leaf1.notBefore.getTime() + lifetime * 0.85);
    const renewing = new DeviceAgent(cfg, { ...quiet, now: () => later });
    const second = await renewing.start();
    const leaf2 = second.identity.chain[0]!;
    assert.notEqual(leaf2.serialNumber, leaf1.serialNumber);
    assert.equal(
      loadCertificates(renewing.state.readCredential('device-identity')!.certPem)[0]!.sha256,
      leaf2.sha256,
    );
    const dev = await api(
      'GET',
      `/v1/tenants/${fx.idScope}/devices/${second.assignment.assignedHub}/est-device-01`,
    );
    assert.equal(dev.body.certificate.sha256Thumbprint, leaf2.sha256, 'the registry has the new certificate');

    // With the server unreachable at renewal time the old identity stays and a retry is set at 4%.
    const lifetime2 = leaf2.notAfter.getTime() - leaf2.notBefore.getTime();
    const due = new Date(leaf2.notBefore.getTime() + lifetime2 * 0.9);
    const down = new DeviceAgent(
      { ...cfg, est: { ...cfg.est!, defaultUrl: 'https://127.0.0.1:1/.well-known/est/agents' } },
      { ...quiet, now: () => due },
    );
    const r = await down.renew(second.identity);
    assert.equal(r.ok, false);
    assert.equal(r.retryMs, lifetime2 * 0.04);
    assert.equal(
      down.state.readCredential('device-identity')!.certPem,
      renewing.state.readCredential('device-identity')!.certPem,
    );
  });

  it('leaves a usable identity when it dies in the middle of a renewal', async () => {
    const cfg = config(
      'crash',
      `[provisioning.attestation]\nmethod = "x509"\nidentity_pk = "file://${p('unused.key')}"\n` +
        `[provisioning.attestation.identity_cert]\nmethod = "est"\ncommon_name = "crash-device-01"\n` +
        `[provisioning.attestation.identity_cert.auto_renew]\nthreshold = "50%"\nretry = "1%"\n` +
        `[cert_issuance.est]\n[cert_issuance.est.auth]\nusername = "agent"\npassword = "agent-password-1"\n` +
        `[cert_issuance.est.urls]\ndefault = "https://localhost:${server.devicePort}/.well-known/est/agents"\n`,
    );
    const agent = new DeviceAgent(cfg, quiet);
    const first = await agent.start();
    const leaf = first.identity.chain[0]!;
    const later = new Date(
      leaf.notBefore.getTime() + (leaf.notAfter.getTime() - leaf.notBefore.getTime()) * 0.6,
    );
    const dying = new DeviceAgent(cfg, { ...quiet, now: () => later });
    dying.state.crashPoint = () => {
      throw new Error('simulated power loss');
    };
    const r = await dying.renew(first.identity);
    assert.equal(r.ok, false);
    // what is on disk is the old, complete pair, and it still registers
    const afterCrash = new DeviceAgent(cfg, quiet);
    const id = afterCrash.currentIdentity()!;
    assert.equal(id.chain[0]!.sha256, leaf.sha256);
    const again = await afterCrash.start({ forceProvision: true });
    assert.equal(again.assignment.deviceId, 'crash-device-01');
  });

  it('gets an EST identity with a bootstrap certificate, and falls back to it when that identity has expired', async () => {
    const maker = makeRoot('Agent Manufacturer');
    await api('POST', `/v1/tenants/${fx.idScope}/cas`, {
      name: 'agent-maker',
      certificate: certificatePem(maker.cert),
      verified: true,
    });
    const l = await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/boot`, {
      basicAuth: false,
      bootstrapCas: ['agent-maker'],
      profile: 'device-1d',
    });
    assert.equal(l.status, 200, JSON.stringify(l.body));
    const boot = makeLeaf(maker, 'idevid-boot-01');
    writeFileSync(p('boot.pem'), certificatePem(boot.cert));
    writeFileSync(p('boot.key'), exportPrivateKeyPem(boot.key));
    const cfg = config(
      'boot',
      `[provisioning.attestation]\nmethod = "x509"\nidentity_pk = "file://${p('unused.key')}"\n` +
        `[provisioning.attestation.identity_cert]\nmethod = "est"\ncommon_name = "boot-device-01"\n` +
        `[provisioning.attestation.identity_cert.auto_renew]\nthreshold = "80%"\nretry = "4%"\n` +
        `[cert_issuance.est]\n[cert_issuance.est.auth]\nbootstrap_identity_cert = "file://${p('boot.pem')}"\nbootstrap_identity_pk = "file://${p('boot.key')}"\n` +
        `[cert_issuance.est.urls]\ndefault = "https://localhost:${server.devicePort}/.well-known/est/boot"\n`,
    );
    const agent = new DeviceAgent(cfg, quiet);
    const first = await agent.start();
    assert.equal(first.assignment.deviceId, 'boot-device-01');
    const estId = loadCertificates(agent.state.readCredential('est-identity')!.certPem)[0]!;
    const issued = await api('GET', `/v1/tenants/${fx.idScope}/certificates?subject=boot-device-01`);
    assert.deepEqual(
      issued.body.items.map((c: any) => c.requester).sort(),
      ['est-bootstrap:CN=idevid-boot-01', `est-cert:CN=boot-device-01`],
      'the EST identity came from the bootstrap certificate; the device certificate from that identity',
    );

    // a day and more later both certificates have expired: renewal asks the bootstrap certificate again
    const later = new Date(estId.notAfter.getTime() + 3600_000);
    const logs: string[] = [];
    const watching = new DeviceAgent(cfg, { now: () => later, echo: (l) => logs.push(l) });
    const r = await watching.renew(first.identity);
    assert.equal(r.ok, true, logs.join('\n'));
    assert.ok(
      logs.some((l) =>
        /the EST identity certificate has expired; asking for a new one with the bootstrap certificate/.test(
          l,
        ),
      ),
    );
    assert.notEqual(
      loadCertificates(watching.state.readCredential('est-identity')!.certPem)[0]!.sha256,
      estId.sha256,
    );
  });

  it('names the key path of every configuration mistake', () => {
    const base = { provisioning: { source: 'dps', global_endpoint: 'https://x', id_scope: 's' } } as Record<
      string,
      any
    >;
    const cases: Array<[Record<string, any>, RegExp]> = [
      [{}, /provisioning: is required/],
      [
        { provisioning: { ...base.provisioning, source: 'manual' } },
        /provisioning.source: the agent provisions through DPS/,
      ],
      [
        { provisioning: { ...base.provisioning, attestation: { method: 'tpm' } } },
        /provisioning.attestation.method: only "x509"/,
      ],
      [
        {
          provisioning: {
            ...base.provisioning,
            attestation: { method: 'x509', identity_cert: 'device.pem', identity_pk: 'file:///k' },
          },
        },
        /provisioning.attestation.identity_cert: must be a file URI like "file:\/\/\/var\/secrets\/device-id.pem", or a table with method = "est" \(got "device.pem"\)/,
      ],
      [
        {
          provisioning: {
            ...base.provisioning,
            attestation: {
              method: 'x509',
              identity_pk: 'file:///k',
              identity_cert: { method: 'est', common_name: 'd', auto_renew: { threshold: '85' } },
            },
          },
          cert_issuance: { est: { auth: { username: 'u', password: 'p' }, urls: { default: 'https://e' } } },
        },
        /provisioning.attestation.identity_cert.auto_renew.threshold: "85" is not a policy; write e.g. "80%"/,
      ],
      [
        {
          provisioning: {
            ...base.provisioning,
            attestation: {
              method: 'x509',
              identity_pk: 'file:///k',
              identity_cert: { method: 'est', common_name: 'd' },
            },
          },
        },
        /cert_issuance.est: is required when identity_cert.method = "est"/,
      ],
      [
        {
          ...base,
          provisioning: {
            ...base.provisioning,
            attestation: { method: 'x509', identity_cert: 'file:///c', identity_pk: 'file:///k' },
          },
          auto_reprovisioning_mode: 'Sometimes',
        },
        /auto_reprovisioning_mode: must be Dynamic, AlwaysOnStartup or OnErrorOnly/,
      ],
      [
        {
          provisioning: {
            ...base.provisioning,
            attestation: { method: 'x509', identity_cert: 'file:///c', identity_pk: 'file:///k' },
          },
          https_proxy: 'socks5://p:1080',
        },
        /https_proxy: the proxy URL must be http:\/\//,
      ],
      [
        {
          provisioning: {
            ...base.provisioning,
            attestation: { method: 'x509', identity_cert: 'file:///c', identity_pk: 'file:///k' },
          },
          zerotouch: { dps_transport: 'amqp' },
        },
        /zerotouch.dps_transport: must be "https", "mqtt" or "mqtt-ws"/,
      ],
      [
        {
          provisioning: {
            ...base.provisioning,
            attestation: {
              method: 'x509',
              identity_cert: 'file:///c',
              identity_pk: 'pkcs11:token=t;object=o?pin-value=1234',
            },
          },
          zerotouch: { dps_transport: 'mqtt' },
        },
        /zerotouch.dps_transport: "mqtt" needs the identity key in a file/,
      ],
      [
        {
          provisioning: {
            ...base.provisioning,
            attestation: { method: 'x509', identity_cert: 'file:///c', identity_pk: 'file:///k' },
          },
          zerotouch: { dps_mqtt_port: 0 },
        },
        /zerotouch.dps_mqtt_port: must be a port number/,
      ],
    ];
    for (const [doc, re] of cases) assert.throws(() => parseAgentConfig(doc, ['config.toml'], {}), re);
    const ok = parseAgentConfig(
      {
        provisioning: {
          ...base.provisioning,
          attestation: { method: 'x509', identity_cert: 'file:///c', identity_pk: 'file:///k' },
        },
        agent: { name: 'edgeAgent' },
        edge_ca: { cert: 'file:///e' },
      },
      ['config.toml'],
      { https_proxy: 'http://u:secret@proxy:3128' },
    );
    assert.deepEqual(ok.unknownKeys, ['agent', 'edge_ca']);
    assert.equal(ok.httpsProxy, 'http://u:secret@proxy:3128');
    assert.equal(ok.dpsTransport, 'https');
    assert.equal(ok.dpsMqttPort, 8883);
  });

  it("follows IoT Edge's UpstreamProtocol: MqttWs as it is, AmqpWs mapped to MqttWs with a note", () => {
    const doc = (protocol: string, zerotouch?: Record<string, unknown>) => ({
      provisioning: {
        source: 'dps',
        global_endpoint: 'https://x',
        id_scope: 's',
        attestation: { method: 'x509', identity_cert: 'file:///c', identity_pk: 'file:///k' },
      },
      agent: { name: 'edgeAgent', env: { UpstreamProtocol: protocol } },
      ...(zerotouch ? { zerotouch } : {}),
    });
    const parse = (d: Record<string, unknown>) => parseAgentConfig(d, ['config.toml'], {});
    assert.equal(parse(doc('MqttWs')).dpsTransport, 'mqtt-ws');
    assert.deepEqual(parse(doc('MqttWs')).notes, []);
    const amqpWs = parse(doc('AmqpWs'));
    assert.equal(amqpWs.dpsTransport, 'mqtt-ws');
    assert.match(amqpWs.notes[0] ?? '', /AmqpWs.*MQTT in a WebSocket.*AMQP is not served/);
    assert.equal(parse(doc('Amqp')).dpsTransport, 'mqtt');
    assert.equal(parse(doc('Mqtt')).dpsTransport, 'mqtt');
    assert.equal(parse(doc('Carrier pigeon')).dpsTransport, 'https');
    // The agent's own key wins.
    assert.equal(parse(doc('AmqpWs', { dps_transport: 'https' })).dpsTransport, 'https');
  });
});
