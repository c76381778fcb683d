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

  it('creates only what is new, updates only what it names, and makes groups on one CA say which wins', async () => {
    const again = await zt(
      'enrollment',
      'create',
      'edge-devices',
      '--group',
      '--ca',
      'contoso-root',
      '--scope',
      scope,
    );
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /error \[CONFLICT\].*"edge-devices" exists; change it with zerotouch enrollment update/,
    );
    let g = JSON.parse(await ok('enrollment', 'show', 'edge-devices', '--group', '--scope', scope));
    assert.deepEqual(g.initialTwin.tags, { environment: 'test' }, 'nothing was replaced');

    const stale = await zt(
      'enrollment',
      'update',
      'edge-devices',
      '--group',
      '--desired',
      '{"interval":5}',
      '--if-match',
      '"stale"',
      '--scope',
      scope,
    );
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /PRECONDITION_FAILED/);
    await ok(
      'enrollment',
      'update',
      'edge-devices',
      '--group',
      '--desired',
      '{"interval":5}',
      '--if-match',
      g.etag,
      '--scope',
      scope,
    );
    g = JSON.parse(await ok('enrollment', 'show', 'edge-devices', '--group', '--scope', scope));
    assert.deepEqual(g.initialTwin, {
      tags: { environment: 'test' },
      properties: { desired: { interval: 5 } },
    });
    assert.equal(g.capabilities.iotEdge, true, 'the Edge flag stays');
    assert.deepEqual(g.iotHubs, ['hub-a.example.com', 'hub-b.example.com'], 'the hubs stay');
    const wrong = await zt('enrollment', 'update', 'edge-devices', '--group', '--scope', scope);
    assert.match(wrong.stderr, /nothing to change/);

    // A second group on the same CA would silently take or lose its devices: refused without a priority.
    const tie = await zt(
      'enrollment',
      'create',
      'edge-devices-b',
      '--group',
      '--ca',
      'contoso-root',
      '--scope',
      scope,
    );
    assert.equal(tie.code, 1);
    assert.match(
      tie.stderr,
      /"edge-devices" is bound to the same CA with priority 0; give this group a different priority/,
    );
    await ok(
      'enrollment',
      'create',
      'edge-devices-b',
      '--group',
      '--ca',
      'contoso-root',
      '--priority',
      '5',
      '--scope',
      scope,
    );
    await ok('enrollment', 'enable', 'edge-devices', '--group', '--scope', scope);
    const d = await ok('diagnose', '--chain', 'certs/edge-device-01-full-chain.cert.pem', '--scope', scope);
    assert.match(d, /match: enrollment group edge-devices-b/);
    assert.match(d, /edge-devices-b \(priority 5, enabled, .*\): chosen/);
    assert.match(
      d,
      /edge-devices \(priority 0, enabled, .*\): lost: "edge-devices-b" on the same CA has a higher priority/,
    );
    await ok('enrollment', 'delete', 'edge-devices-b', '--group', '--scope', scope);
  });

  it('manages tokens with rights and expiry, deletes policies and tenants only when told, filters registrations', async () => {
    const created = await ok(
      'token',
      'create',
      'dashboard',
      '--rights',
      'read',
      '--tenant',
      scope,
      '--expires',
      '30d',
    );
    const [, id, secret] = /created token (\S+) \(read, expires \S+\)\n(\S+)/.exec(created)!;
    assert.match(await ok('tenant', 'list', '--token', secret!), new RegExp(scope));
    const write = await zt('policy', 'create', 'ops', '--scope', scope, '--token', secret!);
    assert.equal(write.code, 1);
    assert.match(write.stderr, /FORBIDDEN/);
    assert.match(await ok('token', 'list'), new RegExp(`${id}\\s+dashboard\\s+read`));
    await ok('token', 'revoke', id!);
    const revoked = await zt('tenant', 'list', '--token', secret!);
    assert.match(revoked.stderr, /UNAUTHENTICATED/);
    assert.match((await zt('token', 'create', 'x', '--expires', 'yesterday')).stderr, /not a future date/);

    await ok('policy', 'create', 'ops', '--scope', scope);
    assert.match(await ok('policy', 'delete', 'ops', '--scope', scope), /deleted policy ops/);
    assert.doesNotMatch(await ok('policy', 'list', '--scope', scope), /\bops\b/);
    assert.match((await zt('policy', 'delete', 'ops', '--scope', scope)).stderr, /NOT_FOUND/);

    assert.match(
      await ok('registration', 'list', '--status', 'assigned', '--scope', scope),
      /edge-device-01/,
    );
    assert.doesNotMatch(
      await ok('registration', 'list', '--status', 'failed', '--scope', scope),
      /edge-device-01/,
    );
    assert.match(
      await ok('registration', 'list', '--group', 'edge-devices', '--scope', scope),
      /edge-device-01/,
    );
    assert.doesNotMatch(
      await ok(
        'registration',
        'list',
        '--since',
        new Date(Date.now() + 60_000).toISOString(),
        '--scope',
        scope,
      ),
      /edge-device-01/,
    );

    const other = /ID scope (\S+)/.exec(await ok('tenant', 'create', 'Scratch'))![1]!;
    const unconfirmed = await zt('tenant', 'delete', other);
    assert.equal(unconfirmed.code, 1);
    assert.match(unconfirmed.stderr, /add --yes to confirm/);
    assert.match(await ok('tenant', 'list'), new RegExp(other));
    await ok('tenant', 'delete', other, '--yes');
    assert.doesNotMatch(await ok('tenant', 'list'), new RegExp(other));
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
