/**
 * The Azure DPS service API shape (2021-10-01) on the device listener, authenticated with SAS
 * tokens from a connection string, so the azure-iot-provisioning-service SDK manages
 * enrollments, enrollment groups and registration states unchanged. Paths are case-insensitive.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requireRight, type SasPrincipal } from '../../features/access-policies/service.ts';
import type {
  EnrollmentGroup,
  EnrollmentKind,
  IndividualEnrollment,
} from '../../features/enrollments/types.ts';
import type { Services } from '../../services.ts';
import type { DeviceRequests } from './device-requests.ts';
import { dpsErrorHandler, sendDpsError } from './dps-device.ts';

type IdParams = { id: string };

/** Mounts the Azure-shaped service routes. */
export function registerDpsServiceRoutes(app: FastifyInstance, dps: Services, devices: DeviceRequests): void {
  const fail = (req: FastifyRequest, reply: FastifyReply, e: unknown) => sendDpsError(req, reply, e, devices);
  const errorHandler = dpsErrorHandler(devices);
  const principal = (req: FastifyRequest) => dps.policies.authenticate(req.headers.authorization);
  const wrap =
    <R extends FastifyRequest>(fn: (req: R, reply: FastifyReply, p: SasPrincipal) => Promise<unknown>) =>
    async (req: R, reply: FastifyReply) => {
      try {
        const p = await principal(req);
        const out = await fn(req, reply, p);
        return reply.sent ? reply : reply.send(out);
      } catch (e) {
        return fail(req, reply, e);
      }
    };
  const opts = { errorHandler, schema: { hide: true } };

  const kinds: Array<[EnrollmentKind, string, 'Enrollment' | 'EnrollmentGroup']> = [
    ['individual', 'enrollments', 'Enrollment'],
    ['group', 'enrollmentGroups', 'EnrollmentGroup'],
  ];
  for (const [kind, prefix, itemType] of kinds) {
    const put = (tenantId: string, id: string, body: unknown, ifMatch?: string) =>
      kind === 'individual'
        ? dps.enrollments.putIndividual(tenantId, id, body, ifMatch)
        : dps.enrollments.putGroup(tenantId, id, body, ifMatch);

    app.put<{ Params: IdParams }>(
      `/${prefix}/:id`,
      opts,
      wrap(async (req, reply, p) => {
        requireRight(p, 'EnrollmentWrite');
        const doc = await put(p.tenantId, req.params.id, req.body, req.headers['if-match']);
        reply.header('etag', doc.etag);
        return doc;
      }),
    );
    app.get<{ Params: IdParams }>(
      `/${prefix}/:id`,
      opts,
      wrap(async (req, reply, p) => {
        requireRight(p, 'EnrollmentRead');
        const doc = await dps.enrollments.get<IndividualEnrollment | EnrollmentGroup>(
          p.tenantId,
          kind,
          req.params.id,
        );
        reply.header('etag', doc.etag);
        return doc;
      }),
    );
    app.delete<{ Params: IdParams }>(
      `/${prefix}/:id`,
      opts,
      wrap(async (req, reply, p) => {
        requireRight(p, 'EnrollmentWrite');
        await dps.enrollments.delete(p.tenantId, kind, req.params.id, req.headers['if-match']);
        reply.code(204).send();
      }),
    );
    app.post<{ Params: IdParams }>(
      `/${prefix}/:id/attestationmechanism`,
      opts,
      wrap(async (req, _reply, p) => {
        requireRight(p, 'EnrollmentRead');
        return (
          await dps.enrollments.get<IndividualEnrollment | EnrollmentGroup>(p.tenantId, kind, req.params.id)
        ).attestation;
      }),
    );
    app.post(
      `/${prefix}/query`,
      opts,
      wrap(async (req, reply, p) => {
        requireRight(p, 'EnrollmentRead');
        const max = Number(req.headers['x-ms-max-item-count']) || undefined;
        const cont = req.headers['x-ms-continuation'];
        const page = await dps.enrollments.list(
          p.tenantId,
          kind,
          max,
          typeof cont === 'string' ? cont : undefined,
        );
        reply.header('x-ms-item-type', itemType);
        if (max) reply.header('x-ms-max-item-count', String(max));
        if (page.continuation) reply.header('x-ms-continuation', page.continuation);
        return page.items;
      }),
    );
    app.post(
      `/${prefix}`,
      opts,
      wrap(async (req, _reply, p) => {
        requireRight(p, 'EnrollmentWrite');
        const body = (req.body ?? {}) as {
          mode?: string;
          enrollments?: unknown[];
          enrollmentGroups?: unknown[];
        };
        return dps.enrollments.bulk(
          p.tenantId,
          kind,
          body.mode,
          kind === 'individual' ? body.enrollments : body.enrollmentGroups,
        );
      }),
    );
  }

  app.get<{ Params: IdParams }>(
    '/registrations/:id',
    opts,
    wrap(async (req, _reply, p) => {
      requireRight(p, 'RegistrationStatusRead');
      return dps.registrations.record(p.tenantId, req.params.id);
    }),
  );
  app.delete<{ Params: IdParams }>(
    '/registrations/:id',
    opts,
    wrap(async (req, reply, p) => {
      requireRight(p, 'RegistrationStatusWrite');
      await dps.registrations.deleteRecord(p.tenantId, req.params.id, req.headers['if-match']);
      reply.code(204).send();
    }),
  );
  app.post<{ Params: IdParams }>(
    '/registrations/:id/query',
    opts,
    wrap(async (req, reply, p) => {
      requireRight(p, 'RegistrationStatusRead');
      const max = Number(req.headers['x-ms-max-item-count']) || undefined;
      const cont = req.headers['x-ms-continuation'];
      const page = await dps.registrations.records(
        p.tenantId,
        max,
        typeof cont === 'string' ? cont : undefined,
        req.params.id,
      );
      reply.header('x-ms-item-type', 'DeviceRegistration');
      if (page.continuation) reply.header('x-ms-continuation', page.continuation);
      return page.items;
    }),
  );
}
