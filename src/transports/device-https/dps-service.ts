/**
 * The Azure DPS service API shape (2021-10-01) on the device listener, authenticated with SAS
 * tokens from a connection string, so the azure-iot-provisioning-service SDK manages
 * enrollments, enrollment groups and registration states unchanged. Paths are case-insensitive.
 * One plugin: the token is checked before the body is read, the route schemas validate, errors
 * answer in the DPS shape.
 */
import { ContinuationToken } from '../continuation.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import Type from 'typebox';
import { requireRight, type SasPrincipal } from '../../features/access-policies/service.ts';
import {
  AttestationMechanismSchema,
  BulkResultSchema,
  EnrollmentGroupInputSchema,
  EnrollmentGroupSchema,
  GROUP_ID_PATTERN,
  GroupBulkSchema,
  IndividualBulkSchema,
  IndividualEnrollmentInputSchema,
  IndividualEnrollmentSchema,
  REGISTRATION_ID_PATTERN,
} from '../../features/enrollments/types.ts';
import { DeviceRegistrationStateSchema } from '../../features/provisioning/types.ts';
import type { Services } from '../../services.ts';
import type { DeviceRequests } from './device-requests.ts';
import { dpsErrorHandler } from './dps-device.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The shared access policy a service API request is signed with. */
    sas?: SasPrincipal;
  }
}

const NoContent = Type.Unsafe<undefined>({ type: 'null' });
const IfMatch = Type.Optional(Type.String({ description: 'etag the write must match, or *' }));
const Paging = Type.Object({
  'x-ms-max-item-count': Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  'x-ms-continuation': Type.Optional(ContinuationToken),
});
/** A query specification ({"query": "*"}); zerotouch lists everything of the kind. */
const QuerySpec = Type.Union([Type.Null(), Type.Object({ query: Type.Optional(Type.String()) })]);

/** The Azure-shaped service routes. */
export function dpsServiceRoutes(dps: Services, devices: DeviceRequests): FastifyPluginAsync {
  return async (plugin) => {
    const app = plugin.withTypeProvider<TypeBoxTypeProvider>();
    app.setErrorHandler(dpsErrorHandler(devices));
    app.addHook('onRequest', async (req) => {
      req.sas = await dps.policies.authenticate(req.headers.authorization);
    });
    const sas = (req: { sas?: SasPrincipal }) => req.sas!;
    const page = (reply: FastifyReply, itemType: string, max: number | undefined, continuation?: string) => {
      reply.header('x-ms-item-type', itemType);
      if (max) reply.header('x-ms-max-item-count', String(max));
      if (continuation) reply.header('x-ms-continuation', continuation);
    };

    // Individual enrollments
    const Individual = Type.Object({ id: Type.String({ pattern: REGISTRATION_ID_PATTERN }) });
    app.put(
      '/enrollments/:id',
      {
        schema: {
          params: Individual,
          headers: Type.Object({ 'if-match': IfMatch }),
          body: IndividualEnrollmentInputSchema,
          response: { 200: IndividualEnrollmentSchema },
        },
      },
      async (req, reply) => {
        requireRight(sas(req), 'EnrollmentWrite');
        const doc = await dps.enrollments.putIndividual(
          sas(req).tenantId,
          req.params.id,
          req.body,
          req.headers['if-match'],
        );
        return reply.header('etag', doc.etag).send(doc);
      },
    );
    app.get(
      '/enrollments/:id',
      { schema: { params: Individual, response: { 200: IndividualEnrollmentSchema } } },
      async (req, reply) => {
        requireRight(sas(req), 'EnrollmentRead');
        const doc = await dps.enrollments.getIndividual(sas(req).tenantId, req.params.id);
        return reply.header('etag', doc.etag).send(doc);
      },
    );
    app.post(
      '/enrollments/:id/attestationmechanism',
      { schema: { params: Individual, response: { 200: AttestationMechanismSchema } } },
      async (req) => {
        requireRight(sas(req), 'EnrollmentRead');
        return (await dps.enrollments.getIndividual(sas(req).tenantId, req.params.id)).attestation;
      },
    );
    app.post(
      '/enrollments/query',
      {
        schema: {
          headers: Paging,
          body: QuerySpec,
          response: { 200: Type.Array(IndividualEnrollmentSchema) },
        },
      },
      async (req, reply) => {
        requireRight(sas(req), 'EnrollmentRead');
        const max = req.headers['x-ms-max-item-count'];
        const p = await dps.enrollments.list<never>(
          sas(req).tenantId,
          'individual',
          max,
          req.headers['x-ms-continuation'],
        );
        page(reply, 'Enrollment', max, p.continuation);
        return p.items;
      },
    );
    app.post(
      '/enrollments',
      { schema: { body: IndividualBulkSchema, response: { 200: BulkResultSchema } } },
      async (req) => {
        requireRight(sas(req), 'EnrollmentWrite');
        return dps.enrollments.bulk(sas(req).tenantId, req.body.mode, { individual: req.body.enrollments });
      },
    );

    // Enrollment groups
    const Group = Type.Object({ id: Type.String({ pattern: GROUP_ID_PATTERN }) });
    app.put(
      '/enrollmentGroups/:id',
      {
        schema: {
          params: Group,
          headers: Type.Object({ 'if-match': IfMatch }),
          body: EnrollmentGroupInputSchema,
          response: { 200: EnrollmentGroupSchema },
        },
      },
      async (req, reply) => {
        requireRight(sas(req), 'EnrollmentWrite');
        const doc = await dps.enrollments.putGroup(
          sas(req).tenantId,
          req.params.id,
          req.body,
          req.headers['if-match'],
        );
        return reply.header('etag', doc.etag).send(doc);
      },
    );
    app.get(
      '/enrollmentGroups/:id',
      { schema: { params: Group, response: { 200: EnrollmentGroupSchema } } },
      async (req, reply) => {
        requireRight(sas(req), 'EnrollmentRead');
        const doc = await dps.enrollments.getGroup(sas(req).tenantId, req.params.id);
        return reply.header('etag', doc.etag).send(doc);
      },
    );
    app.post(
      '/enrollmentGroups/:id/attestationmechanism',
      { schema: { params: Group, response: { 200: AttestationMechanismSchema } } },
      async (req) => {
        requireRight(sas(req), 'EnrollmentRead');
        return (await dps.enrollments.getGroup(sas(req).tenantId, req.params.id)).attestation;
      },
    );
    app.post(
      '/enrollmentGroups/query',
      { schema: { headers: Paging, body: QuerySpec, response: { 200: Type.Array(EnrollmentGroupSchema) } } },
      async (req, reply) => {
        requireRight(sas(req), 'EnrollmentRead');
        const max = req.headers['x-ms-max-item-count'];
        const p = await dps.enrollments.list<never>(
          sas(req).tenantId,
          'group',
          max,
          req.headers['x-ms-continuation'],
        );
        page(reply, 'EnrollmentGroup', max, p.continuation);
        return p.items;
      },
    );
    app.post(
      '/enrollmentGroups',
      { schema: { body: GroupBulkSchema, response: { 200: BulkResultSchema } } },
      async (req) => {
        requireRight(sas(req), 'EnrollmentWrite');
        return dps.enrollments.bulk(sas(req).tenantId, req.body.mode, { group: req.body.enrollmentGroups });
      },
    );

    // Deleting either kind
    for (const [prefix, kind, Params] of [
      ['enrollments', 'individual', Individual],
      ['enrollmentGroups', 'group', Group],
    ] as const) {
      app.delete(
        `/${prefix}/:id`,
        {
          schema: {
            params: Params,
            headers: Type.Object({ 'if-match': IfMatch }),
            response: { 204: NoContent },
          },
        },
        async (req, reply) => {
          requireRight(sas(req), 'EnrollmentWrite');
          await dps.enrollments.delete(sas(req).tenantId, kind, req.params.id, req.headers['if-match']);
          return reply.code(204).send();
        },
      );
    }

    // Registration states
    const Registration = Type.Object({ id: Type.String({ pattern: REGISTRATION_ID_PATTERN }) });
    app.get(
      '/registrations/:id',
      { schema: { params: Registration, response: { 200: DeviceRegistrationStateSchema } } },
      async (req) => {
        requireRight(sas(req), 'RegistrationStatusRead');
        return dps.registrations.record(sas(req).tenantId, req.params.id);
      },
    );
    app.delete(
      '/registrations/:id',
      {
        schema: {
          params: Registration,
          headers: Type.Object({ 'if-match': IfMatch }),
          response: { 204: NoContent },
        },
      },
      async (req, reply) => {
        requireRight(sas(req), 'RegistrationStatusWrite');
        await dps.registrations.deleteRecord(sas(req).tenantId, req.params.id, req.headers['if-match']);
        return reply.code(204).send();
      },
    );
    app.post(
      '/registrations/:id/query',
      {
        schema: {
          params: Group,
          headers: Paging,
          body: QuerySpec,
          response: { 200: Type.Array(DeviceRegistrationStateSchema) },
        },
      },
      async (req, reply) => {
        requireRight(sas(req), 'RegistrationStatusRead');
        const max = req.headers['x-ms-max-item-count'];
        const p = await dps.registrations.records(
          sas(req).tenantId,
          max,
          req.headers['x-ms-continuation'],
          req.params.id,
        );
        page(reply, 'DeviceRegistration', undefined, p.continuation);
        return p.items;
      },
    );
  };
}
