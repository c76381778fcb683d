import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../pki/certificate.ts';
import { cliRunner } from '../testing/cli.ts';
import { identitydRegister } from '../testing/dps-client.ts';
import { scratchDir } from '../testing/pki.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';

// The seed scenario of docs/dps-seed-scenario.md, with the same commands, against a real server.
describe('zerotouch management commands (CLI)', () => {
  let server: TestServer;
  const dir = scratchDir('zt-cli-admin-');
  let scope = '';

  const { zt, ok } = cliRunner(() => server, dir);

  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server?.dispose();
  });

  it('walks the seed scenario: tenant, CA with proof of possession, hubs, group enrollment, diagnose, registration', async () => {
    const created = await ok('tenant', 'create', 'Contoso plant');
    scope = /ID scope (\S+)/.exec(created)![1]!;
    assert.match(await ok('tenant', 'list'), new RegExp(`${scope}\\s+Contoso plant`));

    await ok('pki', 'create-root', '--cn', 'Contoso Root CA', '--name', 'root');
    await ok(
      'pki',
      'create-intermediate',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/root.key.pem',
      '--cn',
      'Contoso Edge Issuing CA',
      '--name',
      'issuing',
    );
    const uploaded = await ok('ca', 'upload', 'contoso-root', 'certs/root.cert.pem', '--scope', scope);
    assert.match(uploaded, /verified: no; run "zerotouch ca verification-code contoso-root/);

    // a device before the CA is verified: diagnose names the reason and exits 1
    await ok(
      'pki',
      'issue',
      '--ca',
      'certs/issuing-full-chain.cert.pem',
      '--ca-key',
      'private/issuing.key.pem',
      '--cn',
      'edge-device-01',
      '--name',
      'edge-device-01',
    );
    await ok('hub', 'link', 'hub-a.example.com', '--region', 'westeurope', '--scope', scope);
    await ok('hub', 'link', 'hub-b.example.com', '--region', 'eastus', '--weight', '2', '--scope', scope);
    await ok(
      'enrollment',
      'create',
      'edge-devices',
      '--group',
      '--ca',
      'contoso-root',
      '--tags',
      '{"environment":"test"}',
      '--edge',
      '--hub',
      'hub-a.example.com',
      'hub-b.example.com',
      '--scope',
      scope,
    );
    let d = await zt('diagnose', '--chain', 'certs/edge-device-01-full-chain.cert.pem', '--scope', scope);
    assert.equal(d.code, 1);
    assert.match(d.stdout, /refused: CA_NOT_VERIFIED/);

    const code = /verification code: (\S+)/.exec(
      await ok('ca', 'verification-code', 'contoso-root', '--scope', scope),
    )![1]!;
    const issued = await ok(
      'pki',
      'verification-cert',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/root.key.pem',
      '--code',
      code,
    );
    const vfile = /certificate: (\S+)/.exec(issued)![1]!;
    assert.match(
      await ok('ca', 'verify', 'contoso-root', vfile, '--scope', scope),
      /contoso-root is verified/,
    );
    assert.match(await ok('ca', 'list', '--scope', scope), /contoso-root\s+CN=Contoso Root CA\s+true/);

    d = await zt('diagnose', '--chain', 'certs/edge-device-01-full-chain.cert.pem', '--scope', scope);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /match: enrollment group edge-devices \(enabled\)/);

    const device = {
      registrationId: 'edge-device-01',
      chainPem: readFileSync(join(dir, 'certs/edge-device-01-full-chain.cert.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'private/edge-device-01.key.pem'), 'utf8'),
      sha256: '',
    };
    const r = await identitydRegister(
      server.devicePort,
      certificatePem(server.devPki.root.certificate),
      scope,
      device,
      50,
    );
    assert.equal(r.deviceId, 'edge-device-01');

    assert.match(
      await ok('registration', 'list', '--scope', scope),
      /edge-device-01\s+assigned\s+initialAssignment/,
    );
    const shown = JSON.parse(await ok('device', 'show', r.assignedHub, 'edge-device-01', '--scope', scope));
    assert.deepEqual(shown.twin.tags, { environment: 'test' });
    assert.equal(shown.capabilities.iotEdge, true);
    assert.match(
      await ok('device', 'list', '--scope', scope),
      /edge-device-01\s+enabled\s+certificateAuthority\s+true/,
    );

    // blocklisting through the CLI: disable, and diagnose says so
    await ok('enrollment', 'disable', 'edge-devices', '--group', '--scope', scope);
    d = await zt('diagnose', '--chain', 'certs/edge-device-01-full-chain.cert.pem', '--scope', scope);
    assert.equal(d.code, 1);
    assert.match(d.stdout, /refused: ENROLLMENT_DISABLED/);

    const cs = await ok('policy', 'create', 'provisioningserviceowner', '--scope', scope);
    assert.match(cs, /^HostName=.+;SharedAccessKeyName=provisioningserviceowner;SharedAccessKey=.+/);
  });

  it('says what to do on bad input and unreachable servers', async () => {
    let r = await zt('enrollment', 'create', 'g', '--group', '--scope', scope);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /needs --ca <uploaded CA name> or --cert/);
    r = await zt('enrollment', 'create', 'g', '--group', '--ca', 'x', '--tags', 'nope', '--scope', scope);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--tags must be a JSON object/);
    r = await zt('ca', 'show', 'missing', '--scope', scope);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error \[NOT_FOUND\]/);
    r = await zt('tenant', 'list', '--token', 'zt_wrong');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /error \[UNAUTHENTICATED\]/);
    r = await zt('tenant', 'list', '--url', 'http://127.0.0.1:1');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the admin API at http:\/\/127.0.0.1:1 .*is the server running/);
    r = await zt('ca', 'list');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--scope/);
  });
});
