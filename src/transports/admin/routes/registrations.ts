/** /v1/tenants/:idScope/registrations and /diagnose: registration records, and why a chain matches or not. */
import Type from 'typebox';
import { REGISTRATION_ID_PATTERN } from '../../../features/enrollments/types.ts';
import { DiagnoseRequestSchema } from '../../../features/provisioning/types.ts';
import { loadCertificates } from '../../../pki/certificate.ts';
import { tenantFor } from '../authorize.ts';
import {
  ERRORS,
  IfMatchHeaders,
  NoContent,
  Page,
  PageQuery,
  ref,
  resource,
  ScopeParams,
  scoped,
} from '../route-kit.ts';

export const registrationRoutes = resource((app, { services }) => {
  const { registrations, tenants } = services;
  const tags = ['registrations'];
  const base = '/v1/tenants/:idScope/registrations';
  const Registration = scoped({
    id: Type.String({ pattern: REGISTRATION_ID_PATTERN, description: 'registration ID' }),
  });
  app.get(
    base,
    {
      schema: {
        summary: 'List registration records (paged)',
        tags,
        params: ScopeParams,
        querystring: Type.Object({
          ...PageQuery.properties,
          enrollmentGroup: Type.Optional(
            Type.String({ description: 'only the records of this enrollment group' }),
          ),
          status: Type.Optional(Type.Enum(['assigned', 'assigning', 'failed', 'disabled'])),
          updatedSince: Type.Optional(
            Type.String({ format: 'date-time', description: 'only records changed at or after this time' }),
          ),
        }),
        response: { 200: Page(ref('registrationState')), ...ERRORS },
      },
    },
    async (req) =>
      registrations.records((await tenantFor(tenants, req)).id, req.query.max, req.query.continuation, {
        groupId: req.query.enrollmentGroup,
        status: req.query.status,
        updatedSince: req.query.updatedSince && new Date(req.query.updatedSince).toISOString(),
      }),
  );
  app.get(
    `${base}/:id`,
    {
      schema: {
        summary: 'Show the registration record of a registration ID',
        tags,
        params: Registration,
        response: { 200: ref('registrationState'), ...ERRORS },
      },
    },
    async (req) => registrations.record((await tenantFor(tenants, req)).id, req.params.id),
  );
  app.delete(
    `${base}/:id`,
    {
      schema: {
        summary:
          'Delete a registration record (the device registers afresh next time); If-Match makes it conditional',
        tags,
        params: Registration,
        headers: IfMatchHeaders,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await registrations.deleteRecord(
        (await tenantFor(tenants, req)).id,
        req.params.id,
        req.headers['if-match'],
      );
      return reply.code(204).send();
    },
  );
  app.post(
    '/v1/tenants/:idScope/diagnose',
    {
      schema: {
        summary: 'Say which enrollment a device chain would match, or exactly why none does',
        tags: ['diagnose'],
        params: ScopeParams,
        body: DiagnoseRequestSchema,
        response: { 200: ref('diagnosis'), ...ERRORS },
      },
    },
    async (req) =>
      registrations.diagnoseChain((await tenantFor(tenants, req)).id, loadCertificates(req.body.chain)),
  );
});
