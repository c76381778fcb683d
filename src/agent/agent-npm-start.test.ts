// Acceptance: the seed documents' aziot-style config files drive the agent to "assigned" against
// a server started with `npm start` and set up with the zerotouch CLI, as an operator does it.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { cliRunner } from '../testing/cli.ts';
import { scratchDir } from '../testing/pki.ts';
import { hasCommand, startTinyproxy, type TestProxy } from '../testing/proxy.ts';
import { spawnServer } from '../testing/server-process.ts';

const repo = join(import.meta.dirname, '..', '..');

describe(
  'zerotouch agent with the seed configs against `npm start`',
  { skip: hasCommand('tinyproxy') ? false : 'needs tinyproxy (.ci/run installs it)' },
  () => {
    const dir = scratchDir('zt-npm-start-');
    const p = (f: string) => join(dir, f);
    const dataDir = p('data');
    let server: ChildProcess;
    let adminUrl = '';
    let devicePort = 0;
    let mqttPort = 0;
    let scope = '';
    let proxy: TestProxy;
    const { ok, zt } = cliRunner(() => ({ adminUrl, config: { dataDir } }), dir);
    const SECRET = 'seed-proxy-pw';

    before(async () => {
      // Exactly the README's start command, with free ports and a scratch data directory.
      const started = await spawnServer(['npm', 'start', '--silent', '--'], dataDir, {
        cwd: repo,
        detached: true,
      });
      server = started.child;
      adminUrl = started.adminUrl;
      devicePort = started.devicePort;
      mqttPort = started.mqttPort;
      proxy = await startTinyproxy(dir, 'device', SECRET);

      // The operator's side, with the CLI: tenant, verified CA, hubs, a group enrollment, and EST.
      scope = /ID scope (\S+)/.exec(await ok('tenant', 'create', 'Seed plant'))![1]!;
      await ok('pki', 'create-root', '--cn', 'Seed Root CA', '--name', 'root');
      await ok('ca', 'upload', 'seed-root', 'certs/root.cert.pem', '--scope', scope);
      const code = /verification code: (\S+)/.exec(
        await ok('ca', 'verification-code', 'seed-root', '--scope', scope),
      )![1]!;
      const proof = /certificate: (\S+)/.exec(
        await ok(
          'pki',
          'verification-cert',
          '--ca',
          'certs/root.cert.pem',
          '--ca-key',
          'private/root.key.pem',
          '--code',
          code,
        ),
      )![1]!;
      await ok('ca', 'verify', 'seed-root', proof, '--scope', scope);
      await ok('hub', 'link', 'hub-a.example.com', '--scope', scope);
      await ok(
        'enrollment',
        'create',
        'edge-devices',
        '--group',
        '--ca',
        'seed-root',
        '--edge',
        '--scope',
        scope,
      );
      for (const name of ['edge-device-01', 'edge-device-02']) {
        await ok(
          'pki',
          'issue',
          '--ca',
          'certs/root.cert.pem',
          '--ca-key',
          'private/root.key.pem',
          '--cn',
          name,
          '--name',
          name,
        );
      }
      await ok('issuing-ca', 'create', 'devices', '--subject', '/CN=Seed EST CA', '--scope', scope);
      await ok('profile', 'set', 'short', '--hours', '24', '--key-type', 'p256', '--scope', scope);
      await ok(
        'est',
        'label',
        'set',
        'devices',
        '--profile',
        'short',
        '--issuing-ca',
        'devices',
        '--scope',
        scope,
      );
      writeFileSync(p('est-pw'), 'est-seed-pw\n');
      await ok('est', 'user', 'set', 'devices', 'estuser', '--password-file', p('est-pw'), '--scope', scope);
      await ok(
        'enrollment',
        'create',
        'est-devices',
        '--group',
        '--ca',
        'devices',
        '--edge',
        '--scope',
        scope,
      );
    });
    after(() => {
      proxy?.stop();
      // npm runs the server as its child: stop the whole process group.
      if (server?.pid) process.kill(-server.pid, 'SIGTERM');
    });

    const root = () => `file://${join(dataDir, 'pki', 'certs', 'dev-root.cert.pem')}`;
    const provisioning = (extra = '') =>
      `[provisioning]\nsource = "dps"\nglobal_endpoint = "https://localhost:${devicePort}"\nid_scope = "${scope}"\n${extra}`;

    it('DPS + X.509 file identity: assigned', async () => {
      const cfg = p('file.toml');
      writeFileSync(
        cfg,
        `trust_bundle_cert = "${root()}"\n[agent_state]\ndir = "${p('state-file')}"\n` +
          provisioning() +
          `[provisioning.attestation]\nmethod = "x509"\nregistration_id = "edge-device-01"\n` +
          `identity_cert = "file://${p('certs/edge-device-01-full-chain.cert.pem')}"\n` +
          `identity_pk = "file://${p('private/edge-device-01.key.pem')}"\n`,
      );
      await ok('agent', 'config', 'apply', '-c', cfg);
      assert.match(
        await ok('agent', 'run', '--once', '-c', cfg),
        /assigned: hub-a.example.com as edge-device-01/,
      );
      assert.match(await ok('registration', 'list', '--scope', scope), /edge-device-01\s+assigned/);
    });

    it('DPS + EST identity with auto_renew: assigned, then renewed and registered again', async () => {
      const cfg = p('est.toml');
      writeFileSync(
        cfg,
        `[agent_state]\ndir = "${p('state-est')}"\n` +
          provisioning() +
          `[provisioning.attestation]\nmethod = "x509"\nregistration_id = "est-device-01"\n` +
          `[provisioning.attestation.identity_cert]\nmethod = "est"\ncommon_name = "est-device-01"\n` +
          // Past the threshold from the start (a one-day certificate, renew 2 days before expiry).
          `[provisioning.attestation.identity_cert.auto_renew]\nrotate_key = true\nthreshold = "2day"\nretry = "4%"\n` +
          `[cert_issuance.est]\ntrusted_certs = ["${root()}"]\n` +
          `[cert_issuance.est.auth]\nusername = "estuser"\npassword = "est-seed-pw"\n` +
          `[cert_issuance.est.urls]\ndefault = "https://localhost:${devicePort}/.well-known/est/devices"\n`,
      );
      assert.match(
        await ok('agent', 'run', '--once', '-c', cfg),
        /assigned: hub-a.example.com as est-device-01/,
      );
      const show = async () =>
        JSON.parse(await ok('device', 'show', 'hub-a.example.com', 'est-device-01', '--scope', scope))
          .certificate.sha256Thumbprint as string;
      const first = await show();
      await ok('agent', 'run', '--once', '-c', cfg);
      assert.match(readFileSync(p('state-est/agent.log'), 'utf8'), /renewed the device certificate/);
      assert.notEqual(await show(), first, 'the registry shows the renewed certificate');
    });

    it('with an authenticating proxy, over HTTPS and over MQTT: assigned; a wrong password is named', async () => {
      const base = (name: string, proxyUrl: string, extra = '') =>
        `https_proxy = "${proxyUrl}"\ntrust_bundle_cert = "${root()}"\n${extra}[agent_state]\ndir = "${p(`state-${name}`)}"\n` +
        provisioning() +
        `[provisioning.attestation]\nmethod = "x509"\nregistration_id = "edge-device-02"\n` +
        `identity_cert = "file://${p('certs/edge-device-02-full-chain.cert.pem')}"\n` +
        `identity_pk = "file://${p('private/edge-device-02.key.pem')}"\n`;
      const good = `http://device:${SECRET}@127.0.0.1:${proxy.port}`;
      writeFileSync(p('proxy.toml'), base('proxy', good));
      assert.match(
        await ok('agent', 'run', '--once', '-c', p('proxy.toml')),
        /assigned: .* as edge-device-02/,
      );
      writeFileSync(
        p('proxy-mqtt.toml'),
        base('proxy-mqtt', good, `[zerotouch]\ndps_transport = "mqtt"\ndps_mqtt_port = ${mqttPort}\n`),
      );
      assert.match(
        await ok('agent', 'run', '--once', '-c', p('proxy-mqtt.toml')),
        /assigned: .* as edge-device-02/,
      );
      assert.match(proxy.log(), new RegExp(`CONNECT localhost:${devicePort}`));
      assert.match(proxy.log(), new RegExp(`CONNECT localhost:${mqttPort}`));
      writeFileSync(
        p('proxy-bad.toml'),
        base('proxy-bad', `http://device:not-${SECRET}@127.0.0.1:${proxy.port}`),
      );
      const check = await zt('agent', 'check', '-c', p('proxy-bad.toml'));
      assert.equal(check.code, 1);
      assert.match(check.stdout, /refused authentication/);
      assert.doesNotMatch(check.stdout + check.stderr, new RegExp(SECRET));
    });
  },
);
