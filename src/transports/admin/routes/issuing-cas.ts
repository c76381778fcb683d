/** /v1/tenants/:idScope/issuing-cas and the public /crl/...: issuing CAs and their CRLs. */
import Type from 'typebox';
import { addIssuingCa } from '../../../features/issuance/issuing-cas.ts';
import {
  AddedIssuingCaSchema,
  AddIssuingCaSchema,
  ISSUANCE_NAME_PATTERN,
} from '../../../features/issuance/types.ts';
import { crlPem } from '../../../pki/crl.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

/** A CRL as DER or PEM: documented per content type, sent as it is. */
const CrlAnswer = {
  description: 'the CRL',
  content: {
    'application/pkix-crl': {
      schema: Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: 'DER' }),
    },
    'application/x-pem-file': { schema: Type.String({ description: 'PEM' }) },
  },
};

export const issuingCaRoutes = resource((app, { services }) => {
  const { issuance: engine, tenants, cas } = services;
  const tags = ['issuance'];
  const base = '/v1/tenants/:idScope/issuing-cas';
  const Named = scoped({ name: Type.String({ pattern: ISSUANCE_NAME_PATTERN }) });
  app.get(
    base,
    {
      schema: {
        summary: 'List issuing CAs',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('issuingCa')), ...ERRORS },
      },
    },
    async (req) => engine.listCas(await tenantFor(tenants, req)),
  );
  app.post(
    base,
    {
      schema: {
        summary:
          'Create an issuing CA (self-signed, key kept encrypted) or import one (certificate chain + key); by default it is also added to the DPS CA certificates as verified',
        tags,
        params: ScopeParams,
        body: AddIssuingCaSchema,
        response: { 201: AddedIssuingCaSchema, ...ERRORS },
      },
    },
    async (req, reply) =>
      reply.code(201).send(await addIssuingCa(engine, cas, await tenantFor(tenants, req), req.body)),
  );
  app.get(
    `${base}/:name`,
    {
      schema: {
        summary: 'Show an issuing CA',
        tags,
        params: Named,
        response: { 200: ref('issuingCa'), ...ERRORS },
      },
    },
    async (req) => engine.getCa(await tenantFor(tenants, req), req.params.name),
  );
  app.delete(
    `${base}/:name`,
    {
      schema: {
        summary: 'Delete an issuing CA and its key',
        tags,
        params: Named,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await engine.deleteCa(await tenantFor(tenants, req), req.params.name);
      return reply.code(204).send();
    },
  );
  app.get(
    `${base}/:name/crl`,
    {
      schema: {
        summary: 'The current CRL of an issuing CA (PEM, or DER with ?format=der)',
        tags,
        params: Named,
        querystring: Type.Object({ format: Type.Optional(Type.Enum(['pem', 'der'])) }),
        response: { 200: CrlAnswer, ...ERRORS },
      },
    },
    async (req, reply) => {
      const der = await engine.crl(await tenantFor(tenants, req), req.params.name);
      if (req.query.format === 'der') return reply.type('application/pkix-crl').send(der);
      return reply.type('application/x-pem-file').send(crlPem(der));
    },
  );
  app.get(
    '/crl/:idScope/:file',
    {
      schema: {
        summary:
          'Public CRL over plain HTTP, /crl/<idScope>/<issuing CA>.crl (DER), as a CRL distribution point',
        tags,
        security: [],
        params: scoped({ file: Type.String({ pattern: '^[A-Za-z0-9._-]{1,80}$' }) }),
        response: { 200: CrlAnswer, ...ERRORS },
      },
    },
    async (req, reply) => {
      const der = await engine.crlFile(await tenants.getTenant(req.params.idScope), req.params.file);
      return reply.type('application/pkix-crl').send(der);
    },
  );
});
