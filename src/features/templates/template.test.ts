import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { makeLeaf, makeRoot } from '../../testing/pki.ts';
import { certificateParameters } from './certificate-parameters.ts';
import { evaluateTemplate } from './evaluate.ts';
import { parseTemplate } from './template.ts';

/** The DG's JITP template (jit-provisioning.md), as pasted. */
const DG_TEMPLATE = readFileSync(join(import.meta.dirname, 'testdata', 'dg-jitp-template.json'), 'utf8');

/** The JITP blog's template: the thing named after the certificate ID, a country attribute. */
const BLOG_TEMPLATE = JSON.parse(
  '{ "templateBody":"{ \\"Parameters\\" : { \\"AWS::IoT::Certificate::Country\\" : { \\"Type\\" : \\"String\\" }, \\"AWS::IoT::Certificate::Id\\" : { \\"Type\\" : \\"String\\" } }, \\"Resources\\" : { \\"thing\\" : { \\"Type\\" : \\"AWS::IoT::Thing\\", \\"Properties\\" : { \\"ThingName\\" : {\\"Ref\\" : \\"AWS::IoT::Certificate::Id\\"}, \\"AttributePayload\\" : { \\"version\\" : \\"v1\\", \\"country\\" : {\\"Ref\\" : \\"AWS::IoT::Certificate::Country\\"} } } }, \\"certificate\\" : { \\"Properties\\": { \\"CertificateId\\": {\\"Ref\\" : \\"AWS::IoT::Certificate::Id\\"}, \\"Status\\" : \\"ACTIVE\\" }, \\"Type\\" : \\"AWS::IoT::Certificate\\" }, \\"policy\\" : { \\"Properties\\": { \\"PolicyDocument\\" : \\"{\\\\\\"Version\\\\\\": \\\\\\"2012-10-17\\\\\\",\\\\\\"Statement\\\\\\": [{\\\\\\"Effect\\\\\\":\\\\\\"Allow\\\\\\",\\\\\\"Action\\\\\\": [\\\\\\"iot:Publish\\\\\\"],\\\\\\"Resource\\\\\\": [\\\\\\"*\\\\\\"]}]}\\" }, \\"Type\\" : \\"AWS::IoT::Policy\\" } } }", "roleArn":"arn:aws:iam::123456789012:role/JITPRole" }',
).templateBody as string;

const root = makeRoot('Template Root', 'rsa2048');
const cert = (subject: Record<string, string>) =>
  makeLeaf(root, subject.CN ?? 'x', { subject: subject as never }).cert;

const refused = (code: string, re: RegExp) => (e: unknown) => {
  assert.ok(isZtError(e), String(e));
  assert.equal(e.code, code, e.message);
  assert.match(e.message, re);
  return true;
};

describe('provisioning templates', () => {
  it('takes the DG JITP template as pasted and plans thing, certificate and policy from the certificate subject', () => {
    const c = cert({ C: 'US', O: 'Acme', CN: 'bulb-0001', serialNumber: 'SN-0001' });
    const plan = evaluateTemplate(parseTemplate(DG_TEMPLATE), certificateParameters(c));
    assert.deepEqual(plan.thing, {
      logicalName: 'thing',
      name: 'bulb-0001',
      attributes: { version: 'v1', serialNumber: 'SN-0001' },
      thingType: 'lightBulb-versionA',
      groups: ['v1-lightbulbs', 'US'],
      overrides: { attributes: 'MERGE', thingType: 'REPLACE', groups: 'DO_NOTHING' },
    });
    assert.deepEqual(plan.certificate, {
      logicalName: 'certificate',
      id: c.sha256.toLowerCase(),
      status: 'ACTIVE',
      statusOverride: 'DO_NOTHING',
    });
    assert.equal(plan.policies.length, 1);
    assert.match(plan.policies[0]!.name, /^[0-9A-F]{40}$/);
    assert.deepEqual(plan.policies[0]!.document, {
      Version: '2012-10-17',
      Statement: [
        {
          Effect: 'Allow',
          Action: ['iot:Publish'],
          Resource: ['arn:aws:iot:us-east-1:123456789012:topic/foo/bar'],
        },
      ],
    });
  });

  it('takes the JITP blog template (the thing named after the certificate ID)', () => {
    const c = cert({ C: 'DE', CN: 'any.name with spaces' });
    const plan = evaluateTemplate(parseTemplate(BLOG_TEMPLATE), certificateParameters(c));
    assert.equal(plan.thing?.name, c.sha256.toLowerCase());
    assert.deepEqual(plan.thing?.attributes, { version: 'v1', country: 'DE' });
    assert.deepEqual(plan.policies[0]?.document?.Statement, [
      { Effect: 'Allow', Action: ['iot:Publish'], Resource: ['*'] },
    ]);
  });

  it('fails closed, naming the parameter and the subject attribute, when the certificate lacks a declared field', () => {
    const c = cert({ CN: 'bulb-0002', serialNumber: 'SN-2' });
    assert.throws(
      () => evaluateTemplate(parseTemplate(DG_TEMPLATE), certificateParameters(c)),
      refused(
        'PROVISIONING_FAILED',
        /Parameters\.AWS::IoT::Certificate::Country: the certificate has no value for it: its subject has no C \(country\) attribute/,
      ),
    );
  });

  it('refuses a name that AWS rules refuse once the certificate fills it in', () => {
    const c = cert({ C: 'US', CN: 'bulb.0003', serialNumber: 'SN 3' });
    assert.throws(
      () => evaluateTemplate(parseTemplate(DG_TEMPLATE), certificateParameters(c)),
      refused(
        'PROVISIONING_FAILED',
        /ThingName: "bulb\.0003" cannot be a thing name: it holds "\."; AWS allows only/,
      ),
    );
  });

  it('refuses malformed templates when they are saved, naming the JSON path', () => {
    const base = JSON.parse(DG_TEMPLATE);
    const variant = (change: (t: any) => void) => {
      const t = structuredClone(base);
      change(t);
      return JSON.stringify(t);
    };
    const cases: Array<[string, RegExp]> = [
      ['{"Resources": ', /the template is not JSON/],
      [variant((t) => (t.Resource = {})), /is not a key of this file/],
      [
        variant((t) => (t.Resources.thing.Properties.ThingName = { Ref: 'Name' })),
        /Resources\.thing\.Properties\.ThingName\.Ref: refers to parameter "Name", which Parameters does not declare/,
      ],
      [
        variant((t) => (t.Resources.policy.Properties.PolicyName = 'p')),
        /Resources\.policy\.Properties: give PolicyName \(an existing policy\) or PolicyDocument, one of the two/,
      ],
      [
        variant((t) => (t.Resources.policy.Properties.PolicyDocument = '{"Version": ')),
        /Resources\.policy\.Properties\.PolicyDocument: is not JSON/,
      ],
      [
        variant((t) => (t.Resources.certificate.Properties = { CertificateSigningRequest: 'x' })),
        /a JITP template names the certificate with CertificateId/,
      ],
      [
        variant((t) => (t.Resources.thing.OverrideSettings.ThingTypeName = 'MERGE')),
        /MERGE is valid only for AttributePayload and ThingGroups/,
      ],
      [
        variant((t) => (t.Resources.thing.OverrideSettings.ThingTypeName = 'KEEP')),
        /must be one of DO_NOTHING, REPLACE, FAIL, MERGE \(got "KEEP"\)/,
      ],
      [
        variant((t) => (t.Resources.thing.Properties.ThingTypeName = 'light bulb')),
        /"light bulb" cannot be a name: it holds a space/,
      ],
      [
        variant((t) => (t.Resources.thing.Properties.Colour = 'red')),
        /Resources\.thing\.Properties\.Colour: is not a property of AWS::IoT::Thing/,
      ],
      [
        variant((t) => (t.Resources.thing.Type = 'AWS::IoT::Device')),
        /Resources\.thing\.Type: must be one of "AWS::IoT::Thing", "AWS::IoT::Certificate", "AWS::IoT::Policy"/,
      ],
      [
        variant((t) => (t.Parameters.Site = { Type: 'String' })),
        /Parameters\.Site: a JITP template takes its parameters from the certificate/,
      ],
      [variant((t) => delete t.Resources.certificate), /declare exactly one AWS::IoT::Certificate/],
      [
        variant((t) => (t.Resources.thing.Properties.ThingGroups = { 'Fn::Select': ['x', []] })),
        /Fn::Select: takes a whole-number index/,
      ],
      [
        variant((t) => (t.Resources.thing.Properties.ThingName = { 'Fn::GetAtt': ['a', 'b'] })),
        /Fn::GetAtt: is not a function templates know/,
      ],
      ['x'.repeat(10_241), /limit is 10240/],
    ];
    for (const [text, re] of cases)
      assert.throws(() => parseTemplate(text), refused('TEMPLATE_INVALID', re), re.source);
  });

  it('evaluates the functions: Join, Split, Select, FindInMap, Sub, and beyond AWS If, Equals, Not, And, Or, Condition', () => {
    const t = {
      Parameters: {
        'AWS::IoT::Certificate::CommonName': { Type: 'String' },
        'AWS::IoT::Certificate::Country': { Type: 'String' },
        'AWS::IoT::Certificate::Id': { Type: 'String' },
        Line: { Type: 'String', Default: 'line-7' },
      },
      Mappings: { Sites: { US: { Group: 'site-us' }, DE: { Group: 'site-de' } } },
      Conditions: {
        IsUS: { 'Fn::Equals': [{ Ref: 'AWS::IoT::Certificate::Country' }, 'US'] },
        NotUS: { 'Fn::Not': [{ Condition: 'IsUS' }] },
        Either: { 'Fn::Or': [{ Condition: 'IsUS' }, { Condition: 'NotUS' }] },
        Both: { 'Fn::And': [{ Condition: 'IsUS' }, { Condition: 'NotUS' }] },
      },
      Resources: {
        thing: {
          Type: 'AWS::IoT::Thing',
          Properties: {
            ThingName: {
              'Fn::Join': [
                '_',
                [
                  { 'Fn::Select': [0, { 'Fn::Split': ['.', { Ref: 'AWS::IoT::Certificate::CommonName' }] }] },
                  { Ref: 'Line' },
                ],
              ],
            },
            AttributePayload: {
              label: { 'Fn::Sub': '${Line}-${AWS::IoT::Certificate::Country}' },
              zone: { 'Fn::Sub': ['${Z}', { Z: 'north' }] },
              region: { 'Fn::If': ['IsUS', 'americas', { Ref: 'AWS::NoValue' }] },
            },
            ThingGroups: [
              { 'Fn::FindInMap': ['Sites', { Ref: 'AWS::IoT::Certificate::Country' }, 'Group'] },
              { 'Fn::If': ['Either', 'all', 'none'] },
            ],
          },
        },
        certificate: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' }, Status: 'Active' },
        },
        never: { Type: 'AWS::IoT::Policy', Condition: 'Both', Properties: { PolicyName: 'unused' } },
        existing: { Type: 'AWS::IoT::Policy', Properties: { PolicyName: 'fleet-default' } },
        own: {
          Type: 'AWS::IoT::Policy',
          Properties: {
            PolicyDocument: {
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Action: 'iot:Publish',
                  // ${!...} keeps a policy variable for the policy engine.
                  Resource: { 'Fn::Sub': 'arn:aws:iot:*:*:topic/${Line}/${!iot:ClientId}' },
                },
              ],
            },
          },
        },
      },
    };
    const checked = parseTemplate(t);
    const us = evaluateTemplate(checked, certificateParameters(cert({ C: 'US', CN: 'cam.front' })));
    assert.equal(us.thing?.name, 'cam_line-7');
    assert.deepEqual(us.thing?.attributes, {
      label: 'line-7-US',
      zone: 'north',
      region: 'americas',
    });
    assert.deepEqual(us.thing?.groups, ['site-us', 'all']);
    assert.equal(us.certificate?.status, 'ACTIVE');
    assert.equal(us.policies[0]!.name, 'fleet-default');
    assert.match(us.policies[1]!.name, /^[0-9A-F]{40}$/, 'a document without a name is named by its hash');
    assert.equal(
      (us.policies[1]!.document!.Statement as Array<{ Resource: string }>)[0]!.Resource,
      'arn:aws:iot:*:*:topic/line-7/${iot:ClientId}',
    );
    const de = evaluateTemplate(checked, certificateParameters(cert({ C: 'DE', CN: 'cam.back' })));
    assert.deepEqual(de.thing?.attributes, { label: 'line-7-DE', zone: 'north' });
    assert.deepEqual(de.thing?.groups, ['site-de', 'all']);
    assert.throws(
      () => evaluateTemplate(checked, certificateParameters(cert({ C: 'FR', CN: 'cam' }))),
      refused('PROVISIONING_FAILED', /Fn::FindInMap: mapping "Sites" has no value at "FR" \/ "Group"/),
    );
  });

  it('refuses conditions that name each other in a circle and selections past the end', () => {
    const base = {
      Parameters: { 'AWS::IoT::Certificate::Id': { Type: 'String' } },
      Resources: {
        c: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' } },
        },
      },
    };
    assert.throws(
      () =>
        parseTemplate({
          ...base,
          Conditions: { A: { 'Fn::Not': [{ Condition: 'B' }] }, B: { 'Fn::Not': [{ Condition: 'A' }] } },
        }),
      refused('TEMPLATE_INVALID', /conditions name each other in a circle: A -> B -> A/),
    );
    const t = parseTemplate({
      ...base,
      Resources: {
        ...base.Resources,
        t: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { 'Fn::Select': ['3', ['a', 'b']] } } },
      },
    });
    assert.throws(
      () => evaluateTemplate(t, { 'AWS::IoT::Certificate::Id': 'ab' }),
      refused('PROVISIONING_FAILED', /index 3 is outside the 2 values/),
    );
  });
});
