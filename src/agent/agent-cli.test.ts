import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem, parseCertificate } from '../pki/certificate.ts';
import { spkiDer } from '../pki/keys.ts';
import { adminClient } from '../testing/admin.ts';
import { cliRunner } from '../testing/cli.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../testing/dps.ts';
import { makeIntermediate, makeRoot, scratchDir } from '../testing/pki.ts';
import { hasCommand, startTinyproxy, type TestProxy } from '../testing/proxy.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';

const hasSoftHsm =
  hasCommand('softhsm2-util') && hasCommand('pkcs11-tool') && existsSync('/usr/lib/softhsm/libsofthsm2.so');
const hasTinyproxy = hasCommand('tinyproxy');

// The agent CLI against a real server, through a real proxy that wants Basic credentials.
describe(
  'zerotouch agent (CLI) through tinyproxy',
  { skip: hasTinyproxy ? false : 'needs tinyproxy (.ci/run installs it)' },
  () => {
    let server: TestServer;
    let fx: DpsFixture;
    let api: ReturnType<typeof adminClient>;
    let proxy: TestProxy;
    let proxyPort = 0;
    const dir = scratchDir('zt-agent-cli-');
    const p = (f: string) => join(dir, f);
    const { zt, ok } = cliRunner(() => server, dir);
    const SECRET = 'pr0xy-s3cret';

    function writeConfig(name: string, device: string, extra = ''): string {
      const file = p(`${name}.toml`);
      writeFileSync(
        file,
        `trust_bundle_cert = "file://${p('server-root.pem')}"\n${extra}\n` +
          `[agent_state]\ndir = "${p(`state-${name}`)}"\n` +
          `[provisioning]\nsource = "dps"\nglobal_endpoint = "https://localhost:${server.devicePort}"\nid_scope = "${fx.idScope}"\n` +
          `[provisioning.attestation]\nmethod = "x509"\nidentity_cert = "file://${p(`${device}.pem`)}"\nidentity_pk = "file://${p(`${device}.key`)}"\n` +
          `[edge_ca]\ncert = "file:///var/secrets/edge-ca.pem"\n`,
      );
      return file;
    }
    function device(name: string, ca = fx.intermediate): void {
      const d = makeDevice(ca, name);
      writeFileSync(p(`${name}.pem`), d.chainPem);
      writeFileSync(p(`${name}.key`), d.keyPem);
    }

    before(async () => {
      server = await startTestServer({ logLevel: 'warn', flags: { 'dps.retry_after_seconds': 1 } });
      api = adminClient(server);
      fx = await dpsFixture(server, 'cli-agent');
      writeFileSync(p('server-root.pem'), certificatePem(server.devPki.root.certificate));
      const g = await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/fleet`, {
        attestation: { type: 'x509', x509: { caReferences: { primary: 'root' } } },
      });
      assert.equal(g.status, 200);
      proxy = await startTinyproxy(dir, 'zt', SECRET);
      proxyPort = proxy.port;
    });
    after(async () => {
      proxy?.stop();
      await server?.dispose();
    });

    it('provisions through the proxy with the right credentials and reports unknown sections', async () => {
      device('proxied-device');
      const cfg = writeConfig(
        'good',
        'proxied-device',
        `https_proxy = "http://zt:${SECRET}@127.0.0.1:${proxyPort}"`,
      );
      const applied = await ok('agent', 'config', 'apply', '-c', cfg);
      assert.match(applied, new RegExp(`proxy:\\s+http://zt:\\*\\*\\*@127.0.0.1:${proxyPort}`));
      assert.match(applied, /IoT Edge's:\s+edge_ca \(kept in the file, not read by the agent\)/);
      assert.doesNotMatch(applied, new RegExp(SECRET));
      const run = await zt('agent', 'run', '--once', '-c', cfg);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /assigned: .* as proxied-device/);
      assert.match(proxy.log(), new RegExp(`CONNECT localhost:${server.devicePort}`));
      const status = await ok('agent', 'status', '-c', cfg);
      assert.match(status, /state:\s+assigned/);
      assert.match(status, /device ID:\s+proxied-device/);
      const check = await zt('agent', 'check', '-c', cfg);
      assert.equal(check.code, 0, check.stdout);
      assert.match(
        check.stdout,
        /dps-enrollment\s+proxied-device matches enrollment group "fleet" \(enabled\)/,
      );
      const logs = await ok('agent', 'logs', '-c', cfg);
      assert.match(logs, /registering with DPS .*proxy=http:\/\/zt:\*\*\*@/);
      for (const text of [run.stdout, run.stderr, status, check.stdout, logs])
        assert.doesNotMatch(text, new RegExp(SECRET));
    });

    it('provisions over MQTT in a WebSocket on the HTTPS port through the proxy (dps_transport = "mqtt-ws")', async () => {
      device('ws-device');
      const cfg = writeConfig(
        'mqtt-ws',
        'ws-device',
        `https_proxy = "http://zt:${SECRET}@127.0.0.1:${proxyPort}"\n[zerotouch]\ndps_transport = "mqtt-ws"\n`,
      );
      const before = proxy.log().length;
      const run = await zt('agent', 'run', '--once', '-c', cfg);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /assigned: .* as ws-device/);
      const tunnels = proxy.log().slice(before);
      assert.match(tunnels, new RegExp(`CONNECT localhost:${server.devicePort}`));
      assert.doesNotMatch(
        tunnels,
        new RegExp(`CONNECT localhost:${server.mqttPort}`),
        'nothing went to the MQTT port',
      );
      const logs = await ok('agent', 'logs', '-c', cfg);
      assert.match(logs, /registering with DPS .*endpoint=wss:\/\/localhost:\d+\/\$iothub\/websocket/);
      const reg = await api('GET', `/v1/tenants/${fx.idScope}/registrations/ws-device`);
      assert.equal(reg.body.status, 'assigned');
    });

    it('provisions over DPS-MQTT through the same proxy tunnel, with the certificate end to end', async () => {
      device('mqtt-device');
      const mqtt = `[zerotouch]\ndps_transport = "mqtt"\ndps_mqtt_port = ${server.mqttPort}\n`;
      const cfg = writeConfig(
        'mqtt',
        'mqtt-device',
        `https_proxy = "http://zt:${SECRET}@127.0.0.1:${proxyPort}"\n${mqtt}`,
      );
      const run = await zt('agent', 'run', '--once', '-c', cfg);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /assigned: .* as mqtt-device/);
      assert.match(
        proxy.log(),
        new RegExp(`CONNECT localhost:${server.mqttPort}`),
        'the MQTT connection went through the proxy',
      );
      const logs = await ok('agent', 'logs', '-c', cfg);
      assert.match(logs, new RegExp(`registering with DPS .*endpoint=mqtts://localhost:${server.mqttPort}`));
      const reg = await api('GET', `/v1/tenants/${fx.idScope}/registrations/mqtt-device`);
      assert.equal(reg.body.status, 'assigned');
      const check = await zt('agent', 'check', '-c', cfg);
      assert.equal(check.code, 0, check.stdout);
      assert.match(
        check.stdout,
        new RegExp(
          `dps-mqtt-reachable\\s+localhost:${server.mqttPort} accepted an MQTT session with the device certificate through http://zt:\\*\\*\\*@`,
        ),
      );
      // The wrong proxy password is diagnosed the same way over MQTT.
      const bad = writeConfig(
        'mqtt-badpass',
        'mqtt-device',
        `https_proxy = "http://zt:wrong-${SECRET}@127.0.0.1:${proxyPort}"\n${mqtt}`,
      );
      const denied = await zt('agent', 'run', '--once', '-c', bad);
      assert.equal(denied.code, 1);
      assert.match(denied.stderr, /the proxy http:\/\/zt:\*\*\*@127.0.0.1:\d+ refused authentication/);
      for (const text of [run.stdout, run.stderr, check.stdout, logs, denied.stdout, denied.stderr])
        assert.doesNotMatch(text, new RegExp(SECRET));
    });

    it('says the proxy refused authentication when the password is wrong, and never prints it', async () => {
      device('denied-device');
      const cfg = writeConfig(
        'badpass',
        'denied-device',
        `https_proxy = "http://zt:wrong-${SECRET}@127.0.0.1:${proxyPort}"`,
      );
      const check = await zt('agent', 'check', '-c', cfg);
      assert.equal(check.code, 1);
      assert.match(
        check.stdout,
        /dps-reachable\s+the proxy http:\/\/zt:\*\*\*@127.0.0.1:\d+ refused authentication \(HTTP 40[17]\): the user name or password in https_proxy is wrong/,
      );
      const run = await zt('agent', 'run', '--once', '-c', cfg);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /refused authentication \(HTTP 40[17]\)/);
      const logs = await ok('agent', 'logs', '-c', cfg);
      for (const text of [
        check.stdout,
        check.stderr,
        run.stdout,
        run.stderr,
        logs,
        readFileSync(p('state-badpass/agent.log'), 'utf8'),
      ]) {
        assert.doesNotMatch(text, new RegExp(SECRET));
      }
    });

    it('check names a disabled enrollment, an unverified CA and an unreachable EST server', async () => {
      // disabled: an individual enrollment for this device, disabled
      device('blocked-device');
      const dev = readFileSync(p('blocked-device.pem'), 'utf8');
      await api('PUT', `/v1/tenants/${fx.idScope}/enrollments/blocked-device`, {
        attestation: {
          type: 'x509',
          x509: {
            clientCertificates: {
              primary: {
                certificate: dev.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n',
              },
            },
          },
        },
        provisioningStatus: 'disabled',
      });
      let r = await zt('agent', 'check', '-c', writeConfig('blocked', 'blocked-device'));
      assert.equal(r.code, 1);
      assert.match(
        r.stdout,
        /dps-enrollment\s+ENROLLMENT_DISABLED: the enrollment of this device is disabled; the operator has to enable it/,
      );

      // unverified CA: a root uploaded but never verified
      const root = makeRoot('Unverified Root');
      await api('POST', `/v1/tenants/${fx.idScope}/cas`, {
        name: 'unverified-root',
        certificate: certificatePem(root.cert),
      });
      device('unverified-device', makeIntermediate(root, 'Unverified Intermediate'));
      r = await zt('agent', 'check', '-c', writeConfig('unverified', 'unverified-device'));
      assert.equal(r.code, 1);
      // The device learns what is wrong and whose fix it is; the CA's name stays with the operator.
      assert.match(r.stdout, /dps-enrollment\s+CA_NOT_VERIFIED: .*the operator has to verify that CA/);
      assert.doesNotMatch(r.stdout, /unverified-root/);

      // unreachable EST
      const cfg = writeConfig('est-down', 'proxied-device');
      writeFileSync(
        cfg,
        readFileSync(cfg, 'utf8') +
          `[cert_issuance.est]\n[cert_issuance.est.auth]\nusername = "u"\npassword = "est-secret-1"\n[cert_issuance.est.urls]\ndefault = "https://127.0.0.1:1/.well-known/est"\n`,
      );
      r = await zt('agent', 'check', '--output', 'json', '-c', cfg);
      assert.equal(r.code, 1);
      const est = JSON.parse(r.stdout).checks.find((c: any) => c.id === 'est-reachable');
      assert.equal(est.status, 'error');
      assert.match(
        est.message,
        /the EST server https:\/\/127.0.0.1:1\/.well-known\/est is unreachable: cannot reach 127.0.0.1:1: ECONNREFUSED/,
      );
    });

    it('leaves a usable identity when the agent process is killed in the middle of a renewal', async () => {
      const ca = await api('POST', `/v1/tenants/${fx.idScope}/issuing-cas`, { name: 'agent-est' });
      assert.equal(ca.status, 201);
      await api('PUT', `/v1/tenants/${fx.idScope}/enrollment-groups/est-fleet`, {
        attestation: { type: 'x509', x509: { caReferences: { primary: 'agent-est' } } },
      });
      await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/agent-est`, { profile: 'device-1d' });
      await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/agent-est/users/dev`, {
        password: 'agent-est-pw1',
      });
      const cfg = p('renew.toml');
      // threshold "2day" on a one-day certificate: every start is past the threshold and renews
      writeFileSync(
        cfg,
        `[agent_state]\ndir = "${p('state-renew')}"\n[provisioning]\nsource = "dps"\nglobal_endpoint = "https://localhost:${server.devicePort}"\nid_scope = "${fx.idScope}"\n` +
          `[provisioning.attestation]\nmethod = "x509"\nidentity_pk = "file:///unused"\n[provisioning.attestation.identity_cert]\nmethod = "est"\ncommon_name = "renew-device"\n` +
          `[provisioning.attestation.identity_cert.auto_renew]\nthreshold = "2day"\nretry = "1min"\n` +
          `[cert_issuance.est]\ntrusted_certs = ["file://${p('server-root.pem')}"]\n[cert_issuance.est.auth]\nusername = "dev"\npassword = "agent-est-pw1"\n` +
          `[cert_issuance.est.urls]\ndefault = "https://localhost:${server.devicePort}/.well-known/est/agent-est"\n`,
      );
      assert.equal((await zt('agent', 'run', '--once', '-c', cfg)).code, 0);
      const committed = () => {
        const ptr = readFileSync(p('state-renew/device-identity.current'), 'utf8').trim();
        return {
          cert: p(`state-renew/device-identity/${ptr}/cert.pem`),
          key: p(`state-renew/device-identity/${ptr}/key.pem`),
        };
      };
      const before = committed();
      const beforeCert = readFileSync(before.cert, 'utf8');

      const killed = await new Promise<{ signal: NodeJS.Signals | null }>((resolve) => {
        const child = spawn(
          process.execPath,
          [join(import.meta.dirname, '..', 'cli', 'main.ts'), 'agent', 'run', '--once', '-c', cfg],
          {
            env: { ...process.env, ZEROTOUCH_AGENT_TEST_KILL_AT_COMMIT: '1' },
            stdio: 'ignore',
          },
        );
        child.on('exit', (_code, signal) => resolve({ signal }));
      });
      assert.equal(killed.signal, 'SIGKILL', 'the agent died mid-renewal');

      // what is committed is still the old, complete pair: the key matches the certificate
      const after = committed();
      assert.equal(readFileSync(after.cert, 'utf8'), beforeCert);
      const pub = (args: string[]) => execFileSync('openssl', args, { encoding: 'utf8' });
      assert.equal(
        pub(['x509', '-noout', '-pubkey', '-in', after.cert]),
        pub(['pkey', '-pubout', '-in', after.key]),
      );
      // and the agent carries on from it
      const again = await zt('agent', 'run', '--once', '-c', cfg);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /as renew-device/);
      assert.notEqual(readFileSync(committed().cert, 'utf8'), beforeCert, 'renewed this time');
    });

    it(
      'provisions with a device key in a PKCS#11 token (SoftHSM), through the proxy',
      { skip: hasSoftHsm ? false : 'needs softhsm2, opensc and libengine-pkcs11-openssl' },
      async () => {
        const conf = p('softhsm2.conf');
        mkdirSync(p('tokens'));
        writeFileSync(
          conf,
          `directories.tokendir = ${p('tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
        );
        const saved = process.env.SOFTHSM2_CONF;
        process.env.SOFTHSM2_CONF = conf;
        try {
          execFileSync(
            'softhsm2-util',
            ['--init-token', '--free', '--label', 'zt-device', '--pin', '4321', '--so-pin', '87654321'],
            { stdio: 'ignore' },
          );
          execFileSync(
            'pkcs11-tool',
            [
              '--module',
              '/usr/lib/softhsm/libsofthsm2.so',
              '--token-label',
              'zt-device',
              '--login',
              '--pin',
              '4321',
              '--keypairgen',
              '--key-type',
              'EC:prime256v1',
              '--label',
              'device',
              '--id',
              '02',
            ],
            { stdio: 'ignore' },
          );
          const pub = execFileSync(
            'openssl',
            [
              'pkey',
              '-engine',
              'pkcs11',
              '-inform',
              'engine',
              '-in',
              'pkcs11:token=zt-device;object=device;type=public;pin-value=4321',
              '-pubout',
            ],
            { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
          );
          const leaf = fx.intermediate.signer.issue({
            profile: 'device',
            subject: { CN: 'hsm-device' },
            spki: spkiDer(createPublicKey(pub)),
            validityDays: 30,
          });
          writeFileSync(
            p('hsm-device.pem'),
            certificatePem(parseCertificate(leaf)) + certificatePem(fx.intermediate.cert),
          );
          const cfg = p('hsm.toml');
          writeFileSync(
            cfg,
            `trust_bundle_cert = "file://${p('server-root.pem')}"\nhttps_proxy = "http://zt:${SECRET}@127.0.0.1:${proxyPort}"\n[agent_state]\ndir = "${p('state-hsm')}"\n` +
              `[provisioning]\nsource = "dps"\nglobal_endpoint = "https://localhost:${server.devicePort}"\nid_scope = "${fx.idScope}"\n` +
              `[provisioning.attestation]\nmethod = "x509"\nidentity_cert = "file://${p('hsm-device.pem')}"\nidentity_pk = "pkcs11:token=zt-device;object=device;pin-value=4321"\n`,
          );
          const connects = () => (proxy.log().match(/CONNECT localhost:/g) ?? []).length;
          const before = connects();
          const run = await zt('agent', 'run', '--once', '-c', cfg);
          assert.equal(run.code, 0, run.stderr);
          assert.match(run.stdout, /as hsm-device/);
          assert.ok(connects() > before, 'the token-key TLS went through the proxy');
          const check = await zt('agent', 'check', '-c', cfg);
          assert.match(check.stdout, /dps-enrollment\s+hsm-device matches enrollment group "fleet"/);
          for (const t of [run.stdout, run.stderr, check.stdout]) {
            assert.doesNotMatch(t, new RegExp(SECRET));
            assert.doesNotMatch(t, /pin-value=4321/);
          }
        } finally {
          if (saved === undefined) delete process.env.SOFTHSM2_CONF;
          else process.env.SOFTHSM2_CONF = saved;
        }
      },
    );

    it(
      'generates EST keys in the token and rotates them there on renewal',
      { skip: hasSoftHsm ? false : 'needs softhsm2, opensc and libengine-pkcs11-openssl' },
      async () => {
        const saved = process.env.SOFTHSM2_CONF;
        process.env.SOFTHSM2_CONF = p('softhsm2.conf');
        try {
          await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/token-est`, {
            profile: 'device-1d',
            issuingCa: 'agent-est',
          });
          await api('PUT', `/v1/tenants/${fx.idScope}/est-labels/token-est/users/dev`, {
            password: 'agent-est-pw1',
          });
          const cfg = p('token-est.toml');
          writeFileSync(
            cfg,
            `[agent_state]\ndir = "${p('state-token-est')}"\n[aziot_keys]\npkcs11_lib_path = "/usr/lib/softhsm/libsofthsm2.so"\n` +
              `[provisioning]\nsource = "dps"\nglobal_endpoint = "https://localhost:${server.devicePort}"\nid_scope = "${fx.idScope}"\n` +
              `[provisioning.attestation]\nmethod = "x509"\nidentity_pk = "pkcs11:token=zt-device;object=est-key;pin-value=4321"\n` +
              `[provisioning.attestation.identity_cert]\nmethod = "est"\ncommon_name = "token-est-device"\n` +
              `[provisioning.attestation.identity_cert.auto_renew]\nthreshold = "2day"\nretry = "1min"\nrotate_key = true\n` +
              `[cert_issuance.est]\ntrusted_certs = ["file://${p('server-root.pem')}"]\n[cert_issuance.est.auth]\nusername = "dev"\npassword = "agent-est-pw1"\n` +
              `[cert_issuance.est.urls]\ndefault = "https://localhost:${server.devicePort}/.well-known/est/token-est"\n`,
          );
          const keyOf = () => {
            const ptr = readFileSync(p('state-token-est/device-identity.current'), 'utf8').trim();
            return readFileSync(p(`state-token-est/device-identity/${ptr}/key.pem`), 'utf8');
          };
          const run1 = await zt('agent', 'run', '--once', '-c', cfg);
          assert.equal(run1.code, 0, run1.stderr);
          const k1 = keyOf();
          assert.match(
            k1,
            /^pkcs11:token=zt-device;object=est-key-\w+;pin-value=4321/,
            'the stored "key" names a token object',
          );
          await new Promise((r) => setTimeout(r, 5));
          const run2 = await zt('agent', 'run', '--once', '-c', cfg);
          assert.equal(run2.code, 0, run2.stderr);
          assert.match(run2.stdout, /as token-est-device/);
          assert.notEqual(keyOf(), k1, 'rotate_key made a new token object');
          const listArgs = [
            '--module',
            '/usr/lib/softhsm/libsofthsm2.so',
            '--token-label',
            'zt-device',
            '--login',
            '--pin',
            '4321',
            '--list-objects',
            '--type',
            'privkey',
          ];
          const objects = execFileSync('pkcs11-tool', listArgs, { encoding: 'utf8' });
          // The old generation's key pair was deleted once the new one was committed.
          const labels = (o: string) => [...o.matchAll(/label:\s+(est-key-\S+)/g)].map((m) => m[1]);
          assert.deepEqual(labels(objects), [keyOf().match(/object=([^;]+)/)![1]]);
          // A renewal that fails (EST refuses the password) leaves no orphan key in the token.
          writeFileSync(cfg, readFileSync(cfg, 'utf8').replace('agent-est-pw1', 'wrong-pw'));
          const failed = await zt('agent', 'run', '--once', '-c', cfg);
          assert.match(
            readFileSync(p('state-token-est/agent.log'), 'utf8'),
            /renewal failed; keeping the current certificate/,
          );
          const after = execFileSync('pkcs11-tool', listArgs, { encoding: 'utf8' });
          assert.deepEqual(labels(after), labels(objects), `no key left behind (run: ${failed.stdout})`);
        } finally {
          if (saved === undefined) delete process.env.SOFTHSM2_CONF;
          else process.env.SOFTHSM2_CONF = saved;
        }
      },
    );

    it('renews an EST identity on demand with agent renew, and says so', async () => {
      const cfg = p('renew.toml');
      const serialOf = () =>
        /serial (\S+),/.exec(
          execFileSync(
            process.execPath,
            [join(import.meta.dirname, '..', 'cli', 'main.ts'), 'agent', 'status', '-c', cfg],
            { encoding: 'utf8' },
          ),
        )?.[1];
      const before = serialOf();
      assert.ok(before, 'the identity has a serial');
      const r = await zt('agent', 'renew', '-c', cfg);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^renewed: serial \S+, valid until \S+$/m);
      assert.notEqual(serialOf(), before);
      const fileIdentity = writeConfig('file-id', 'proxied-device');
      const no = await zt('agent', 'renew', '-c', fileIdentity);
      assert.equal(no.code, 1);
      assert.match(no.stderr, /identity_cert is a file: renewal needs an EST identity/);
    });

    it('config apply checks the files, the key against the certificate, and names a mistyped key', async () => {
      device('apply-a');
      device('apply-b');
      let cfg = writeConfig('apply-ok', 'apply-a');
      assert.match(await ok('agent', 'config', 'apply', '-c', cfg), /configuration is valid/);
      // The key of another device: the pair does not match.
      writeFileSync(p('apply-a.key'), readFileSync(p('apply-b.key')));
      let r = await zt('agent', 'config', 'apply', '-c', cfg);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /identity_pk: the key in .*apply-a\.key is not the key of the certificate in .*apply-a\.pem/,
      );
      rmSync(p('apply-a.key'));
      r = await zt('agent', 'config', 'apply', '-c', cfg);
      assert.match(r.stderr, /provisioning\.attestation\.identity_pk: .*apply-a\.key does not exist/);
      cfg = writeConfig(
        'apply-typo',
        'apply-b',
        'trust_bundel_cert = "file:///x.pem"\nhttps_prxy = "http://p:3128"',
      );
      r = await zt('agent', 'config', 'apply', '-c', cfg);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /trust_bundel_cert: not a key the agent or IoT Edge knows; did you mean "trust_bundle_cert"\?/,
      );
      assert.match(r.stderr, /https_prxy: .*did you mean "https_proxy"\?/);
    });

    it('tells an untrusted server from a proxy that may inspect TLS', async () => {
      device('trust-dev');
      // No trust configured for the server, through the proxy: the server is not trusted, no proxy blamed.
      const plain = p('trust-plain.toml');
      writeFileSync(
        plain,
        readFileSync(
          writeConfig('trust-x', 'trust-dev', `https_proxy = "http://zt:${SECRET}@127.0.0.1:${proxyPort}"`),
          'utf8',
        ).replace(/^trust_bundle_cert = .*$/m, ''),
      );
      let r = await zt('agent', 'run', '--once', '-c', plain);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /The server is not trusted: add its root CA to trust_bundle_cert/);
      assert.doesNotMatch(r.stderr, /inspect/);
      // The server's root is configured but another CA signed what came back through the proxy.
      const other = makeRoot('Corporate Inspection CA');
      writeFileSync(p('other-root.pem'), certificatePem(other.cert));
      const wrong = p('trust-wrong.toml');
      writeFileSync(
        wrong,
        readFileSync(plain, 'utf8').replace(
          '[agent_state]',
          `trust_bundle_cert = "file://${p('other-root.pem')}"\n[agent_state]`,
        ),
      );
      r = await zt('agent', 'run', '--once', '-c', wrong);
      assert.match(
        r.stderr,
        /The CA configured for it \(Corporate Inspection CA\) did not issue it.*a proxy may be inspecting TLS/,
      );
    });

    it('explains configuration mistakes with the key path', async () => {
      const cfg = p('broken.toml');
      writeFileSync(
        cfg,
        `[provisioning]\nsource = "dps"\nglobal_endpoint = "https://x"\nid_scope = "s"\n[provisioning.attestation]\nmethod = "x509"\nidentity_cert = "device.pem"\nidentity_pk = "file:///k"\n`,
      );
      const r = await zt('agent', 'config', 'apply', '-c', cfg);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /error \[CONFIG_INVALID\]: provisioning.attestation.identity_cert: must be a file URI .*\(got "device.pem"\)/,
      );
      writeFileSync(p('syntax.toml'), 'this is = = not toml');
      const s = await zt('agent', 'config', 'apply', '-c', p('syntax.toml'));
      assert.match(s.stderr, /syntax.toml:1:\d+: not valid TOML/);
    });
  },
);
