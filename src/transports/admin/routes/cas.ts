/** /v1/tenants/:idScope/cas: CA certificates and their proof of possession. */
import Type from 'typebox';
import { CaProofSchema, CaUploadSchema, NAME_PATTERN } from '../../../features/cas/types.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoBody, NoContent, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const caRoutes = resource((app, { services }) => {
  const { cas, tenants } = services;
  const tags = ['cas'];
  const base = '/v1/tenants/:idScope/cas';
  const Named = scoped({ name: Type.String({ pattern: NAME_PATTERN }) });
  app.get(
    base,
    {
      schema: {
        summary: 'List CA certificates',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('caCertificate')), ...ERRORS },
      },
    },
    async (req) => cas.list((await tenantFor(tenants, req)).id),
  );
  app.post(
    base,
    {
      schema: {
        summary: 'Upload a CA certificate (PEM or base64 DER); "verified": true skips proof of possession',
        tags,
        params: ScopeParams,
        body: CaUploadSchema,
        response: { 201: ref('caCertificate'), ...ERRORS },
      },
    },
    async (req, reply) => {
      const t = await tenantFor(tenants, req);
      return reply
        .code(201)
        .send(await cas.upload(t.id, req.body.name, req.body.certificate, req.body.verified));
    },
  );
  app.get(
    `${base}/:name`,
    {
      schema: {
        summary: 'Show a CA certificate',
        tags,
        params: Named,
        response: { 200: ref('caCertificate'), ...ERRORS },
      },
    },
    async (req) => cas.get((await tenantFor(tenants, req)).id, req.params.name),
  );
  app.delete(
    `${base}/:name`,
    {
      schema: {
        summary: 'Delete a CA certificate',
        tags,
        params: Named,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await cas.delete((await tenantFor(tenants, req)).id, req.params.name);
      return reply.code(204).send();
    },
  );
  app.post(
    `${base}/:name/verification-code`,
    {
      schema: {
        summary: 'Generate a verification code (valid one hour) for proof of possession',
        tags,
        params: Named,
        body: NoBody,
        response: { 200: ref('caCertificate'), ...ERRORS },
      },
    },
    async (req) => cas.generateVerificationCode((await tenantFor(tenants, req)).id, req.params.name),
  );
  app.post(
    `${base}/:name/verify`,
    {
      schema: {
        summary: 'Verify a CA with a certificate whose CN is the verification code, signed by the CA',
        tags,
        params: Named,
        body: CaProofSchema,
        response: { 200: ref('caCertificate'), ...ERRORS },
      },
    },
    async (req) => cas.verify((await tenantFor(tenants, req)).id, req.params.name, req.body.certificate),
  );
});
