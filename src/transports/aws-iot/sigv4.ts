/**
 * Server-side SigV4 verification for the AWS IoT face. The client's canonical request is
 * rebuilt from what arrived (method, the path exactly as sent, which the signer encodes again as
 * AWS's non-S3 services do, the query, the headers it says it signed, the body) and signed with
 * the key's secret by @smithy/signature-v4, the signer the AWS SDK itself uses; the signatures
 * are compared in constant time. Failures carry AWS's error types and messages.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsKeyGrant } from '../../features/aws-keys/service.ts';

/** An AWS-shaped refusal: error type (x-amzn-errortype), HTTP status and message. */
export class AwsError extends Error {
  readonly type: string;
  readonly status: number;
  readonly extra: Record<string, unknown>;
  constructor(type: string, status: number, message: string, extra: Record<string, unknown> = {}) {
    super(message);
    this.type = type;
    this.status = status;
    this.extra = extra;
  }
}

/** What arrived, as the verifier needs it. */
export interface SignedRequest {
  method: string;
  /** The path exactly as sent (percent-encoded), without the query. */
  rawPath: string;
  /** The query string as sent, without "?". */
  rawQuery: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** AWS's allowed clock difference between client and server. */
export const MAX_SKEW_MS = 5 * 60 * 1000;

const AUTH =
  /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/(\d{8})\/([^/,\s]+)\/([^/,\s]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;

const amzDate = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(',') : v;
}

/** The query string as the canonical request needs it; a malformed escape is InvalidRequest. */
export function parseQuery(raw: string): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const part of raw.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const dec = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, '%20'));
      } catch {
        throw new AwsError('InvalidRequestException', 400, 'the query string has a malformed percent-escape');
      }
    };
    const k = dec(i < 0 ? part : part.slice(0, i));
    const v = i < 0 ? '' : dec(part.slice(i + 1));
    const prev = out[k];
    out[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return out;
}

/** The parts of an `AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...` header. */
export function parseAuthorization(authorization: string): {
  accessKeyId: string;
  day: string;
  region: string;
  service: string;
  signed: string[];
  signature: string;
} {
  // Bounded before the pattern runs: the header is the client's.
  const m = authorization.length <= 4096 ? AUTH.exec(authorization.trim()) : null;
  if (!m)
    throw new AwsError(
      'IncompleteSignatureException',
      400,
      `Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters with AWS4-HMAC-SHA256. Authorization=${authorization.slice(0, 200)}`,
    );
  const [, accessKeyId, day, region, service, signedList, signature] = m as unknown as string[];
  return {
    accessKeyId: accessKeyId!,
    day: day!,
    region: region!,
    service: service!,
    signed: signedList!.split(';'),
    signature: signature!,
  };
}

/**
 * Verifies the request's SigV4 signature for one of `services`; returns the key's grant and the region
 * it was signed for, or throws an AwsError as AWS answers it.
 */
export async function verifySigV4(
  req: SignedRequest,
  lookup: (accessKeyId: string) => Promise<AwsKeyGrant | undefined>,
  o: { services: string[]; now?: Date },
): Promise<{ grant: AwsKeyGrant; region: string }> {
  const authorization = header(req.headers, 'authorization');
  if (!authorization)
    throw new AwsError('MissingAuthenticationTokenException', 403, 'Missing Authentication Token');
  const { accessKeyId, day, region, service, signed, signature } = parseAuthorization(authorization);
  if (!signed.includes('host'))
    throw new AwsError(
      'InvalidSignatureException',
      403,
      "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
    );
  const dateText = header(req.headers, 'x-amz-date');
  if (!dateText || !signed.includes('x-amz-date'))
    throw new AwsError(
      'IncompleteSignatureException',
      400,
      "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header, signed in SignedHeaders.",
    );
  const dm = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(dateText);
  if (!dm)
    throw new AwsError(
      'IncompleteSignatureException',
      400,
      `Date must be in ISO-8601 'basic format'. Got '${dateText}'.`,
    );
  const signedAt = new Date(Date.UTC(+dm[1]!, +dm[2]! - 1, +dm[3]!, +dm[4]!, +dm[5]!, +dm[6]!));
  const now = o.now ?? new Date();
  if (signedAt.getTime() < now.getTime() - MAX_SKEW_MS)
    throw new AwsError(
      'InvalidSignatureException',
      403,
      `Signature expired: ${dateText} is now earlier than ${amzDate(new Date(now.getTime() - MAX_SKEW_MS))} (${amzDate(now)} - 5 min.)`,
    );
  if (signedAt.getTime() > now.getTime() + MAX_SKEW_MS)
    throw new AwsError(
      'InvalidSignatureException',
      403,
      `Signature not yet current: ${dateText} is still later than ${amzDate(new Date(now.getTime() + MAX_SKEW_MS))} (${amzDate(now)} + 5 min.)`,
    );
  if (day !== dateText.slice(0, 8))
    throw new AwsError(
      'InvalidSignatureException',
      403,
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${day}' != '${dateText.slice(0, 8)}', from '${dateText}'.`,
    );
  if (!o.services.includes(service!))
    throw new AwsError(
      'InvalidSignatureException',
      403,
      `Credential should be scoped to correct service: '${o.services[0]}'. `,
    );
  const grant = await lookup(accessKeyId!);
  if (!grant)
    throw new AwsError(
      'UnrecognizedClientException',
      403,
      'The security token included in the request is invalid.',
    );
  const payloadHash = createHash('sha256').update(req.body).digest('hex');
  const claimed = header(req.headers, 'x-amz-content-sha256');
  if (claimed !== undefined && claimed !== payloadHash)
    throw new AwsError(
      'InvalidSignatureException',
      403,
      'The provided x-amz-content-sha256 header does not match what was computed.',
    );
  const headers: Record<string, string> = {};
  for (const name of signed) {
    const v = header(req.headers, name);
    if (v === undefined)
      throw new AwsError(
        'InvalidSignatureException',
        403,
        `The request signature names header ${name}, which the request does not carry.`,
      );
    headers[name] = v;
  }
  const signer = new SignatureV4({
    service: service!,
    region: region!,
    credentials: { accessKeyId: accessKeyId!, secretAccessKey: grant.secret },
    sha256: Hash.bind(null, 'sha256'),
    applyChecksum: false,
  });
  const signedRequest = await signer.sign(
    {
      method: req.method,
      protocol: 'https:',
      hostname: headers.host ?? '',
      path: req.rawPath,
      query: parseQuery(req.rawQuery),
      headers: { ...headers, 'x-amz-content-sha256': payloadHash },
      body: req.body,
    },
    {
      signingDate: signedAt,
      signableHeaders: new Set(signed),
      unsignableHeaders: new Set(['x-amz-content-sha256'].filter((h) => !signed.includes(h))),
    },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(
    String(signedRequest.headers.authorization ?? signedRequest.headers.Authorization),
  )?.[1];
  if (!expected || !timingSafeEqual(Buffer.from(expected), Buffer.from(signature!)))
    throw new AwsError(
      'InvalidSignatureException',
      403,
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    );
  return { grant, region: region! };
}
