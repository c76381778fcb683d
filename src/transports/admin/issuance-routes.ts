/**
 * Native /v1 routes of the issuance and EST features, per tenant: issuing CAs and their CRLs,
 * certificate profiles, issued certificates (list, show, export, revoke, issue), EST labels,
 * their users and enrollments awaiting approval.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type AddIssuingCa, addIssuingCa } from '../../features/issuance/issuing-cas.ts';
import { certificatePem } from '../../pki/certificate.ts';
import { crlPem } from '../../pki/crl.ts';
import { parseCsr } from '../../pki/csr.ts';
import type { Services } from '../../services.ts';
import { tenantFor as tenantOf } from './authorize.ts';

type Scope = { idScope: string };

const str = { type: 'string' } as const;

/** Mounts the issuance and EST management routes. */
export function registerIssuanceAdminRoutes(app: FastifyInstance, services: Services): void {
  const { tenants, issuance: engine, est } = services;
  const tenantFor = (req: FastifyRequest<{ Params: Scope }>) => tenantOf(tenants, req);
  const base = '/v1/tenants/:idScope';

  // Issuing CAs
  app.get<{ Params: Scope }>(
    `${base}/issuing-cas`,
    { schema: { summary: 'List issuing CAs', tags: ['issuance'] } },
    async (req) => engine.listCas(await tenantFor(req)),
  );
  app.post<{
    Params: Scope;
    Body: AddIssuingCa;
  }>(
    `${base}/issuing-cas`,
    {
      schema: {
        summary:
          'Create an issuing CA (self-signed, key kept encrypted) or import one (certificate chain + key); by default it is also added to the DPS CA certificates as verified',
        tags: ['issuance'],
        body: {
          type: 'object',
          required: ['name'],
          additionalProperties: false,
          properties: {
            name: str,
            subject: { type: 'string', description: 'e.g. "/O=Acme/CN=Acme Device CA" (create)' },
            keyType: {
              type: 'string',
              description: 'p256 (default), p384, rsa2048, rsa3072, rsa4096, ed25519',
            },
            validityDays: { type: 'integer' },
            certificate: {
              type: 'string',
              description: 'import: CA certificate PEM, followed by its issuers',
            },
            key: { type: 'string', description: 'import: the CA private key PEM' },
            keyPassphrase: str,
            keyUri: {
              type: 'string',
              description:
                'PKCS#11 URI of a key in a token (pkcs11:token=...;object=...;pin-value=...): create signs a new CA certificate with it, import pairs it with the certificate',
            },
            trustForDps: {
              type: 'boolean',
              description: 'also upload it as a verified DPS CA certificate of the same name (default true)',
            },
          },
        },
      },
    },
    async (req, reply) => {
      return reply.code(201).send(await addIssuingCa(engine, services.cas, await tenantFor(req), req.body));
    },
  );
  app.get<{ Params: Scope & { name: string } }>(
    `${base}/issuing-cas/:name`,
    { schema: { summary: 'Show an issuing CA', tags: ['issuance'] } },
    async (req) => engine.getCa(await tenantFor(req), req.params.name),
  );
  app.delete<{ Params: Scope & { name: string } }>(
    `${base}/issuing-cas/:name`,
    { schema: { summary: 'Delete an issuing CA and its key', tags: ['issuance'] } },
    async (req, reply) => {
      await engine.deleteCa(await tenantFor(req), req.params.name);
      return reply.code(204).send();
    },
  );
  app.get<{ Params: Scope & { name: string }; Querystring: { format?: string } }>(
    `${base}/issuing-cas/:name/crl`,
    {
      schema: {
        summary: 'The current CRL of an issuing CA (PEM, or DER with ?format=der)',
        tags: ['issuance'],
        querystring: { type: 'object', properties: { format: { type: 'string', enum: ['pem', 'der'] } } },
      },
    },
    async (req, reply) => {
      const der = await engine.crl(await tenantFor(req), req.params.name);
      if (req.query.format === 'der') return reply.type('application/pkix-crl').send(der);
      return reply.type('application/x-pem-file').send(crlPem(der));
    },
  );

  app.get<{ Params: { idScope: string; file: string } }>(
    '/crl/:idScope/:file',
    {
      schema: {
        summary:
          'Public CRL over plain HTTP, /crl/<idScope>/<issuing CA>.crl (DER), as a CRL distribution point',
        tags: ['issuance'],
      },
    },
    async (req, reply) => {
      const der = await engine.crlFile(await tenants.getTenant(req.params.idScope), req.params.file);
      return reply.type('application/pkix-crl').send(der);
    },
  );

  // Profiles
  app.get<{ Params: Scope }>(
    `${base}/profiles`,
    { schema: { summary: 'List certificate profiles (stored and built-in)', tags: ['issuance'] } },
    async (req) => engine.listProfiles(await tenantFor(req)),
  );
  app.put<{ Params: Scope & { name: string }; Body: unknown }>(
    `${base}/profiles/:name`,
    {
      schema: {
        summary:
          'Create or replace a profile: {kind: device|server|ca, validityDays|validityHours, keyUsage, extKeyUsage, sans: copy|none|dns-ip, allowedKeyTypes, honorCaRequests}',
        tags: ['issuance'],
        body: { type: 'object', additionalProperties: true },
      },
    },
    async (req) => engine.putProfile(await tenantFor(req), req.params.name, req.body),
  );
  app.delete<{ Params: Scope & { name: string } }>(
    `${base}/profiles/:name`,
    { schema: { summary: 'Delete a stored profile', tags: ['issuance'] } },
    async (req, reply) => {
      await engine.deleteProfile(await tenantFor(req), req.params.name);
      return reply.code(204).send();
    },
  );

  // Issued certificates
  type ListQuery = {
    ca?: string;
    status?: 'valid' | 'revoked';
    subject?: string;
    method?: string;
    expiringBefore?: string;
    max?: number;
    continuation?: string;
  };
  app.get<{ Params: Scope; Querystring: ListQuery }>(
    `${base}/certificates`,
    {
      schema: {
        summary: 'List issued certificates, newest first, with filters',
        tags: ['issuance'],
        querystring: {
          type: 'object',
          properties: {
            ca: str,
            status: { type: 'string', enum: ['valid', 'revoked'] },
            subject: { type: 'string', description: 'substring of the subject' },
            method: str,
            expiringBefore: { type: 'string', format: 'date-time' },
            max: { type: 'integer', minimum: 1, maximum: 1000 },
            continuation: str,
          },
        },
      },
    },
    async (req) => {
      const { max, continuation, ...filter } = req.query;
      return engine.listIssued(await tenantFor(req), filter, max, continuation);
    },
  );
  app.post<{ Params: Scope; Body: { csr: string; ca?: string; profile?: string } }>(
    `${base}/certificates`,
    {
      schema: {
        summary: 'Issue a certificate for a CSR (PEM or base64 DER)',
        tags: ['issuance'],
        body: {
          type: 'object',
          required: ['csr'],
          additionalProperties: false,
          properties: { csr: str, ca: str, profile: str },
        },
      },
    },
    async (req, reply) => {
      const t = await tenantFor(req);
      const issued = await engine.issue({
        tenant: t,
        ca: req.body.ca,
        profile: req.body.profile ?? 'device',
        csr: parseCsr(req.body.csr),
        requester: `api:${req.principal!.name}`,
        method: 'api',
      });
      return reply.code(201).send({
        ...issued.record,
        certificate: certificatePem(issued.certificate),
        chain: [issued.certificate, ...issued.caChain].map(certificatePem).join(''),
      });
    },
  );
  app.get<{ Params: Scope & { serial: string } }>(
    `${base}/certificates/:serial`,
    { schema: { summary: 'Show an issued certificate with its PEM', tags: ['issuance'] } },
    async (req) => engine.getIssued(await tenantFor(req), req.params.serial),
  );
  app.get<{ Params: Scope & { serial: string } }>(
    `${base}/certificates/:serial/pem`,
    { schema: { summary: 'Export an issued certificate as PEM', tags: ['issuance'] } },
    async (req, reply) =>
      reply
        .type('application/x-pem-file')
        .send((await engine.getIssued(await tenantFor(req), req.params.serial)).certificate),
  );
  app.post<{ Params: Scope & { serial: string }; Body: { reason?: string } }>(
    `${base}/certificates/:serial/revoke`,
    {
      schema: {
        summary: 'Revoke an issued certificate; it is refused by EST and DPS and listed in the CRL',
        tags: ['issuance'],
        body: {
          type: 'object',
          properties: { reason: { type: 'string', description: 'RFC 5280 CRLReason, e.g. keyCompromise' } },
        },
      },
    },
    async (req) => engine.revoke(await tenantFor(req), req.params.serial, req.body?.reason),
  );

  // EST labels, users, approvals
  app.get<{ Params: Scope }>(
    `${base}/est-labels`,
    { schema: { summary: 'List EST labels', tags: ['est'] } },
    async (req) => est.listLabels(await tenantFor(req)),
  );
  app.put<{ Params: Scope & { label: string }; Body: unknown }>(
    `${base}/est-labels/:label`,
    {
      schema: {
        summary:
          'Create or replace an EST label: {issuingCa, profile, basicAuth, certAuth, bootstrapCas, requireTlsUnique, manualApproval, default}',
        tags: ['est'],
        body: { type: 'object', additionalProperties: true },
      },
    },
    async (req) => est.putLabel(await tenantFor(req), req.params.label, req.body),
  );
  app.get<{ Params: Scope & { label: string } }>(
    `${base}/est-labels/:label`,
    { schema: { summary: 'Show an EST label', tags: ['est'] } },
    async (req) => est.getLabel(await tenantFor(req), req.params.label),
  );
  app.delete<{ Params: Scope & { label: string } }>(
    `${base}/est-labels/:label`,
    { schema: { summary: 'Delete an EST label and its users', tags: ['est'] } },
    async (req, reply) => {
      await est.deleteLabel(await tenantFor(req), req.params.label);
      return reply.code(204).send();
    },
  );
  app.put<{ Params: Scope & { label: string; username: string }; Body: { password: string } }>(
    `${base}/est-labels/:label/users/:username`,
    {
      schema: {
        summary: 'Set the password of an EST user (HTTP Basic) of a label',
        tags: ['est'],
        body: { type: 'object', required: ['password'], properties: { password: str } },
      },
    },
    async (req, reply) => {
      await est.putUser(await tenantFor(req), req.params.label, req.params.username, req.body.password);
      return reply.code(204).send();
    },
  );
  app.delete<{ Params: Scope & { label: string; username: string } }>(
    `${base}/est-labels/:label/users/:username`,
    { schema: { summary: 'Delete an EST user', tags: ['est'] } },
    async (req, reply) => {
      await est.deleteUser(await tenantFor(req), req.params.label, req.params.username);
      return reply.code(204).send();
    },
  );
  app.get<{ Params: Scope & { label: string } }>(
    `${base}/est-labels/:label/pending`,
    { schema: { summary: 'EST enrollments awaiting approval on a label', tags: ['est'] } },
    async (req) => est.listPending(await tenantFor(req), req.params.label),
  );
  for (const verb of ['approve', 'reject'] as const) {
    app.post<{ Params: Scope & { label: string; keyHash: string } }>(
      `${base}/est-labels/:label/pending/:keyHash/${verb}`,
      {
        schema: {
          summary: `${verb === 'approve' ? 'Approve' : 'Reject'} a pending EST enrollment`,
          tags: ['est'],
        },
      },
      async (req, reply) => {
        await est.decide(await tenantFor(req), req.params.label, req.params.keyHash, verb === 'approve');
        return reply.code(204).send();
      },
    );
  }
}
