import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'smol-toml';
import { certificatePem } from '../pki/certificate.ts';
import { cliRunner } from '../testing/cli.ts';
import { identitydRegister } from '../testing/dps-client.ts';
import { scratchDir } from '../testing/pki.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';
import { csvRecords, parseCsv } from './csv.ts';

describe('bulk: many identities and many enrollments in one command', () => {
  let server: TestServer;
  let scope = '';
  const dir = scratchDir('zt-bulk-');
  const { zt, ok } = cliRunner(() => server, dir);

  before(async () => {
    server = await startTestServer({ flags: { 'dps.retry_after_seconds': 1 } });
    scope = /ID scope (\S+)/.exec(await ok('tenant', 'create', 'Bulk plant'))![1]!;
    await ok('hub', 'link', 'hub.bulk.example', '--scope', scope);
    await ok('pki', 'create-root', '--cn', 'Bulk Root', '--name', 'root');
  });
  after(async () => {
    await server?.dispose();
  });

  it('issues N identities with a progress line per tenth, a manifest and aziot configs', async () => {
    const r = await zt(
      'pki',
      'issue',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/root.key.pem',
      '--count',
      '200',
      '--prefix',
      'bulk-',
      '--out',
      'fleet',
      '--aziot-config',
      '--id-scope',
      scope,
      '--global-endpoint',
      'https://dps.bulk.example:8443',
    );
    assert.equal(r.code, 0, r.stderr);
    // Not a terminal: plain lines, one per tenth, none of a bar's control characters.
    assert.equal(r.stderr.trim().split('\n').length, 10);
    assert.match(r.stderr, /identities: 200\/200 \(100%, \d+\/s\)/);
    assert.doesNotMatch(r.stderr, /\u001b\[/);
    assert.match(r.stdout, /issued 200 device identities in [\d.]+ s/);
    const manifest = csvRecords(readFileSync(join(dir, 'fleet', 'devices.csv'), 'utf8'));
    assert.equal(manifest.length, 200);
    assert.equal(manifest[0]!.registrationId, 'bulk-001');
    const config = parse(readFileSync(join(dir, 'fleet', 'aziot', 'bulk-007.config.toml'), 'utf8')) as any;
    assert.equal(config.provisioning.attestation.registration_id, 'bulk-007');
    assert.equal(config.provisioning.attestation.identity_pk, 'file:///var/secrets/aziot/bulk-007.key.pem');
    assert.equal(config.provisioning.id_scope, scope);
    // Nothing is overwritten without --force, and nothing half-written: refused before the first file.
    const again = await zt(
      'pki',
      'issue',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/root.key.pem',
      '--count',
      '200',
      '--prefix',
      'bulk-',
      '--out',
      'fleet',
    );
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /files of bulk-001 already exist in fleet; choose another --out or pass --force/,
    );
    writeFileSync(join(dir, 'names.csv'), 'name\nsensor-a\nsensor-b\n');
    await ok(
      'pki',
      'issue',
      '--ca',
      'certs/root.cert.pem',
      '--ca-key',
      'private/root.key.pem',
      '--from',
      'names.csv',
      '--out',
      'named',
    );
    assert.match(
      readFileSync(join(dir, 'named', 'devices.csv'), 'utf8'),
      /sensor-b,certs\/sensor-b.cert.pem/,
    );
  });

  it('imports the manifest as enrollments, checks every row, and the devices register', async () => {
    const dry = await ok('enrollment', 'import', 'fleet/devices.csv', '--dry-run', '--scope', scope);
    assert.match(dry, /would be created 200, would be updated 0, errors 0/);
    assert.doesNotMatch(
      await ok('enrollment', 'list', '--scope', scope),
      /bulk-001/,
      'a dry run writes nothing',
    );
    const done = await ok('enrollment', 'import', 'fleet/devices.csv', '--chunk', '64', '--scope', scope);
    assert.match(done, /^created 200, updated 0, errors 0 \(200 rows in [\d.]+ s\)$/m);
    const dev = {
      registrationId: 'bulk-042',
      chainPem: readFileSync(join(dir, 'fleet/certs/bulk-042-full-chain.cert.pem'), 'utf8'),
      keyPem: readFileSync(join(dir, 'fleet/private/bulk-042.key.pem'), 'utf8'),
      sha256: '',
    };
    const r = await identitydRegister(
      server.devicePort,
      certificatePem(server.devPki.root.certificate),
      scope,
      dev,
      50,
    );
    assert.equal(r.assignedHub, 'hub.bulk.example');

    // A bad file: each row's problem is named, the good rows are written, the exit code says it failed.
    const cert = readFileSync(join(dir, 'fleet/certs/bulk-001.cert.pem'), 'utf8');
    writeFileSync(
      join(dir, 'mixed.csv'),
      [
        'registrationId,certificate,iotEdge,tags',
        `mixed-1,"${cert}",true,"{""line"":3}"`,
        'mixed-2,not-a-file.pem,false,',
        `bulk-001,"${cert}",,`,
        `mixed-1,"${cert}",,`,
        `"bad id!","${cert}",,`,
      ].join('\n'),
    );
    const mixed = await zt('enrollment', 'import', 'mixed.csv', '--scope', scope);
    assert.equal(mixed.code, 1);
    assert.match(
      mixed.stderr,
      /mixed.csv row 3: certificate not-a-file.pem is neither PEM, base64 nor a readable file/,
    );
    writeFileSync(
      join(dir, 'mixed.csv'),
      [
        'registrationId,certificate,iotEdge,tags',
        `mixed-1,"${cert}",true,"{""line"":3}"`,
        `bulk-001,"${cert}",,`,
        `mixed-1,"${cert}",,`,
      ].join('\n'),
    );
    const m2 = await zt('enrollment', 'import', 'mixed.csv', '--scope', scope);
    assert.equal(m2.code, 1);
    assert.match(m2.stdout, /row 2 \(bulk-001\): bulk-001 exists; import with mode upsert/);
    assert.match(m2.stdout, /row 3 \(mixed-1\): registrationId mixed-1 appears twice/);
    assert.match(m2.stdout, /created 1, updated 0, errors 2/);
    const shown = JSON.parse(await ok('enrollment', 'show', 'mixed-1', '--scope', scope));
    assert.deepEqual(shown.initialTwin.tags, { line: 3 });
    assert.equal(shown.capabilities.iotEdge, true);
    writeFileSync(join(dir, 'odd.csv'), 'registrationId,cert\nx,y\n');
    assert.match(
      (await zt('enrollment', 'import', 'odd.csv', '--scope', scope)).stderr,
      /unknown column cert; the columns are registrationId, certificate/,
    );
  });

  it('deletes enrollments by prefix only when confirmed', async () => {
    const ask = await zt('enrollment', 'delete-prefix', 'bulk-1', '--scope', scope);
    assert.equal(ask.code, 1);
    assert.match(
      ask.stdout,
      /^100 individual enrollments start with "bulk-1" \(bulk-100, .*\); add --yes to delete them$/m,
    );
    assert.match(await ok('enrollment', 'show', 'bulk-150', '--scope', scope), /bulk-150/);
    // "_" in a prefix is a character, not a wildcard.
    assert.match(
      await zt('enrollment', 'delete-prefix', 'bulk_', '--scope', scope).then((r) => r.stdout),
      /^0 individual/,
    );
    assert.match(
      await ok('enrollment', 'delete-prefix', 'bulk-1', '--yes', '--scope', scope),
      /deleted 100 individual/,
    );
    assert.notEqual((await zt('enrollment', 'show', 'bulk-150', '--scope', scope)).code, 0);
    assert.match(await ok('enrollment', 'show', 'bulk-042', '--scope', scope), /bulk-042/);
  });

  it('reads CSV as RFC 4180 says: quotes, doubled quotes, commas and line breaks inside quotes', () => {
    assert.deepEqual(parseCsv('a,"b,c","d ""e""\nf"\r\n\r\ng,,\n'), [
      ['a', 'b,c', 'd "e"\nf'],
      ['g', '', ''],
    ]);
    assert.throws(() => parseCsv('a,"b'), /ends inside a quoted field/);
  });
});
