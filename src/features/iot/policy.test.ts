import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isZtError } from '../../errors.ts';
import { parsePolicyDocument } from './policy-document.ts';
import { makeLeaf, makeRoot } from '../../testing/pki.ts';
import { policyVariables } from './gateway.ts';
import { compilePolicies } from './policy-engine.ts';

const ARN = 'arn:aws:iot:us-east-1:123456789012';
const compile = (doc: unknown, vars: Record<string, string | undefined> = {}) =>
  compilePolicies([parsePolicyDocument(doc).document], vars);

describe('IoT policies', () => {
  it('lets an explicit Deny win over an Allow, and denies what nothing allows', () => {
    const p = compile({
      Version: '2012-10-17',
      Statement: [
        { Effect: 'Allow', Action: 'iot:*', Resource: `${ARN}:topic/plant/*` },
        { Effect: 'Deny', Action: 'iot:Publish', Resource: `${ARN}:topic/plant/secret` },
      ],
    });
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/plant/line-1`), true);
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/plant/secret`), false);
    assert.equal(p.allows('iot:Receive', `${ARN}:topic/plant/secret`), true);
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/other`), false);
    assert.equal(p.allows('iot:Publish', `arn:aws:iot:eu-west-1:123456789012:topic/plant/x`), false);
  });

  it('compares actions in any case, and treats MQTT wildcards in a filter as plain characters', () => {
    const p = compile({
      Statement: { Effect: 'Allow', Action: 'IOT:subscribe', Resource: `${ARN}:topicfilter/a/+` },
    });
    assert.equal(p.allows('iot:Subscribe', `${ARN}:topicfilter/a/+`), true);
    assert.equal(p.allows('iot:Subscribe', `${ARN}:topicfilter/a/b`), false);
    assert.equal(p.mentions('iot:Connect'), false);
  });

  it('puts variable values in literally, escapes with ${*}, and matches nothing when a variable has no value', () => {
    const doc = {
      Statement: [
        {
          Effect: 'Allow',
          Action: 'iot:Publish',
          Resource: `${ARN}:topic/things/\${iot:Connection.Thing.ThingName}/*`,
        },
        { Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/star/\${*}` },
      ],
    };
    const p = compile(doc, { 'iot:Connection.Thing.ThingName': 'lamp-*' });
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/things/lamp-*/x`), true);
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/things/lamp-7/x`), false);
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/star/*`), true);
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/star/x`), false);
    const unattached = compile(doc, {});
    assert.equal(unattached.allows('iot:Publish', `${ARN}:topic/things//x`), false);
  });

  it('matches many wildcards against a long topic by scanning, not by backtracking', () => {
    const p = compile({
      Statement: { Effect: 'Allow', Action: 'iot:Publish', Resource: `arn:${'*a'.repeat(20)}*b` },
    });
    assert.equal(p.allows('iot:Publish', `arn:${'a'.repeat(5000)}`), false);
    assert.equal(p.allows('iot:Publish', `arn:${'a'.repeat(5000)}b`), true);
  });

  it('refuses documents it would not enforce, naming the place', () => {
    const refused = (doc: unknown, re: RegExp) =>
      assert.throws(
        () => parsePolicyDocument(doc),
        (e) => isZtError(e, 'BAD_REQUEST') && re.test(e.message),
      );
    refused('{"Statement": ', /is not JSON/);
    refused(
      { Statement: [{ Effect: 'Allow', Action: 'iot:Connect', Resource: '*', Condition: {} }] },
      /\/Statement\/0\/Condition uses Condition/,
    );
    refused(
      { Statement: [{ Effect: 'Permit', Action: 'iot:Connect', Resource: '*' }] },
      /Effect must be "Allow" or "Deny"/,
    );
    refused(
      { Statement: [{ Effect: 'Allow', Action: 'publish', Resource: '*' }] },
      /"publish" is not an action/,
    );
    refused(
      { Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: 'topic/a' }] },
      /is not "\*" or an ARN/,
    );
    refused({ Version: '2008-10-17', Statement: [] }, /Version must be "2012-10-17"/);
    refused(
      JSON.stringify({
        Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: `${ARN}:topic/${'x'.repeat(3000)}` }],
      }),
      /longer than 2048/,
    );
  });

  it('gives each connection the variables AWS documents: client, certificate fields, and the thing the client id names', () => {
    const root = makeRoot('Var Root');
    const leaf = makeLeaf(root, 'lamp-7', { subject: { CN: 'lamp-7', O: 'Acme', C: 'DE' } }).cert;
    const thing = {
      thingName: 'lamp-7',
      thingArn: `${ARN}:thing/lamp-7`,
      thingId: 'x',
      thingTypeName: 'lamp',
      attributes: { room: 'b2' },
      thingGroups: [],
      version: 1,
      createdBy: 't',
      createdAt: '',
      lastModifiedAt: '',
    };
    const v = policyVariables(leaf, 'lamp-7', thing);
    assert.equal(v['iot:Certificate.Subject.CommonName'], 'lamp-7');
    assert.equal(v['iot:Certificate.Subject.Organization'], 'Acme');
    assert.equal(v['iot:Certificate.Subject.Country'], 'DE');
    assert.equal(v['iot:Certificate.Issuer.CommonName'], 'Var Root');
    assert.equal(v['iot:Certificate.SerialNumber'], leaf.serialNumber);
    assert.equal(v['iot:Connection.Thing.ThingTypeName'], 'lamp');
    assert.equal(v['iot:Connection.Thing.Attributes[room]'], 'b2');
    assert.equal(v['iot:Connection.Thing.IsAttached'], 'true');
    const p = compile(
      {
        Statement: {
          Effect: 'Allow',
          Action: 'iot:Publish',
          Resource: `${ARN}:topic/\${iot:Connection.Thing.ThingTypeName}/\${iot:Connection.Thing.Attributes[room]}/*`,
        },
      },
      v,
    );
    assert.equal(p.allows('iot:Publish', `${ARN}:topic/lamp/b2/x`), true);
    const stranger = policyVariables(leaf, 'other-client', undefined);
    assert.equal(stranger['iot:Connection.Thing.IsAttached'], 'false');
    assert.equal(stranger['iot:Connection.Thing.ThingName'], undefined);
  });
});
