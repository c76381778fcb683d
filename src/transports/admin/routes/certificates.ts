/** /v1/tenants/:idScope/certificates: issued certificates (list, show, export, revoke, issue). */
import Type from 'typebox';
import {
  IssuedAnswerSchema,
  IssuedQuerySchema,
  IssuedWithPemSchema,
  IssueRequestSchema,
  RevokeRequestSchema,
} from '../../../features/issuance/types.ts';
import { certificatePem } from '../../../pki/certificate.ts';
import { parseCsr } from '../../../pki/csr.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, Page, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const certificateRoutes = resource((app, { services }) => {
  const { issuance: engine, tenants } = services;
  const tags = ['issuance'];
  const base = '/v1/tenants/:idScope/certificates';
  const Serial = scoped({
    serial: Type.String({ pattern: '^[0-9A-Fa-f]{1,64}$', description: 'serial number, hex' }),
  });
  app.get(
    base,
    {
      schema: {
        summary: 'List issued certificates, newest first, with filters',
        tags,
        params: ScopeParams,
        querystring: IssuedQuerySchema,
        response: { 200: Page(ref('issuedCertificate')), ...ERRORS },
      },
    },
    async (req) => {
      const { max, continuation, ...filter } = req.query;
      return engine.listIssued(await tenantFor(tenants, req), filter, max, continuation);
    },
  );
  app.post(
    base,
    {
      schema: {
        summary: 'Issue a certificate for a CSR (PEM or base64 DER)',
        tags,
        params: ScopeParams,
        body: IssueRequestSchema,
        response: { 201: IssuedAnswerSchema, ...ERRORS },
      },
    },
    async (req, reply) => {
      const t = await tenantFor(tenants, req);
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
  app.get(
    `${base}/:serial`,
    {
      schema: {
        summary: 'Show an issued certificate with its PEM',
        tags,
        params: Serial,
        response: { 200: IssuedWithPemSchema, ...ERRORS },
      },
    },
    async (req) => engine.getIssued(await tenantFor(tenants, req), req.params.serial),
  );
  app.get(
    `${base}/:serial/pem`,
    {
      schema: {
        summary: 'Export an issued certificate as PEM',
        tags,
        params: Serial,
        response: {
          200: {
            description: 'the certificate',
            content: { 'application/x-pem-file': { schema: Type.String() } },
          },
          ...ERRORS,
        },
      },
    },
    async (req, reply) =>
      reply
        .type('application/x-pem-file')
        .send((await engine.getIssued(await tenantFor(tenants, req), req.params.serial)).certificate),
  );
  app.post(
    `${base}/:serial/revoke`,
    {
      schema: {
        summary: 'Revoke an issued certificate; it is refused by EST and DPS and listed in the CRL',
        tags,
        params: Serial,
        body: RevokeRequestSchema,
        response: { 200: ref('issuedCertificate'), ...ERRORS },
      },
    },
    async (req) => engine.revoke(await tenantFor(tenants, req), req.params.serial, req.body?.reason),
  );
});
