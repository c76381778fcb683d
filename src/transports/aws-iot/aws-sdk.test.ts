import assert from 'node:assert/strict';
import { Agent, request as httpsRequest } from 'node:https';
import { after, before, describe, it } from 'node:test';
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  CreatePolicyCommand,
  CreatePolicyVersionCommand,
  CreateProvisioningTemplateCommand,
  CreateThingCommand,
  CreateThingGroupCommand,
  CreateThingTypeCommand,
  AddThingToThingGroupCommand,
  DeleteCACertificateCommand,
  DeleteCertificateCommand,
  DeleteProvisioningTemplateCommand,
  DeleteThingCommand,
  DescribeCACertificateCommand,
  DescribeCertificateCommand,
  DescribeEndpointCommand,
  DescribeProvisioningTemplateCommand,
  DescribeThingCommand,
  GetPolicyCommand,
  GetRegistrationCodeCommand,
  IoTClient,
  IoTServiceException,
  ListAttachedPoliciesCommand,
  ListCACertificatesCommand,
  ListCertificatesByCACommand,
  ListCertificatesCommand,
  ListPoliciesCommand,
  ListProvisioningTemplatesCommand,
  ListTargetsForPolicyCommand,
  ListThingGroupsForThingCommand,
  ListThingPrincipalsCommand,
  paginateListThings,
  RegisterCACertificateCommand,
  RegisterCertificateCommand,
  RegisterCertificateWithoutCACommand,
  UpdateCACertificateCommand,
  UpdateCertificateCommand,
  UpdateProvisioningTemplateCommand,
  UpdateThingCommand,
  DetachPolicyCommand,
  DetachThingPrincipalCommand,
} from '@aws-sdk/client-iot';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { certificatePem } from '../../pki/certificate.ts';
import { csrPem, createCsr } from '../../pki/csr.ts';
import { generateKey } from '../../pki/keys.ts';
import { makeLeaf, makeRoot, type TestCa } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const REGION = 'us-east-1';

describe('the AWS IoT API face with @aws-sdk/client-iot', () => {
  let server: TestServer;
  let client: IoTClient;
  let keys: Record<string, { accessKeyId: string; secretAccessKey: string }> = {};
  let tenantA = '';
  let root: TestCa;
  let caId = '';

  const clientFor = (
    creds: { accessKeyId: string; secretAccessKey: string },
    extra: Record<string, unknown> = {},
  ) =>
    new IoTClient({
      region: REGION,
      endpoint: server.awsUrl,
      credentials: creds,
      maxAttempts: 1,
      requestHandler: new NodeHttpHandler({
        httpsAgent: new Agent({ ca: certificatePem(server.devPki.root.certificate) }),
      }),
      ...extra,
    });
  /** The AWS error a call fails with: its name and HTTP status. */
  async function failure(p: Promise<unknown>): Promise<{ name: string; status?: number; message: string }> {
    try {
      await p;
    } catch (e) {
      assert.ok(e instanceof IoTServiceException || e instanceof Error, String(e));
      const err = e as IoTServiceException;
      return { name: err.name, status: err.$metadata?.httpStatusCode, message: err.message };
    }
    assert.fail('the call succeeded');
  }

  before(async () => {
    server = await startTestServer({ flags: { 'aws.requests_per_second': 1000 } });
    const s = server.services;
    const a = await s.tenants.createTenant({ name: 'aws-a', idScope: 'awsa' });
    const b = await s.tenants.createTenant({ name: 'aws-b', idScope: 'awsb' });
    tenantA = a.id;
    await s.iot.registry.updateSettings(a.id, { region: REGION, accountId: '123456789012' });
    await s.iot.registry.updateSettings(b.id, { region: REGION });
    const write = await s.awsKeys.create(a.id, 'ci', 'write');
    const read = await s.awsKeys.create(a.id, 'reader', 'read');
    const other = await s.awsKeys.create(b.id, 'other-scope', 'write');
    keys = {
      write: { accessKeyId: write.key.accessKeyId, secretAccessKey: write.secretAccessKey },
      read: { accessKeyId: read.key.accessKeyId, secretAccessKey: read.secretAccessKey },
      other: { accessKeyId: other.key.accessKeyId, secretAccessKey: other.secretAccessKey },
    };
    await s.issuance.createCa(a, { name: 'default' });
    client = clientFor(keys.write!);
    root = makeRoot('SDK Root');
  });
  after(async () => {
    client?.destroy();
    await server?.dispose();
  });

  it('registers a CA with the registration code and a template, and describes, lists and updates it', async () => {
    const { registrationCode } = await client.send(new GetRegistrationCodeCommand({}));
    assert.match(registrationCode!, /^[0-9a-f]{64}$/);
    const wrong = makeLeaf(root, 'not-the-code');
    const bad = await failure(
      client.send(
        new RegisterCACertificateCommand({
          caCertificate: certificatePem(root.cert),
          verificationCertificate: certificatePem(wrong.cert),
        }),
      ),
    );
    assert.deepEqual([bad.name, bad.status], ['RegistrationCodeValidationException', 400]);
    const verification = makeLeaf(root, registrationCode!);
    const template = JSON.stringify({
      Parameters: {
        'AWS::IoT::Certificate::CommonName': { Type: 'String' },
        'AWS::IoT::Certificate::Id': { Type: 'String' },
      },
      Resources: {
        thing: {
          Type: 'AWS::IoT::Thing',
          Properties: { ThingName: { Ref: 'AWS::IoT::Certificate::CommonName' } },
        },
        certificate: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' } },
        },
      },
    });
    const r = await client.send(
      new RegisterCACertificateCommand({
        caCertificate: certificatePem(root.cert),
        verificationCertificate: certificatePem(verification.cert),
        setAsActive: true,
        allowAutoRegistration: true,
        registrationConfig: { templateBody: template, roleArn: 'arn:aws:iam::123456789012:role/JITP' },
      }),
    );
    caId = r.certificateId!;
    assert.equal(caId, root.cert.sha256.toLowerCase());
    assert.equal(r.certificateArn, `arn:aws:iot:${REGION}:123456789012:cacert/${caId}`);
    const again = await failure(
      client.send(
        new RegisterCACertificateCommand({
          caCertificate: certificatePem(root.cert),
          verificationCertificate: certificatePem(verification.cert),
        }),
      ),
    );
    assert.deepEqual([again.name, again.status], ['ResourceAlreadyExistsException', 409]);
    const d = await client.send(new DescribeCACertificateCommand({ certificateId: caId }));
    assert.equal(d.certificateDescription!.status, 'ACTIVE');
    assert.equal(d.certificateDescription!.autoRegistrationStatus, 'ENABLE');
    assert.ok(d.certificateDescription!.creationDate instanceof Date);
    assert.equal(d.registrationConfig!.templateBody, template);
    await client.send(
      new UpdateCACertificateCommand({ certificateId: caId, newAutoRegistrationStatus: 'DISABLE' }),
    );
    const listed = await client.send(new ListCACertificatesCommand({}));
    assert.deepEqual(
      listed.certificates!.map((c) => c.certificateId),
      [caId],
    );
    await client.send(
      new UpdateCACertificateCommand({ certificateId: caId, newAutoRegistrationStatus: 'ENABLE' }),
    );
    const endpoint = await client.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' }));
    assert.equal(endpoint.endpointAddress, 'localhost');
  });

  it('manages things, types, groups and pages through 250 things; filters by attribute', async () => {
    await client.send(new CreateThingTypeCommand({ thingTypeName: 'sensor' }));
    await client.send(new CreateThingGroupCommand({ thingGroupName: 'line-1' }));
    for (let i = 0; i < 250; i++) {
      await client.send(
        new CreateThingCommand({
          thingName: `thing-${String(i).padStart(3, '0')}`,
          thingTypeName: 'sensor',
          attributePayload: { attributes: { parity: i % 2 ? 'odd' : 'even' } },
        }),
      );
    }
    // The same call again succeeds; another configuration under the name conflicts.
    await client.send(
      new CreateThingCommand({
        thingName: 'thing-000',
        thingTypeName: 'sensor',
        attributePayload: { attributes: { parity: 'even' } },
      }),
    );
    const dup = await failure(client.send(new CreateThingCommand({ thingName: 'thing-000' })));
    assert.deepEqual([dup.name, dup.status], ['ResourceAlreadyExistsException', 409]);
    const names: string[] = [];
    for await (const page of paginateListThings({ client, pageSize: 40 }, {}))
      names.push(...page.things!.map((t) => t.thingName!));
    assert.equal(names.length, 250);
    assert.equal(new Set(names).size, 250);
    const odd: string[] = [];
    for await (const page of paginateListThings(
      { client, pageSize: 50 },
      { attributeName: 'parity', attributeValue: 'odd' },
    ))
      odd.push(...page.things!.map((t) => t.thingName!));
    assert.equal(odd.length, 125);
    const t = await client.send(new DescribeThingCommand({ thingName: 'thing-007' }));
    assert.equal(t.thingTypeName, 'sensor');
    assert.equal(t.version, 1);
    await client.send(
      new UpdateThingCommand({
        thingName: 'thing-007',
        attributePayload: { attributes: { room: 'b2' }, merge: true },
        expectedVersion: 1,
      }),
    );
    assert.deepEqual((await client.send(new DescribeThingCommand({ thingName: 'thing-007' }))).attributes, {
      parity: 'odd',
      room: 'b2',
    });
    const stale = await failure(
      client.send(
        new UpdateThingCommand({
          thingName: 'thing-007',
          attributePayload: { attributes: {} },
          expectedVersion: 1,
        }),
      ),
    );
    assert.deepEqual([stale.name, stale.status], ['VersionConflictException', 409]);
    await client.send(new AddThingToThingGroupCommand({ thingGroupName: 'line-1', thingName: 'thing-007' }));
    const groups = await client.send(new ListThingGroupsForThingCommand({ thingName: 'thing-007' }));
    assert.deepEqual(
      groups.thingGroups!.map((g) => g.groupName),
      ['line-1'],
    );
    const missing = await failure(client.send(new DescribeThingCommand({ thingName: 'no-such-thing' })));
    assert.deepEqual([missing.name, missing.status], ['ResourceNotFoundException', 404]);
    const badName = await failure(client.send(new CreateThingCommand({ thingName: 'bad.name' })));
    assert.deepEqual([badName.name, badName.status], ['InvalidRequestException', 400]);
    await client.send(new DeleteThingCommand({ thingName: 'thing-249' }));
    await client.send(new DeleteThingCommand({ thingName: 'thing-249' }));
  });

  it('registers certificates, attaches policies and things, and refuses what AWS refuses', async () => {
    const leaf = makeLeaf(root, 'thing-001');
    const reg = await client.send(
      new RegisterCertificateCommand({
        certificatePem: certificatePem(leaf.cert),
        caCertificatePem: certificatePem(root.cert),
        status: 'ACTIVE',
      }),
    );
    const id = reg.certificateId!;
    assert.equal(id, leaf.cert.sha256.toLowerCase());
    const d = await client.send(new DescribeCertificateCommand({ certificateId: id }));
    assert.equal(d.certificateDescription!.status, 'ACTIVE');
    assert.equal(d.certificateDescription!.caCertificateId, caId);
    const garbage = await failure(
      client.send(
        new RegisterCertificateCommand({
          certificatePem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        }),
      ),
    );
    assert.deepEqual([garbage.name, garbage.status], ['CertificateValidationException', 400]);
    const noCa = makeLeaf(makeRoot('Unregistered'), 'sni-only');
    const sni = await client.send(
      new RegisterCertificateWithoutCACommand({
        certificatePem: certificatePem(noCa.cert),
        status: 'INACTIVE',
      }),
    );
    assert.equal(
      (await client.send(new DescribeCertificateCommand({ certificateId: sni.certificateId! })))
        .certificateDescription!.certificateMode,
      'SNI_ONLY',
    );

    const doc = JSON.stringify({
      Version: '2012-10-17',
      Statement: [{ Effect: 'Allow', Action: 'iot:Publish', Resource: '*' }],
    });
    const p = await client.send(new CreatePolicyCommand({ policyName: 'pub', policyDocument: doc }));
    assert.equal(p.policyVersionId, '1');
    const malformed = await failure(
      client.send(new CreatePolicyCommand({ policyName: 'broken', policyDocument: '{"Statement": ' })),
    );
    assert.deepEqual([malformed.name, malformed.status], ['MalformedPolicyException', 400]);
    for (let v = 2; v <= 5; v++)
      await client.send(
        new CreatePolicyVersionCommand({ policyName: 'pub', policyDocument: doc, setAsDefault: v === 5 }),
      );
    const tooMany = await failure(
      client.send(new CreatePolicyVersionCommand({ policyName: 'pub', policyDocument: doc })),
    );
    assert.deepEqual([tooMany.name, tooMany.status], ['VersionsLimitExceededException', 409]);
    assert.equal((await client.send(new GetPolicyCommand({ policyName: 'pub' }))).defaultVersionId, '5');
    assert.deepEqual(
      (await client.send(new ListPoliciesCommand({}))).policies!.map((x) => x.policyName),
      ['pub'],
    );
    await client.send(new AttachPolicyCommand({ policyName: 'pub', target: reg.certificateArn }));
    const attached = await client.send(new ListAttachedPoliciesCommand({ target: reg.certificateArn }));
    assert.deepEqual(
      attached.policies!.map((x) => x.policyName),
      ['pub'],
    );
    assert.deepEqual((await client.send(new ListTargetsForPolicyCommand({ policyName: 'pub' }))).targets, [
      reg.certificateArn,
    ]);
    await client.send(
      new AttachThingPrincipalCommand({ thingName: 'thing-001', principal: reg.certificateArn }),
    );
    assert.deepEqual(
      (await client.send(new ListThingPrincipalsCommand({ thingName: 'thing-001' }))).principals,
      [reg.certificateArn],
    );

    const active = await failure(client.send(new DeleteCertificateCommand({ certificateId: id })));
    assert.deepEqual([active.name, active.status], ['CertificateStateException', 406]);
    await client.send(new UpdateCertificateCommand({ certificateId: id, newStatus: 'INACTIVE' }));
    const attachedStill = await failure(client.send(new DeleteCertificateCommand({ certificateId: id })));
    assert.deepEqual([attachedStill.name, attachedStill.status], ['DeleteConflictException', 409]);
    await client.send(new DetachPolicyCommand({ policyName: 'pub', target: reg.certificateArn }));
    await client.send(
      new DetachThingPrincipalCommand({ thingName: 'thing-001', principal: reg.certificateArn }),
    );
    await client.send(new DeleteCertificateCommand({ certificateId: id }));
    const byCa = await client.send(new ListCertificatesByCACommand({ caCertificateId: caId }));
    assert.deepEqual(byCa.certificates, []);
    const all = await client.send(new ListCertificatesCommand({}));
    assert.deepEqual(
      all.certificates!.map((c) => c.certificateId),
      [sni.certificateId],
    );

    const inactiveCa = await failure(client.send(new DeleteCACertificateCommand({ certificateId: caId })));
    assert.deepEqual([inactiveCa.name, inactiveCa.status], ['CertificateStateException', 406]);
  });

  it('issues certificates from a CSR and with new keys through the scope issuing CA', async () => {
    const key = generateKey('p256');
    const fromCsr = await client.send(
      new CreateCertificateFromCsrCommand({
        certificateSigningRequest: csrPem(createCsr(key, { CN: 'from-csr' })),
        setAsActive: true,
      }),
    );
    assert.match(fromCsr.certificatePem!, /BEGIN CERTIFICATE/);
    assert.equal(
      (await client.send(new DescribeCertificateCommand({ certificateId: fromCsr.certificateId! })))
        .certificateDescription!.status,
      'ACTIVE',
    );
    const withKeys = await client.send(new CreateKeysAndCertificateCommand({ setAsActive: false }));
    assert.match(withKeys.keyPair!.PrivateKey!, /BEGIN PRIVATE KEY/);
    assert.match(withKeys.keyPair!.PublicKey!, /BEGIN PUBLIC KEY/);
    assert.equal(
      (await client.send(new DescribeCertificateCommand({ certificateId: withKeys.certificateId! })))
        .certificateDescription!.status,
      'INACTIVE',
    );
  });

  it('keeps provisioning templates', async () => {
    const body = JSON.stringify({
      Parameters: { SerialNumber: { Type: 'String' }, 'AWS::IoT::Certificate::Id': { Type: 'String' } },
      Resources: {
        thing: { Type: 'AWS::IoT::Thing', Properties: { ThingName: { Ref: 'SerialNumber' } } },
        certificate: {
          Type: 'AWS::IoT::Certificate',
          Properties: { CertificateId: { Ref: 'AWS::IoT::Certificate::Id' } },
        },
      },
    });
    await client.send(
      new CreateProvisioningTemplateCommand({
        templateName: 'fleet',
        templateBody: body,
        provisioningRoleArn: 'arn:aws:iam::123456789012:role/x',
        enabled: true,
      }),
    );
    const d = await client.send(new DescribeProvisioningTemplateCommand({ templateName: 'fleet' }));
    assert.equal(d.type, 'FLEET_PROVISIONING');
    assert.equal(d.templateBody, body);
    await client.send(new UpdateProvisioningTemplateCommand({ templateName: 'fleet', enabled: false }));
    assert.equal((await client.send(new ListProvisioningTemplatesCommand({}))).templates![0]!.enabled, false);
    const invalid = await failure(
      client.send(
        new CreateProvisioningTemplateCommand({
          templateName: 'bad',
          templateBody: '{"Resources": {}}',
          provisioningRoleArn: 'arn:aws:iam::1:role/x',
        }),
      ),
    );
    assert.deepEqual([invalid.name, invalid.status], ['InvalidRequestException', 400]);
    await client.send(new DeleteProvisioningTemplateCommand({ templateName: 'fleet' }));
  });

  it('refuses a wrong secret, an unknown key, a skewed clock, a read-only key writing, and another scope, creating nothing', async () => {
    const wrongSecret = await failure(
      clientFor({ ...keys.write!, secretAccessKey: 'x'.repeat(40) }).send(
        new CreateThingCommand({ thingName: 'never-1' }),
      ),
    );
    assert.equal(wrongSecret.name, 'InvalidSignatureException');
    assert.equal(wrongSecret.status, 403);
    assert.match(wrongSecret.message, /The request signature we calculated does not match/);
    const unknown = await failure(
      clientFor({ accessKeyId: 'AKIAAAAAAAAAAAAAAAAA', secretAccessKey: 'y'.repeat(40) }).send(
        new CreateThingCommand({ thingName: 'never-2' }),
      ),
    );
    assert.deepEqual([unknown.name, unknown.status], ['UnrecognizedClientException', 403]);
    const skewed = await failure(
      clientFor(keys.write!, { systemClockOffset: -10 * 60 * 1000 }).send(
        new CreateThingCommand({ thingName: 'never-3' }),
      ),
    );
    assert.equal(skewed.name, 'InvalidSignatureException');
    assert.match(skewed.message, /Signature expired: \d{8}T\d{6}Z is now earlier than/);
    const readOnly = clientFor(keys.read!);
    assert.equal(
      (await readOnly.send(new DescribeThingCommand({ thingName: 'thing-001' }))).thingName,
      'thing-001',
    );
    const denied = await failure(readOnly.send(new CreateThingCommand({ thingName: 'never-4' })));
    assert.deepEqual([denied.name, denied.status], ['UnauthorizedException', 401]);
    assert.match(denied.message, /not authorized to perform: iot:CreateThing/);
    // No signature at all.
    const bare = await new Promise<{ status?: number; type?: string | string[]; body: string }>(
      (resolve, reject) => {
        const r = httpsRequest(
          `${server.awsUrl}/things/thing-001`,
          { ca: certificatePem(server.devPki.root.certificate) },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (d: string) => (body += d));
            res.on('end', () =>
              resolve({ status: res.statusCode, type: res.headers['x-amzn-errortype'], body }),
            );
          },
        );
        r.on('error', reject);
        r.end();
      },
    );
    assert.equal(bare.status, 403);
    assert.match(String(bare.type), /^MissingAuthenticationTokenException/);
    assert.deepEqual(JSON.parse(bare.body), { message: 'Missing Authentication Token' });
    const otherScope = await failure(
      clientFor(keys.other!).send(new DescribeThingCommand({ thingName: 'thing-001' })),
    );
    assert.deepEqual([otherScope.name, otherScope.status], ['ResourceNotFoundException', 404]);
    for (const n of ['never-1', 'never-2', 'never-3', 'never-4'])
      assert.equal(await server.services.iot.registry.findThing(tenantA, n), undefined);
  });

  it('throttles a key over its rate with ThrottlingException (429)', async () => {
    const t = await startTestServer({ flags: { 'aws.requests_per_second': 2 } });
    try {
      const s = await t.services.tenants.createTenant({ name: 'throttle', idScope: 'throttle' });
      const k = await t.services.awsKeys.create(s.id, 'fast', 'read');
      const c = new IoTClient({
        region: REGION,
        endpoint: t.awsUrl,
        credentials: { accessKeyId: k.key.accessKeyId, secretAccessKey: k.secretAccessKey },
        maxAttempts: 1,
        requestHandler: new NodeHttpHandler({
          httpsAgent: new Agent({ ca: certificatePem(t.devPki.root.certificate) }),
        }),
      });
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, () => c.send(new GetRegistrationCodeCommand({}))),
      );
      const throttled = results
        .filter((r) => r.status === 'rejected')
        .map((r) => (r as PromiseRejectedResult).reason as IoTServiceException);
      assert.ok(throttled.length > 0);
      assert.ok(
        throttled.every((e) => e.name === 'ThrottlingException' && e.$metadata.httpStatusCode === 429),
      );
      c.destroy();
    } finally {
      await t.dispose();
    }
  });
});
