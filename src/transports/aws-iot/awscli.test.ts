import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { certificatePem } from '../../pki/certificate.ts';
import { cliRunner } from '../../testing/cli.ts';
import { mosquittoPub, opensslRoot, opensslSigned, withCa } from '../../testing/jitp.ts';
import { openssl, scratchDir } from '../../testing/pki.ts';
import { startTestServer, type TestServer } from '../../testing/server.ts';

const AWS = '/usr/bin/aws';
const DG_TEMPLATE = readFileSync(
  join(import.meta.dirname, '..', '..', 'features', 'templates', 'testdata', 'dg-jitp-template.json'),
  'utf8',
);

// The AWS seed, with Debian's AWS CLI v2 and only --endpoint-url (and file names) changed.
describe(
  'the JITP seed with the real AWS CLI',
  { skip: existsSync(AWS) ? false : `${AWS} is not installed (Debian package awscli)` },
  () => {
    let server: TestServer;
    const dir = scratchDir('zt-awscli-');
    const p = (f: string) => join(dir, f);
    const { ok } = cliRunner(() => server, dir);
    let env: NodeJS.ProcessEnv;
    let scope = '';

    const aws = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) =>
        execFile(
          AWS,
          ['--endpoint-url', server.awsUrl, ...args],
          { cwd: dir, env, timeout: 60_000 },
          (err, stdout, stderr) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        ),
      );
    const awsOk = async (...args: string[]) => {
      const r = await aws(...args);
      assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.stderr}`);
      return r.stdout ? JSON.parse(r.stdout) : undefined;
    };

    before(async () => {
      server = await startTestServer();
      writeFileSync(p('server-ca.pem'), certificatePem(server.devPki.root.certificate));
      scope = /ID scope (\S+)/.exec(await ok('tenant', 'create', 'Seed'))![1]!;
      await ok('iot', 'settings', '--scope', scope, '--region', 'us-east-1', '--account', '123456789012');
      const created = await ok('aws-key', 'create', 'seed-operator', '--scope', scope);
      const id = /aws_access_key_id = (\S+)/.exec(created)![1]!;
      const secret = /aws_secret_access_key = (\S+)/.exec(created)![1]!;
      env = {
        PATH: process.env.PATH,
        HOME: dir,
        AWS_ACCESS_KEY_ID: id,
        AWS_SECRET_ACCESS_KEY: secret,
        AWS_DEFAULT_REGION: 'us-east-1',
        AWS_CA_BUNDLE: p('server-ca.pem'),
        AWS_PAGER: '',
        AWS_EC2_METADATA_DISABLED: 'true',
      };
      await ok('iot', 'type', 'create', 'lightBulb-versionA', '--scope', scope);
      await ok('iot', 'group', 'create', 'v1-lightbulbs', '--scope', scope);
      await ok('iot', 'group', 'create', 'US', '--scope', scope);
    });
    after(async () => {
      await server?.dispose();
    });

    it('registers the CA with the verification certificate and the template, and shows what JITP made', async () => {
      const { registrationCode } = await awsOk('iot', 'get-registration-code');
      const root = opensslRoot(dir, 'rootCA');
      // The seed's verification certificate: its own key, a CSR with CN = the code, signed by the CA.
      openssl(['genrsa', '-out', p('verificationCert.key'), '2048']);
      openssl([
        'req',
        '-new',
        '-key',
        p('verificationCert.key'),
        '-out',
        p('verificationCert.csr'),
        '-subj',
        `/CN=${registrationCode}`,
      ]);
      openssl([
        'x509',
        '-req',
        '-in',
        p('verificationCert.csr'),
        '-CA',
        root.pem,
        '-CAkey',
        root.key,
        '-CAcreateserial',
        '-out',
        p('verificationCert.pem'),
        '-days',
        '500',
        '-sha256',
      ]);
      writeFileSync(
        p('provisioning-template.json'),
        JSON.stringify({ templateBody: DG_TEMPLATE, roleArn: 'arn:aws:iam::123456789012:role/JITPRole' }),
      );
      const ca = await awsOk(
        'iot',
        'register-ca-certificate',
        '--ca-certificate',
        'file://rootCA.pem',
        '--verification-cert',
        'file://verificationCert.pem',
        '--set-as-active',
        '--allow-auto-registration',
        '--registration-config',
        'file://provisioning-template.json',
      );
      assert.match(ca.certificateArn, /^arn:aws:iot:us-east-1:123456789012:cacert\/[0-9a-f]{64}$/);
      const endpoint = await awsOk('iot', 'describe-endpoint', '--endpoint-type', 'iot:Data-ATS');
      assert.equal(endpoint.endpointAddress, 'localhost');

      const dev = opensslSigned(
        dir,
        'deviceCert',
        '/C=US/ST=WA/O=Example/CN=lightbulb-1/serialNumber=LB-1',
        root,
      );
      withCa(dir, dev, root, 'deviceCertAndCACert.crt');
      const r = await mosquittoPub({
        port: server.mqttPort,
        cafile: p('server-ca.pem'),
        cert: p('deviceCertAndCACert.crt'),
        key: dev.key,
        args: ['-q', '1', '-t', 'foo/bar', '-I', 'anyclientID', '-m', 'Hello'],
      });
      assert.equal(r.code, 0, r.stderr);

      const thing = await awsOk('iot', 'describe-thing', '--thing-name', 'lightbulb-1');
      assert.equal(thing.thingTypeName, 'lightBulb-versionA');
      assert.deepEqual(thing.attributes, { version: 'v1', serialNumber: 'LB-1' });
      const principals = await awsOk('iot', 'list-thing-principals', '--thing-name', 'lightbulb-1');
      assert.equal(principals.principals.length, 1);
      const certificateId = principals.principals[0].split('/').pop();
      const cert = await awsOk('iot', 'describe-certificate', '--certificate-id', certificateId);
      assert.equal(cert.certificateDescription.status, 'ACTIVE');
      assert.equal(cert.certificateDescription.caCertificateId, ca.certificateId);
      const policies = await awsOk('iot', 'list-attached-policies', '--target', principals.principals[0]);
      assert.equal(policies.policies.length, 1);
      assert.match(policies.policies[0].policyName, /^[0-9A-F]{40}$/);
      // An operation zerotouch does not answer says so, naming it.
      const unsupported = await aws('iot', 'list-jobs');
      assert.notEqual(unsupported.code, 0);
      assert.match(unsupported.stderr, /UnsupportedOperationException.*GET \/jobs/);
      // A deleted key no longer signs anything the server accepts.
      assert.match(await ok('aws-key', 'list', '--scope', scope), /seed-operator\s+write/);
      await ok('aws-key', 'delete', env.AWS_ACCESS_KEY_ID!, '--scope', scope);
      const gone = await aws('iot', 'get-registration-code');
      assert.match(gone.stderr, /UnrecognizedClientException/);
    });
  },
);
