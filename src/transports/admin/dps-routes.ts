/**
 * Native /v1 management routes of the DPS feature, per tenant: CA certificates, linked hubs,
 * individual enrollments, enrollment groups, registrations, registry devices and diagnose.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EnrollmentKind } from '../../features/enrollments/types.ts';
import { loadCertificates } from '../../pki/certificate.ts';
import type { Services } from '../../services.ts';
import { authorize, tenantFor as tenantOf } from './authorize.ts';

type Scope = { idScope: string };
type PageQuery = { max?: number; continuation?: string };

const obj = (description: string) => ({ type: 'object', description, additionalProperties: true }) as const;
const pageQuery = {
  type: 'object',
  properties: {
    max: { type: 'integer', minimum: 1, maximum: 1000, description: 'page size (default 100)' },
    continuation: { type: 'string', description: 'token from the previous page' },
  },
} as const;
const ifMatch = {
  type: 'object',
  properties: { 'if-match': { type: 'string', description: 'etag the write must match, or *' } },
} as const;

/** Mounts the DPS management routes. */
export function registerDpsAdminRoutes(app: FastifyInstance, dps: Services, serviceHost: string): void {
  const tenantFor = (req: FastifyRequest<{ Params: Scope }>) => tenantOf(dps.tenants, req);
  const base = '/v1/tenants/:idScope';

  // CA certificates
  app.get<{ Params: Scope }>(
    `${base}/cas`,
    { schema: { summary: 'List CA certificates', tags: ['cas'] } },
    async (req) => dps.cas.list((await tenantFor(req)).id),
  );
  app.post<{ Params: Scope; Body: { name: string; certificate: string; verified?: boolean } }>(
    `${base}/cas`,
    {
      schema: {
        summary: 'Upload a CA certificate (PEM or base64 DER); "verified": true skips proof of possession',
        tags: ['cas'],
        body: {
          type: 'object',
          required: ['name', 'certificate'],
          properties: {
            name: { type: 'string' },
            certificate: { type: 'string' },
            verified: { type: 'boolean' },
          },
        },
      },
    },
    async (req, reply) => {
      const t = await tenantFor(req);
      return reply
        .code(201)
        .send(await dps.cas.upload(t.id, req.body.name, req.body.certificate, req.body.verified));
    },
  );
  app.get<{ Params: Scope & { name: string } }>(
    `${base}/cas/:name`,
    { schema: { summary: 'Show a CA certificate', tags: ['cas'] } },
    async (req) => dps.cas.get((await tenantFor(req)).id, req.params.name),
  );
  app.delete<{ Params: Scope & { name: string } }>(
    `${base}/cas/:name`,
    { schema: { summary: 'Delete a CA certificate', tags: ['cas'] } },
    async (req, reply) => {
      await dps.cas.delete((await tenantFor(req)).id, req.params.name);
      return reply.code(204).send();
    },
  );
  app.post<{ Params: Scope & { name: string } }>(
    `${base}/cas/:name/verification-code`,
    {
      schema: {
        summary: 'Generate a verification code (valid one hour) for proof of possession',
        tags: ['cas'],
      },
    },
    async (req) => dps.cas.generateVerificationCode((await tenantFor(req)).id, req.params.name),
  );
  app.post<{ Params: Scope & { name: string }; Body: { certificate: string } }>(
    `${base}/cas/:name/verify`,
    {
      schema: {
        summary: 'Verify a CA with a certificate whose CN is the verification code, signed by the CA',
        tags: ['cas'],
        body: { type: 'object', required: ['certificate'], properties: { certificate: { type: 'string' } } },
      },
    },
    async (req) => dps.cas.verify((await tenantFor(req)).id, req.params.name, req.body.certificate),
  );

  // Linked hubs
  app.get<{ Params: Scope }>(
    `${base}/hubs`,
    { schema: { summary: 'List linked IoT hubs', tags: ['hubs'] } },
    async (req) => dps.hubs.list((await tenantFor(req)).id),
  );
  app.put<{
    Params: Scope & { hostName: string };
    Body: { region?: string; allocationWeight?: number; applyAllocationPolicy?: boolean };
  }>(
    `${base}/hubs/:hostName`,
    {
      schema: {
        summary: 'Link an IoT hub (or change its region, weight, policy flag)',
        tags: ['hubs'],
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            region: { type: 'string' },
            allocationWeight: { type: 'integer' },
            applyAllocationPolicy: { type: 'boolean' },
          },
        },
      },
    },
    async (req) =>
      dps.hubs.link((await tenantFor(req)).id, { hostName: req.params.hostName, ...(req.body ?? {}) }),
  );
  app.delete<{ Params: Scope & { hostName: string } }>(
    `${base}/hubs/:hostName`,
    { schema: { summary: 'Unlink an IoT hub', tags: ['hubs'] } },
    async (req, reply) => {
      await dps.hubs.unlink((await tenantFor(req)).id, req.params.hostName);
      return reply.code(204).send();
    },
  );

  // Enrollments (both kinds share the shape of their routes)
  const kinds: Array<[EnrollmentKind, string, string]> = [
    ['individual', 'enrollments', 'individual enrollment'],
    ['group', 'enrollment-groups', 'enrollment group'],
  ];
  for (const [kind, path, label] of kinds) {
    app.get<{ Params: Scope; Querystring: PageQuery }>(
      `${base}/${path}`,
      { schema: { summary: `List ${label}s (paged)`, tags: ['enrollments'], querystring: pageQuery } },
      async (req, reply) => {
        const page = await dps.enrollments.list(
          (await tenantFor(req)).id,
          kind,
          req.query.max,
          req.query.continuation,
        );
        if (page.continuation) reply.header('x-ms-continuation', page.continuation);
        return page;
      },
    );
    app.put<{ Params: Scope & { id: string }; Body: unknown }>(
      `${base}/${path}/:id`,
      {
        schema: {
          summary: `Create or replace an ${label} (Azure DPS JSON shape); If-Match makes it conditional`,
          tags: ['enrollments'],
          headers: ifMatch,
          body: obj(`the ${label} in the Azure DPS service API shape`),
        },
      },
      async (req, reply) => {
        const t = await tenantFor(req);
        const im = req.headers['if-match'];
        const doc =
          kind === 'individual'
            ? await dps.enrollments.putIndividual(t.id, req.params.id, req.body, im)
            : await dps.enrollments.putGroup(t.id, req.params.id, req.body, im);
        return reply.header('etag', doc.etag).send(doc);
      },
    );
    app.get<{ Params: Scope & { id: string } }>(
      `${base}/${path}/:id`,
      { schema: { summary: `Show an ${label}`, tags: ['enrollments'] } },
      async (req, reply) => {
        const doc = await dps.enrollments.get((await tenantFor(req)).id, kind, req.params.id);
        return reply.header('etag', doc.etag).send(doc);
      },
    );
    app.delete<{ Params: Scope & { id: string } }>(
      `${base}/${path}/:id`,
      {
        schema: {
          summary: `Delete an ${label}; If-Match makes it conditional`,
          tags: ['enrollments'],
          headers: ifMatch,
        },
      },
      async (req, reply) => {
        await dps.enrollments.delete((await tenantFor(req)).id, kind, req.params.id, req.headers['if-match']);
        return reply.code(204).send();
      },
    );
  }

  // Registrations
  app.get<{ Params: Scope; Querystring: PageQuery }>(
    `${base}/registrations`,
    {
      schema: {
        summary: 'List registration records (paged)',
        tags: ['registrations'],
        querystring: pageQuery,
      },
    },
    async (req) =>
      dps.registrations.records((await tenantFor(req)).id, req.query.max, req.query.continuation),
  );
  app.get<{ Params: Scope & { id: string } }>(
    `${base}/registrations/:id`,
    { schema: { summary: 'Show the registration record of a registration ID', tags: ['registrations'] } },
    async (req) => dps.registrations.record((await tenantFor(req)).id, req.params.id),
  );
  app.delete<{ Params: Scope & { id: string } }>(
    `${base}/registrations/:id`,
    {
      schema: {
        summary: 'Delete a registration record (the device registers afresh next time)',
        tags: ['registrations'],
      },
    },
    async (req, reply) => {
      await dps.registrations.deleteRecord((await tenantFor(req)).id, req.params.id);
      return reply.code(204).send();
    },
  );

  // Registry devices
  app.get<{ Params: Scope; Querystring: PageQuery & { hub?: string } }>(
    `${base}/devices`,
    {
      schema: {
        summary: 'List devices in the registry (optionally of one hub)',
        tags: ['devices'],
        querystring: { ...pageQuery, properties: { ...pageQuery.properties, hub: { type: 'string' } } },
      },
    },
    async (req) =>
      dps.registry.list((await tenantFor(req)).id, req.query.hub, req.query.max, req.query.continuation),
  );
  app.get<{ Params: Scope & { hub: string; deviceId: string } }>(
    `${base}/devices/:hub/:deviceId`,
    { schema: { summary: 'Show a device of a hub', tags: ['devices'] } },
    async (req) => dps.registry.get((await tenantFor(req)).id, req.params.hub, req.params.deviceId),
  );
  app.delete<{ Params: Scope & { hub: string; deviceId: string } }>(
    `${base}/devices/:hub/:deviceId`,
    { schema: { summary: 'Delete a device from a hub registry', tags: ['devices'] } },
    async (req, reply) => {
      await dps.registry.delete((await tenantFor(req)).id, req.params.hub, req.params.deviceId);
      return reply.code(204).send();
    },
  );

  // Shared access policies for the Azure-shaped service API
  const withConnectionString = (p: { keyName: string; primaryKey: string }) => ({
    ...p,
    connectionString: `HostName=${serviceHost};SharedAccessKeyName=${p.keyName};SharedAccessKey=${p.primaryKey}`,
  });
  app.get<{ Params: Scope }>(
    `${base}/access-policies`,
    {
      schema: {
        summary: 'List shared access policies of the Azure-shaped DPS service API',
        tags: ['access-policies'],
      },
    },
    async (req) => {
      const t = await tenantFor(req);
      authorize(req.principal, 'POST', { tenantId: t.id });
      return (await dps.policies.list(t.id)).map(withConnectionString);
    },
  );
  app.put<{ Params: Scope & { name: string }; Body: { rights?: string[] } }>(
    `${base}/access-policies/:name`,
    {
      schema: {
        summary: 'Create a shared access policy (or rotate its keys); the answer holds its connection string',
        tags: ['access-policies'],
        body: { type: 'object', properties: { rights: { type: 'array', items: { type: 'string' } } } },
      },
    },
    async (req) => {
      const t = await tenantFor(req);
      return withConnectionString(await dps.policies.put(t.id, req.params.name, req.body?.rights));
    },
  );

  // Diagnose
  app.post<{ Params: Scope; Body: { chain: string } }>(
    `${base}/diagnose`,
    {
      schema: {
        summary: 'Say which enrollment a device chain would match, or exactly why none does',
        tags: ['diagnose'],
        body: {
          type: 'object',
          required: ['chain'],
          properties: {
            chain: { type: 'string', description: 'device certificate chain, leaf first (PEM)' },
          },
        },
      },
    },
    async (req) =>
      dps.registrations.diagnoseChain((await tenantFor(req)).id, loadCertificates(req.body.chain)),
  );
}
