import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../pki/certificate.ts';
import { adminClient } from '../testing/admin.ts';
import { cliRunner } from '../testing/cli.ts';
import { dpsFixture, type DpsFixture, makeDevice } from '../testing/dps.ts';
import { makeIntermediate, makeRoot, scratchDir } from '../testing/pki.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';

const hasTinyproxy = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v tinyproxy']);
    return true;
  } catch {
    return false;
  }
})();

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

// The agent CLI against a real server, through a real proxy that wants Basic credentials.
describe(
  'zerotouch agent (CLI) through tinyproxy',
  { skip: hasTinyproxy ? false : 'needs tinyproxy (.ci/run installs it)' },
  () => {
    let server: TestServer;
    let fx: DpsFixture;
    let api: ReturnType<typeof adminClient>;
    let proxy: ChildProcess;
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
      proxyPort = await freePort();
      writeFileSync(
        p('tinyproxy.conf'),
        `Port ${proxyPort}\nListen 127.0.0.1\nTimeout 60\nMaxClients 20\nAllow 127.0.0.1\nBasicAuth zt ${SECRET}\nLogFile "${p('tinyproxy.log')}"\nLogLevel Connect\n`,
      );
      proxy = spawn('tinyproxy', ['-d', '-c', p('tinyproxy.conf')], { stdio: 'ignore' });
      for (let i = 0; i < 50; i++) {
        try {
          readFileSync(p('tinyproxy.log'));
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      await new Promise((r) => setTimeout(r, 300));
    });
    after(async () => {
      proxy?.kill();
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
      assert.match(applied, /not used here:\s+edge_ca/);
      assert.doesNotMatch(applied, new RegExp(SECRET));
      const run = await zt('agent', 'run', '--once', '-c', cfg);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /assigned: .* as proxied-device/);
      assert.match(
        readFileSync(p('tinyproxy.log'), 'utf8'),
        new RegExp(`CONNECT localhost:${server.devicePort}`),
      );
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
        /dps-enrollment\s+ENROLLMENT_DISABLED: individual enrollment "blocked-device" is disabled/,
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
      assert.match(r.stdout, /dps-enrollment\s+CA_NOT_VERIFIED: .*unverified-root/);

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
        /error \[CONFIG_INVALID\]: provisioning.attestation.identity_cert: "device.pem" must be a file URI/,
      );
      writeFileSync(p('syntax.toml'), 'this is = = not toml');
      const s = await zt('agent', 'config', 'apply', '-c', p('syntax.toml'));
      assert.match(s.stderr, /syntax.toml:1:\d+: not valid TOML/);
    });
  },
);
