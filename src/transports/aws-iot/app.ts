/**
 * The AWS IoT control-plane face: restJson1 over HTTPS, as @aws-sdk/client-iot and `aws iot`
 * speak it with `--endpoint-url`. Every request is authenticated by SigV4 against the scope's
 * access keys before its body is even parsed as JSON; the key decides the scope and whether the
 * call may write. Answers use AWS's shapes: epoch-second timestamps, `x-amzn-errortype` and a
 * `{"message"}` body. The operations (operations.ts) call the same services as the admin API.
 */
import { randomUUID } from 'node:crypto';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type { Logger } from 'pino';
import { type ErrorCode, isZtError, operatorText } from '../../errors.ts';
import type { AwsKeyGrant } from '../../features/aws-keys/service.ts';
import type { Tenant } from '../../features/tenants/types.ts';
import type { Services } from '../../services.ts';
import type { DeviceTls } from '../device-tls.ts';
import { RateLimiter } from '../../features/provisioning/rate-limit.ts';
import { registerOperations } from './operations.ts';
import { AwsError, verifySigV4 } from './sigv4.ts';

declare module 'fastify' {
  interface FastifyRequest {
    rawBody?: Buffer;
    aws?: { grant: AwsKeyGrant; tenant: Tenant; region: string };
  }
}

/** How a catalogued error reads to an AWS client. */
const AWS_ERRORS: Partial<Record<ErrorCode, [string, number]>> = {
  NOT_FOUND: ['ResourceNotFoundException', 404],
  CONFLICT: ['ResourceAlreadyExistsException', 409],
  PRECONDITION_FAILED: ['VersionConflictException', 409],
  BAD_REQUEST: ['InvalidRequestException', 400],
  BODY_TOO_LARGE: ['InvalidRequestException', 400],
  TEMPLATE_INVALID: ['InvalidRequestException', 400],
  PROVISIONING_FAILED: ['InvalidRequestException', 400],
  CA_VERIFICATION_FAILED: ['RegistrationCodeValidationException', 400],
  THROTTLED: ['ThrottlingException', 429],
  UNAUTHENTICATED: ['UnauthorizedException', 401],
  FORBIDDEN: ['UnauthorizedException', 401],
  STORE_UNAVAILABLE: ['ServiceUnavailableException', 503],
  NOT_CONFIGURED: ['ServiceUnavailableException', 503],
};

/** The AWS error for anything a handler throws. */
export function toAwsError(e: unknown): AwsError {
  if (e instanceof AwsError) return e;
  if (isZtError(e)) {
    const known = AWS_ERRORS[e.code];
    if (known) return new AwsError(known[0], known[1], e.message);
    // Certificates and chains that do not parse or validate.
    if (/^(PEM|DER|CERT|CSR|CHAIN|KEY|PKCS7|ALGORITHM)_/.test(e.code))
      return new AwsError('CertificateValidationException', 400, e.message);
  }
  return new AwsError(
    'InternalFailureException',
    500,
    'An internal error occurred; the server log has the request id.',
  );
}

/** Sends an AWS-shaped error. */
function sendError(reply: FastifyReply, err: AwsError, requestId: string): FastifyReply {
  return reply
    .code(err.status)
    .header('x-amzn-errortype', `${err.type}:`)
    .header('x-amzn-requestid', requestId)
    .type('application/json')
    .send({ message: err.message, ...err.extra });
}

/**
 * The signing names IoT requests carry: the SDK for JavaScript signs as "iot", botocore (the AWS
 * CLI) as "execute-api", the name in its service model; AWS accepts both.
 */
const SIGNING_NAMES = ['iot', 'execute-api'];

/** Largest request body the face reads (a CA certificate and a template fit well within it). */
const MAX_BODY_BYTES = 128 * 1024;

/** Builds the AWS IoT face (not listening yet). */
export async function buildAwsIotApp(o: {
  logger: Logger;
  services: Services;
  tls: DeviceTls;
  /** Host name DescribeEndpoint answers when the scope names no endpoint. */
  dataHost: () => string;
  /** Requests per second per access key (bursts of twice that); 0: no limit. */
  requestsPerSecond: number;
  /**
   * Who a request is from. Default: SigV4 against the scope's access keys. The benchmark's
   * baseline passes a fixed grant, to measure what verification costs.
   */
  authenticate?: (req: FastifyRequest, raw: Buffer) => Promise<{ grant: AwsKeyGrant; region: string }>;
}): Promise<FastifyInstance> {
  const limiter =
    o.requestsPerSecond > 0
      ? new RateLimiter({ capacity: o.requestsPerSecond * 2, refillSeconds: 1 / o.requestsPerSecond })
      : undefined;
  const app = Fastify({
    loggerInstance: o.logger as FastifyBaseLogger,
    https: { cert: o.tls.cert, key: o.tls.key, minVersion: 'TLSv1.2' },
    bodyLimit: MAX_BODY_BYTES,
    genReqId: () => randomUUID(),
    // The SDK encodes ARNs into path labels; they must reach the signature check as sent.
    // ARNs travel as path labels (ListAttachedPolicies): longer than fastify's 100-character default.
    routerOptions: { ignoreTrailingSlash: false, maxParamLength: 2048 },
  }) as unknown as FastifyInstance;
  // Bodies stay bytes until the signature over them is verified.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err, req, reply) => {
    const e = err as Error & { code?: string; statusCode?: number; validation?: unknown };
    let aws: AwsError;
    if (e.validation) aws = new AwsError('InvalidRequestException', 400, e.message);
    else if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      aws = new AwsError(
        'InvalidRequestException',
        400,
        `the request body is larger than ${MAX_BODY_BYTES} bytes`,
      );
    else aws = toAwsError(err);
    if (aws.status >= 500) req.log.error({ err }, 'AWS IoT request failed');
    else req.log.info({ type: aws.type, reason: operatorText(err) }, 'AWS IoT request refused');
    return sendError(reply, aws, String(req.id));
  });

  /** The SigV4 check of a request, over the bytes of its body. */
  const verify = (req: FastifyRequest, raw: Buffer) => {
    const url = req.raw.url ?? '/';
    const q = url.indexOf('?');
    return verifySigV4(
      {
        method: req.method,
        rawPath: q < 0 ? url : url.slice(0, q),
        rawQuery: q < 0 ? '' : url.slice(q + 1),
        headers: req.headers,
        body: raw,
      },
      (id) => o.services.awsKeys.lookup(id),
      { services: SIGNING_NAMES },
    );
  };

  // SigV4 first: nothing about the request is looked at before its signature verifies.
  app.addHook('preValidation', async (req: FastifyRequest) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const { grant, region } = o.authenticate ? await o.authenticate(req, raw) : await verify(req, raw);
    const tenant = await o.services.tenants.getTenant(grant.tenantId);
    const settings = await o.services.iot.registry.settings(tenant.id);
    if (region !== settings.region)
      throw new AwsError(
        'InvalidSignatureException',
        403,
        `Credential should be scoped to a valid region. This scope's region is '${settings.region}'.`,
      );
    const wait = limiter?.take(grant.accessKeyId) ?? 0;
    if (wait > 0)
      throw new AwsError(
        'ThrottlingException',
        429,
        `Rate exceeded: this access key may make ${o.requestsPerSecond} requests per second; retry after ${wait} s`,
      );
    req.aws = { grant, tenant, region };
    req.rawBody = raw;
    if (raw.length === 0) req.body = {};
    else {
      try {
        req.body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new AwsError('SerializationException', 400, 'the request body is not JSON');
      }
    }
  });

  app.setNotFoundHandler(async (req, reply) => {
    // Unknown operations are answered only to signed requests, like everything else.
    const url = req.raw.url ?? '/';
    try {
      await verify(req, Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));
    } catch (e) {
      return sendError(reply, toAwsError(e), String(req.id));
    }
    return sendError(
      reply,
      new AwsError(
        'UnsupportedOperationException',
        400,
        `zerotouch does not implement the AWS IoT operation at ${req.method} ${url.split('?')[0]}; see docs/aws-cli.md for the operations it answers`,
      ),
      String(req.id),
    );
  });

  registerOperations(app, { services: o.services, dataHost: o.dataHost });
  return app;
}
