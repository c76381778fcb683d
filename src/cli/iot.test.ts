import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../pki/certificate.ts';
import { cliRunner } from '../testing/cli.ts';
import { mosquittoPub, opensslRoot, opensslSigned, withCa } from '../testing/jitp.ts';
import { scratchDir } from '../testing/pki.ts';
import { startTestServer, type TestServer } from '../testing/server.ts';

const DG_TEMPLATE = readFileSync(
  join(import.meta.dirname, '..', 'features', 'templates', 'testdata', 'dg-jitp-template.json'),
  'utf8',
);

// The JITP seed walk-through of docs/jitp.md, with the same commands, against a real server.
describe('zerotouch iot (CLI): the JITP seed walk-through', () => {
  let server: TestServer;
  const dir = scratchDir('zt-cli-iot-');
  const p = (f: string) => join(dir, f);
  const { zt, ok } = cliRunner(() => server, dir);
  let scope = '';

  before(async () => {
    server = await startTestServer();
    writeFileSync(p('server-ca.pem'), certificatePem(server.devPki.root.certificate));
  });
  after(async () => {
    await server?.dispose();
  });

  it('registers a CA with a verification certificate and the template as pasted; a device provisions on its first mosquitto_pub', async () => {
    scope = /ID scope (\S+)/.exec(await ok('tenant', 'create', 'Lights'))![1]!;
    await ok('iot', 'settings', '--scope', scope, '--region', 'us-east-1', '--account', '123456789012');
    const code = (await ok('iot', 'registration-code', '--scope', scope)).trim();
    assert.match(code, /^[0-9a-f]{64}$/);
    const root = opensslRoot(dir, 'rootCA');
    const verif = opensslSigned(dir, 'verificationCert', `/CN=${code}`, root);
    // AWS's --registration-config file: {"templateBody": "<the template as a string>", "roleArn": ...}
    writeFileSync(
      p('provisioning-template.json'),
      JSON.stringify({ templateBody: DG_TEMPLATE, roleArn: 'arn:aws:iam::123456789012:role/JITPRole' }),
    );
    await ok('ca', 'upload', 'rootCA', 'rootCA.pem', '--scope', scope);
    // A verification certificate for another code is refused, and says what the code is.
    const other = opensslSigned(dir, 'otherVerification', '/CN=0000', root);
    const wrong = await zt(
      'iot',
      'ca',
      'register',
      'rootCA',
      '--scope',
      scope,
      '--verification-cert',
      other.pem,
    );
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, new RegExp(`CN is "0000" but must be the code ${code}`));
    const registered = await ok(
      'iot',
      'ca',
      'register',
      'rootCA',
      '--scope',
      scope,
      '--verification-cert',
      verif.pem,
      '--allow-auto-registration',
      '--registration-config',
      'provisioning-template.json',
    );
    assert.match(registered, /ACTIVE, DEFAULT, auto-registration ENABLE, with a template \(JITP\)/);
    await ok('iot', 'type', 'create', 'lightBulb-versionA', '--scope', scope);
    await ok('iot', 'group', 'create', 'v1-lightbulbs', '--scope', scope);
    await ok('iot', 'group', 'create', 'US', '--scope', scope);

    const dev = opensslSigned(
      dir,
      'deviceCert',
      '/C=US/ST=WA/O=Example/CN=lightbulb-1/serialNumber=LB-1',
      root,
    );
    withCa(dir, dev, root, 'deviceCertAndCACert.crt');
    const diagnosed = await ok('diagnose', '--cert', 'deviceCertAndCACert.crt', '--scope', scope);
    assert.match(diagnosed, /would be provisioned by JITP on its first connection/);
    assert.match(diagnosed, /JITP would make thing lightbulb-1/);
    const r = await mosquittoPub({
      port: server.mqttPort,
      cafile: p('server-ca.pem'),
      cert: p('deviceCertAndCACert.crt'),
      key: dev.key,
      args: ['-q', '1', '-t', 'foo/bar', '-I', 'anyclientID', '-m', 'Hello'],
    });
    assert.equal(r.code, 0, r.stderr);
    const certs = await ok('iot', 'cert', 'list', '--scope', scope);
    const id = /^([0-9a-f]{64})\s+ACTIVE/m.exec(certs)![1]!;
    const shown = await ok('iot', 'cert', 'show', id, '--scope', scope);
    assert.match(shown, /things:\s+lightbulb-1/);
    assert.match(shown, /policies:\s+[0-9A-F]{40}/);
    const thing = JSON.parse(await ok('iot', 'thing', 'show', 'lightbulb-1', '--scope', scope));
    assert.deepEqual(thing.attributes, { version: 'v1', serialNumber: 'LB-1' });
    assert.deepEqual(thing.principals, [id]);
    assert.match(await ok('diagnose', '--cert', dev.pem, '--scope', scope), /: connects/);

    // A device lacking the Country the template declares: refused, and the CLI says why.
    const bare = opensslSigned(dir, 'noCountry', '/CN=lightbulb-2/serialNumber=LB-2', root);
    const failed = await mosquittoPub({
      port: server.mqttPort,
      cafile: p('server-ca.pem'),
      cert: bare.pem,
      key: bare.key,
      args: ['-q', '1', '-t', 'foo/bar', '-I', 'anyclientID', '-m', 'Hello'],
    });
    assert.notEqual(failed.code, 0);
    const pending = await ok('iot', 'cert', 'list', '--scope', scope, '--status', 'PENDING_ACTIVATION');
    const pid = /^([0-9a-f]{64})\s+PENDING_ACTIVATION/m.exec(pending)![1]!;
    const why = await ok('iot', 'cert', 'show', pid, '--scope', scope);
    assert.match(why, /last:\s+provisioning-failed/);
    assert.match(why, /missing:\s+AWS::IoT::Certificate::Country/);
    assert.match(why, /no C \(country\) attribute/);
    const d = await zt('diagnose', '--cert', bare.pem, '--scope', scope);
    assert.equal(d.code, 1);
    assert.match(d.stdout, /JITP would fail: .*Country/);
  });

  it('refuses bad input with a clear reason and makes nothing', async () => {
    const bad = (name: string, text: string) => {
      writeFileSync(p(name), text);
      return name;
    };
    // A template that is not JSON, one naming an undeclared parameter, one whose policy is not JSON.
    let r = await zt(
      'template',
      'create',
      'broken',
      '--scope',
      scope,
      '--template',
      bad('t1.json', '{"Resources": '),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /TEMPLATE_INVALID|not valid JSON|JSON/);
    r = await zt(
      'template',
      'create',
      'undeclared',
      '--scope',
      scope,
      '--template',
      bad(
        't2.json',
        JSON.stringify({
          Resources: {
            thing: {
              Type: 'AWS::IoT::Thing',
              Properties: { ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' } },
            },
          },
        }),
      ),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /Resources\.thing\.Properties\.ThingName\.Ref: refers to parameter/);
    r = await zt(
      'template',
      'create',
      'badpolicy',
      '--scope',
      scope,
      '--template',
      bad(
        't3.json',
        JSON.stringify({
          Resources: { policy: { Type: 'AWS::IoT::Policy', Properties: { PolicyDocument: '{not json' } } },
        }),
      ),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PolicyDocument/);
    r = await zt(
      'iot',
      'policy',
      'create',
      'p1',
      '--scope',
      scope,
      '--document',
      bad('p.json', '{"Statement": '),
    );
    assert.equal(r.code, 1);
    assert.match(r.stderr, /policy document is not valid: is not JSON/);
    // Names that break AWS's rules.
    r = await zt('iot', 'thing', 'create', 'bulb.kitchen', '--scope', scope);
    assert.equal(r.code, 1);
    r = await zt('iot', 'thing', 'create', 'bulb-kitchen', '--scope', scope, '--attr', 'room=living room');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /a space/);
    r = await zt('iot', 'thing', 'create', 'bulb-kitchen', '--scope', scope, '--type', 'no-such-type');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /thing type "no-such-type" does not exist/);
    const things = JSON.parse(await ok('iot', 'thing', 'list', '--scope', scope, '--json'));
    assert.deepEqual(
      things.map((x: { thingName: string }) => x.thingName),
      ['lightbulb-1'],
    );
    assert.deepEqual(JSON.parse(await ok('template', 'list', '--scope', scope, '--json')), []);
  });
});
