/**
 * EST over the device listener (RFC 7030 as updated by RFC 8951), byte for byte as libest and
 * aziot-certd expect (reference/est.md section 0): canonical header case, Content-Length and no
 * chunking, exact Content-Types, base64 in 64-column lines ending with a newline, a Basic
 * challenge on 401, any base64/PEM/DER layout accepted in requests. Also serves the CRLs.
 */
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ERROR_CATALOGUE, isZtError, operatorText, ZtError } from '../../errors.ts';
import { EST_OPERATIONS, EstAuthError, type EstService } from '../../features/est/service.ts';
import type { IssuanceEngine } from '../../features/issuance/engine.ts';
import type { TenantService } from '../../features/tenants/service.ts';
import { base64Lines } from '../../pki/pem.ts';
import { encodeCertsOnly } from '../../pki/pkcs7.ts';
import { retryAfterOf } from '../http-errors.ts';
import type { DeviceRequests } from './device-requests.ts';

const CT_CACERTS = 'application/pkcs7-mime';
const CT_CERTS_ONLY = 'application/pkcs7-mime; smime-type=certs-only';

type Params = { label?: string; op: string };

/** Writes a whole response with exactly these header names and a Content-Length. */
function send(
  reply: FastifyReply,
  status: number,
  headers: Record<string, string>,
  body: string | Buffer = '',
): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'latin1') : body;
  reply.hijack();
  reply.raw.writeHead(status, { ...headers, 'Content-Length': String(buf.length) });
  reply.raw.end(buf);
}

function sendBase64(reply: FastifyReply, contentType: string, der: Buffer): void {
  send(reply, 200, { 'Content-Type': contentType, 'Content-Transfer-Encoding': 'base64' }, base64Lines(der));
}

/**
 * The HTTP status an EST client gets for an error: 401 (with a Basic challenge) only asks for
 * credentials; a refused certificate or a revoked one is 403, as RFC 7030 3.2.3 has it.
 */
export function estHttpStatus(e: ZtError): number {
  if (e instanceof EstAuthError) return 401;
  const status = ERROR_CATALOGUE[e.code].status;
  return status === 401 ? 403 : status;
}

function sendError(req: FastifyRequest, reply: FastifyReply, e: unknown, devices: DeviceRequests): void {
  // Credentials that were offered and refused count against the source; a bare first request
  // that only draws the Basic challenge does not.
  const offered =
    !!req.headers.authorization || (req.raw.socket as TLSSocket).getPeerCertificate?.()?.raw !== undefined;
  if (e instanceof EstAuthError) {
    req.log.info({ reason: operatorText(e) }, 'EST authentication refused');
    if (offered) devices.authFailed(req);
    // A challenge is what makes libest retry with credentials; its body must be empty.
    if (e.challenge) {
      return send(reply, 401, { 'WWW-Authenticate': `Basic realm="${e.challenge}"` });
    }
    return send(reply, 401, { 'Content-Type': 'text/plain; charset=utf-8' }, `${e.message}\n`);
  }
  const err = isZtError(e) ? e : undefined;
  if (!err) req.log.error({ err: e }, 'EST request failed');
  // A 503 is the operator's to fix (configuration, store): worth a warning, not just a line.
  else if (err.status >= 500)
    req.log.warn({ code: err.code, reason: operatorText(err) }, 'EST request refused');
  else req.log.info({ code: err.code, reason: operatorText(err) }, 'EST request refused');
  const status = err ? estHttpStatus(err) : 500;
  if (offered && err && (err.status === 401 || err.code === 'CERT_MALFORMED')) devices.authFailed(req);
  const text = err ? `${err.message}\n` : `internal error; see the server log (request ${req.id})\n`;
  const retryAfter = retryAfterOf(err);
  send(
    reply,
    status,
    {
      'Content-Type': 'text/plain; charset=utf-8',
      ...(retryAfter !== undefined ? { 'Retry-After': String(retryAfter) } : {}),
    },
    Buffer.from(text, 'utf8'),
  );
}

function tlsUnique(socket: TLSSocket): string | undefined {
  if (socket.getProtocol?.() !== 'TLSv1.2') return undefined;
  const f = socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished();
  return f?.toString('base64');
}

function multipart(parts: Array<{ contentType: string; der: Buffer }>): { boundary: string; body: string } {
  const boundary = `zt${randomBytes(12).toString('hex')}`;
  let body = '';
  for (const p of parts) {
    body += `--${boundary}\r\nContent-Type: ${p.contentType}\r\nContent-Transfer-Encoding: base64\r\n\r\n`;
    body += base64Lines(p.der) + '\r\n';
  }
  body += `--${boundary}--\r\n`;
  return { boundary, body };
}

/** Mounts /.well-known/est and /crl on the device listener. */
export function registerEstRoutes(
  app: FastifyInstance,
  est: EstService,
  engine: IssuanceEngine,
  tenants: TenantService,
  devices: DeviceRequests,
): void {
  app.register(async (scope) => {
    // RFC 8951: the body is base64 whatever the headers say; keep it raw and decode in the feature.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

    const handle = async (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply) => {
      const { label, op } = req.params;
      const operation = op.toLowerCase();
      try {
        if (!EST_OPERATIONS.includes(operation) || (label && EST_OPERATIONS.includes(label.toLowerCase()))) {
          throw new ZtError(
            'NOT_FOUND',
            `"${req.url.split('?')[0]}" is not an EST operation; use ${EST_OPERATIONS.slice(0, 5).join(', ')}`,
          );
        }
        const wantMethod = operation === 'cacerts' || operation === 'csrattrs' ? 'GET' : 'POST';
        if (req.method !== wantMethod) {
          return send(
            reply,
            405,
            { Allow: wantMethod, 'Content-Type': 'text/plain; charset=utf-8' },
            `use ${wantMethod} for ${operation}\n`,
          );
        }
        if (operation === 'fullcmc') {
          return send(
            reply,
            501,
            { 'Content-Type': 'text/plain; charset=utf-8' },
            'fullcmc is not supported; use simpleenroll\n',
          );
        }
        const r = await est.resolve(label);
        if (operation === 'cacerts' || operation === 'csrattrs') {
          await est.checkOfferedCredentials(r, req.headers.authorization);
        }
        if (operation === 'cacerts') {
          return sendBase64(reply, CT_CACERTS, encodeCertsOnly((await est.cacerts(r)).map((c) => c.der)));
        }
        if (operation === 'csrattrs') return sendBase64(reply, 'application/csrattrs', await est.csrattrs(r));

        const ct = String(req.headers['content-type'] ?? '').toLowerCase();
        if (!ct.startsWith('application/pkcs10')) {
          throw new ZtError(
            'BAD_REQUEST',
            `send the CSR as Content-Type application/pkcs10 (got "${ct || 'none'}")`,
          );
        }
        const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        if (body.length === 0)
          throw new ZtError('CSR_MALFORMED', 'the request has no CSR; send a base64 PKCS#10 body');
        const socket = req.raw.socket as TLSSocket;
        const ctx = {
          authorization: req.headers.authorization,
          chain: devices.chainOf(req),
          tlsUnique: tlsUnique(socket),
        };
        if (operation === 'serverkeygen') {
          const out = await est.serverkeygen(r, body, ctx);
          if (out.kind === 'pending') {
            return send(reply, 202, { 'Retry-After': String(out.retryAfter) });
          }
          const { boundary, body: mp } = multipart([
            { contentType: 'application/pkcs8', der: out.key.export({ format: 'der', type: 'pkcs8' }) },
            { contentType: CT_CERTS_ONLY, der: encodeCertsOnly([out.issued.certificate.der]) },
          ]);
          req.log.info(
            { serial: out.issued.record.serialNumber, requester: out.issued.record.requester },
            'EST serverkeygen issued',
          );
          return send(reply, 200, { 'Content-Type': `multipart/mixed; boundary=${boundary}` }, mp);
        }
        const out = await est.enroll(r, body, ctx, operation === 'simplereenroll');
        if (out.kind === 'pending') {
          return send(reply, 202, { 'Retry-After': String(out.retryAfter) });
        }
        req.log.info(
          {
            serial: out.issued.record.serialNumber,
            subject: out.issued.record.subject,
            requester: out.issued.record.requester,
          },
          `EST ${operation} issued`,
        );
        // RFC 7030 4.2.3: the issued certificate only; aziot appends /cacerts itself.
        return sendBase64(reply, CT_CERTS_ONLY, encodeCertsOnly([out.issued.certificate.der]));
      } catch (e) {
        return sendError(req, reply, e, devices);
      }
    };
    for (const path of ['/.well-known/est/:op', '/.well-known/est/:label/:op']) {
      scope.route({
        method: ['GET', 'POST', 'PUT', 'DELETE'],
        url: path,
        handler: handle,
        schema: { hide: true },
      });
    }
  });

  app.get<{ Params: { idScope: string; file: string } }>(
    '/crl/:idScope/:file',
    { schema: { hide: true } },
    async (req, reply) => {
      try {
        const tenant = await tenants.getTenant(req.params.idScope).catch((e: unknown) => {
          throw isZtError(e, 'NOT_FOUND') ? new ZtError('NOT_FOUND', 'there is no CRL at this path') : e;
        });
        const der = await engine.crlFile(tenant, req.params.file);
        return send(reply, 200, { 'Content-Type': 'application/pkix-crl' }, der);
      } catch (e) {
        return sendError(req, reply, e, devices);
      }
    },
  );
}
