import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsKeyGrant } from '../../features/aws-keys/service.ts';
import { AwsError, verifySigV4 } from './sigv4.ts';

const grant: AwsKeyGrant = {
  accessKeyId: 'AKIAABCDEFGHIJKLMNOP',
  tenantId: 't1',
  name: 'k',
  rights: 'write',
  secret: 's'.repeat(40),
};
const lookup = async (id: string) => (id === grant.accessKeyId ? grant : undefined);

/** A request signed as the SDK signs it, then possibly altered. */
async function signed(o: { body?: string; at?: Date; unsigned?: string[]; service?: string } = {}) {
  const signer = new SignatureV4({
    service: o.service ?? 'iot',
    region: 'us-east-1',
    credentials: { accessKeyId: grant.accessKeyId, secretAccessKey: grant.secret },
    sha256: Hash.bind(null, 'sha256'),
  });
  const body = o.body ?? '{"target":"arn:aws:iot:us-east-1:1:cert/x"}';
  const r = await signer.sign(
    {
      method: 'POST',
      protocol: 'https:',
      hostname: 'localhost',
      path: '/attached-policies/arn%3Aaws%3Aiot%3Aus-east-1%3A1%3Acert%2Fab',
      query: { pageSize: '10' },
      headers: { host: 'localhost', 'content-type': 'application/json' },
      body,
    },
    { signingDate: o.at ?? new Date(), unsignableHeaders: new Set(o.unsigned ?? []) },
  );
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method: 'POST',
    rawPath: '/attached-policies/arn%3Aaws%3Aiot%3Aus-east-1%3A1%3Acert%2Fab',
    rawQuery: 'pageSize=10',
    headers,
    body: Buffer.from(body),
  };
}

const refused = async (p: Promise<unknown>, type: string, message?: RegExp) =>
  assert.rejects(p, (e) => e instanceof AwsError && e.type === type && (!message || message.test(e.message)));

describe('SigV4 verification', () => {
  it('accepts what the SDK signs, an ARN in the path included (encoded twice in the canonical request)', async () => {
    const r = await verifySigV4(await signed(), lookup, { services: ['iot'] });
    assert.equal(r.grant.name, 'k');
    assert.equal(r.region, 'us-east-1');
  });

  it('refuses a changed body, a missing or unknown key, a stale or future date, unsigned host, another service', async () => {
    const req = await signed();
    await refused(
      verifySigV4({ ...req, body: Buffer.from('{"target":"other"}') }, lookup, { services: ['iot'] }),
      'InvalidSignatureException',
    );
    const { authorization: _a, ...noAuth } = req.headers;
    await refused(
      verifySigV4({ ...req, headers: noAuth }, lookup, { services: ['iot'] }),
      'MissingAuthenticationTokenException',
    );
    await refused(
      verifySigV4(req, async () => undefined, { services: ['iot'] }),
      'UnrecognizedClientException',
    );
    await refused(
      verifySigV4(await signed({ at: new Date(Date.now() - 6 * 60_000) }), lookup, { services: ['iot'] }),
      'InvalidSignatureException',
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    );
    await refused(
      verifySigV4(await signed({ at: new Date(Date.now() + 6 * 60_000) }), lookup, { services: ['iot'] }),
      'InvalidSignatureException',
      /^Signature not yet current/,
    );
    await refused(
      verifySigV4(await signed({ unsigned: ['host'] }), lookup, { services: ['iot'] }),
      'InvalidSignatureException',
      /'Host' or ':authority' must be a 'SignedHeader'/,
    );
    await refused(
      verifySigV4(await signed({ service: 's3' }), lookup, { services: ['iot', 'execute-api'] }),
      'InvalidSignatureException',
      /scoped to correct service/,
    );
    await refused(
      verifySigV4(
        { ...req, headers: { ...req.headers, authorization: 'AWS4-HMAC-SHA256 Credential=x' } },
        lookup,
        { services: ['iot'] },
      ),
      'IncompleteSignatureException',
    );
  });
});
