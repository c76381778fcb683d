import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cliRunner } from '../testing/cli.ts';
import { openssl, scratchDir } from '../testing/pki.ts';

const TEMPLATE = join(
  import.meta.dirname,
  '..',
  'features',
  'templates',
  'testdata',
  'dg-jitp-template.json',
);

describe('zerotouch template test (CLI)', () => {
  const dir = scratchDir('zt-template-');
  const { zt, ok } = cliRunner(() => ({ adminUrl: 'http://127.0.0.1:9', config: { dataDir: dir } }), dir);
  const p = (f: string) => join(dir, f);
  // As the seed walk-through makes them: an RSA-2048 root and device certificates from openssl.
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    p('root.key'),
    '-out',
    p('root.pem'),
    '-days',
    '30',
    '-subj',
    '/CN=JITP Root',
  ]);
  const device = (name: string, subject: string) => {
    openssl([
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
      '-subj',
      subject,
    ]);
    openssl([
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('root.pem'),
      '-CAkey',
      p('root.key'),
      '-CAcreateserial',
      '-out',
      p(`${name}.pem`),
      '-days',
      '30',
      '-sha256',
    ]);
    return p(`${name}.pem`);
  };

  it('prints what the DG template would provision for an openssl certificate, creating nothing', async () => {
    const cert = device('bulb', '/C=US/ST=WA/O=Acme/CN=bulb-0001/serialNumber=SN-0001');
    const out = await ok('template', 'test', '--template', TEMPLATE, '--cert', cert);
    assert.match(out, /^thing bulb-0001 \(thing\)$/m);
    assert.match(out, /^ {2}type: lightBulb-versionA \(if it exists: REPLACE\)$/m);
    assert.match(out, /^ {2}attributes: version=v1, serialNumber=SN-0001 \(if it exists: MERGE\)$/m);
    assert.match(out, /^ {2}groups: v1-lightbulbs, US \(if it exists: DO_NOTHING\)$/m);
    assert.match(out, /^certificate [0-9a-f]{64} \(certificate\)$/m);
    assert.match(out, /^policy [0-9A-F]{40} \(policy\)$/m);
    const json = JSON.parse(await ok('template', 'test', '--template', TEMPLATE, '--cert', cert, '--json'));
    assert.equal(json.thing.name, 'bulb-0001');
    assert.equal(json.parameters['AWS::IoT::Certificate::Country'], 'US');
    // --param overrides what the certificate says; an AWS registration config is read as its templateBody.
    writeFileSync(
      p('config.json'),
      JSON.stringify({ templateBody: readFileSync(TEMPLATE, 'utf8'), roleArn: 'x' }),
    );
    const over = await ok(
      'template',
      'test',
      '--template',
      p('config.json'),
      '--cert',
      cert,
      '--param',
      'AWS::IoT::Certificate::Country=DE',
    );
    assert.match(over, /^ {2}groups: v1-lightbulbs, DE /m);
  });

  it('reads fleet templates, whose parameters come from --param', async () => {
    writeFileSync(
      p('fleet.json'),
      JSON.stringify({
        Parameters: { SerialNumber: { Type: 'String' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
        Resources: {
          thing: {
            Type: 'AWS::IoT::Thing',
            Properties: { ThingName: { 'Fn::Join': ['', ['sensor_', { Ref: 'SerialNumber' }]] } },
          },
          cert: {
            Type: 'AWS::IoT::Certificate',
            Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' } },
          },
        },
      }),
    );
    const out = await ok(
      'template',
      'test',
      '--fleet',
      '--template',
      p('fleet.json'),
      '--param',
      'SerialNumber=42',
      '--param',
      `AWS::IoT::Certificate::Id=${'a'.repeat(64)}`,
    );
    assert.match(out, /^thing sensor_42 \(thing\)$/m);
    const r = await zt('template', 'test', '--template', p('fleet.json'), '--param', 'SerialNumber=42');
    assert.match(
      r.stderr,
      /Parameters\.SerialNumber: a JITP template takes its parameters from the certificate/,
    );
  });

  it('says which subject field is missing, and refuses a template that does not check', async () => {
    const cert = device('nocountry', '/O=Acme/CN=bulb-0002/serialNumber=SN-0002');
    let r = await zt('template', 'test', '--template', TEMPLATE, '--cert', cert);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^error \[PROVISIONING_FAILED\]: Parameters\.AWS::IoT::Certificate::Country: the certificate has no value for it: its subject has no C \(country\) attribute/,
    );
    writeFileSync(
      p('bad.json'),
      '{"Resources": {"c": {"Type": "AWS::IoT::Certificate", "Properties": {"CertificateId": {"Ref": "Id"}}}}}',
    );
    r = await zt('template', 'test', '--template', p('bad.json'), '--cert', cert);
    assert.match(
      r.stderr,
      /^error \[TEMPLATE_INVALID\]: Resources\.c\.Properties\.CertificateId\.Ref: refers to parameter "Id", which Parameters does not declare/,
    );
  });
});
