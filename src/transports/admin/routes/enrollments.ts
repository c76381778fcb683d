/** /v1/tenants/:idScope/enrollments and /enrollment-groups, in the Azure DPS JSON shape. */
import Type from 'typebox';
import {
  EnrollmentGroupInputSchema,
  GROUP_ID_PATTERN,
  IndividualEnrollmentInputSchema,
  REGISTRATION_ID_PATTERN,
} from '../../../features/enrollments/types.ts';
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

export const enrollmentRoutes = resource((app, { services }) => {
  const { enrollments, tenants } = services;
  const tags = ['enrollments'];

  // Individual enrollments
  const individuals = '/v1/tenants/:idScope/enrollments';
  const Individual = scoped({
    id: Type.String({ pattern: REGISTRATION_ID_PATTERN, description: 'registration ID' }),
  });
  app.get(
    individuals,
    {
      schema: {
        summary: 'List individual enrollments (paged)',
        tags,
        params: ScopeParams,
        querystring: PageQuery,
        response: { 200: Page(ref('individualEnrollment')), ...ERRORS },
      },
    },
    async (req, reply) => {
      const page = await enrollments.list<never>(
        (await tenantFor(tenants, req)).id,
        'individual',
        req.query.max,
        req.query.continuation,
      );
      if (page.continuation) reply.header('x-ms-continuation', page.continuation);
      return page;
    },
  );
  app.put(
    `${individuals}/:id`,
    {
      schema: {
        summary:
          'Create or replace an individual enrollment (Azure DPS JSON shape); If-Match makes it conditional',
        tags,
        params: Individual,
        headers: IfMatchHeaders,
        body: IndividualEnrollmentInputSchema,
        response: { 200: ref('individualEnrollment'), ...ERRORS },
      },
    },
    async (req, reply) => {
      const t = await tenantFor(tenants, req);
      const doc = await enrollments.putIndividual(t.id, req.params.id, req.body, req.headers['if-match']);
      return reply.header('etag', doc.etag).send(doc);
    },
  );
  app.get(
    `${individuals}/:id`,
    {
      schema: {
        summary: 'Show an individual enrollment',
        tags,
        params: Individual,
        response: { 200: ref('individualEnrollment'), ...ERRORS },
      },
    },
    async (req, reply) => {
      const doc = await enrollments.getIndividual((await tenantFor(tenants, req)).id, req.params.id);
      return reply.header('etag', doc.etag).send(doc);
    },
  );
  app.delete(
    `${individuals}/:id`,
    {
      schema: {
        summary: 'Delete an individual enrollment; If-Match makes it conditional',
        tags,
        params: Individual,
        headers: IfMatchHeaders,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      const t = await tenantFor(tenants, req);
      await enrollments.delete(t.id, 'individual', req.params.id, req.headers['if-match']);
      return reply.code(204).send();
    },
  );

  // Enrollment groups
  const groups = '/v1/tenants/:idScope/enrollment-groups';
  const Group = scoped({
    id: Type.String({ pattern: GROUP_ID_PATTERN, description: 'enrollment group ID' }),
  });
  app.get(
    groups,
    {
      schema: {
        summary: 'List enrollment groups (paged)',
        tags,
        params: ScopeParams,
        querystring: PageQuery,
        response: { 200: Page(ref('enrollmentGroup')), ...ERRORS },
      },
    },
    async (req, reply) => {
      const page = await enrollments.list<never>(
        (await tenantFor(tenants, req)).id,
        'group',
        req.query.max,
        req.query.continuation,
      );
      if (page.continuation) reply.header('x-ms-continuation', page.continuation);
      return page;
    },
  );
  app.put(
    `${groups}/:id`,
    {
      schema: {
        summary:
          'Create or replace an enrollment group (Azure DPS JSON shape); If-Match makes it conditional',
        tags,
        params: Group,
        headers: IfMatchHeaders,
        body: EnrollmentGroupInputSchema,
        response: { 200: ref('enrollmentGroup'), ...ERRORS },
      },
    },
    async (req, reply) => {
      const t = await tenantFor(tenants, req);
      const doc = await enrollments.putGroup(t.id, req.params.id, req.body, req.headers['if-match']);
      return reply.header('etag', doc.etag).send(doc);
    },
  );
  app.post(
    `${individuals}/import`,
    {
      // Thousands of enrollments with their certificates: larger than other admin bodies.
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        summary:
          'Import up to 5,000 individual enrollments: each row checked alone, the good ones written in one transaction; a result per row',
        tags,
        params: ScopeParams,
        body: Type.Object(
          {
            mode: Type.Optional(
              Type.Enum(['create', 'upsert'], {
                description: 'create (default) refuses IDs that exist; upsert replaces them',
              }),
            ),
            dryRun: Type.Optional(Type.Boolean({ description: 'check every row, write nothing' })),
            enrollments: Type.Array(IndividualEnrollmentInputSchema, { minItems: 1, maxItems: 5000 }),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            created: Type.Integer(),
            updated: Type.Integer(),
            errors: Type.Integer(),
            dryRun: Type.Boolean(),
            results: Type.Array(
              Type.Object({
                row: Type.Integer({ description: 'index in enrollments' }),
                registrationId: Type.String(),
                status: Type.Enum(['created', 'updated', 'error']),
                code: Type.Optional(Type.String()),
                error: Type.Optional(Type.String()),
              }),
            ),
          }),
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      const dryRun = req.body.dryRun === true;
      const results = await enrollments.importIndividuals(t.id, req.body.enrollments, {
        mode: req.body.mode ?? 'create',
        dryRun,
      });
      const count = (s: string) => results.filter((r) => r.status === s).length;
      return {
        created: count('created'),
        updated: count('updated'),
        errors: count('error'),
        dryRun,
        results,
      };
    },
  );
  app.post(
    `${individuals}/delete`,
    {
      schema: {
        summary:
          'Delete every individual enrollment whose registration ID starts with a prefix (dryRun: only list them)',
        tags,
        params: ScopeParams,
        body: Type.Object(
          {
            prefix: Type.String({ minLength: 1, maxLength: 128 }),
            dryRun: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            count: Type.Integer(),
            dryRun: Type.Boolean(),
            registrationIds: Type.Array(Type.String()),
          }),
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      const dryRun = req.body.dryRun === true;
      const ids = await enrollments.deleteByPrefix(t.id, 'individual', req.body.prefix, dryRun);
      return { count: ids.length, dryRun, registrationIds: ids.slice(0, 1000) };
    },
  );
  for (const [kind, base, params, input, answer] of [
    ['individual', individuals, Individual, IndividualEnrollmentInputSchema, 'individualEnrollment'],
    ['group', groups, Group, EnrollmentGroupInputSchema, 'enrollmentGroup'],
  ] as const) {
    const what = kind === 'group' ? 'an enrollment group' : 'an individual enrollment';
    app.post(
      base,
      {
        schema: {
          summary: `Create ${what}; 409 when one of that ID exists (PUT replaces)`,
          tags,
          params: ScopeParams,
          body: input,
          response: { 201: ref(answer), ...ERRORS },
        },
      },
      async (req, reply) => {
        const t = await tenantFor(tenants, req);
        const doc = await enrollments.create(t.id, kind, req.body);
        return reply.code(201).header('etag', doc.etag).send(doc);
      },
    );
    app.patch(
      `${base}/:id`,
      {
        schema: {
          summary: `Change fields of ${what} (JSON merge patch: null removes a field); If-Match makes it conditional`,
          tags,
          params,
          headers: IfMatchHeaders,
          body: Type.Partial(input),
          response: { 200: ref(answer), ...ERRORS },
        },
      },
      async (req, reply) => {
        const t = await tenantFor(tenants, req);
        const doc = await enrollments.patch(
          t.id,
          kind,
          req.params.id,
          req.body as Record<string, unknown>,
          req.headers['if-match'],
        );
        return reply.header('etag', doc.etag).send(doc);
      },
    );
  }
  app.get(
    `${groups}/:id`,
    {
      schema: {
        summary: 'Show an enrollment group',
        tags,
        params: Group,
        response: { 200: ref('enrollmentGroup'), ...ERRORS },
      },
    },
    async (req, reply) => {
      const doc = await enrollments.getGroup((await tenantFor(tenants, req)).id, req.params.id);
      return reply.header('etag', doc.etag).send(doc);
    },
  );
  app.delete(
    `${groups}/:id`,
    {
      schema: {
        summary: 'Delete an enrollment group; If-Match makes it conditional',
        tags,
        params: Group,
        headers: IfMatchHeaders,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await enrollments.delete(
        (await tenantFor(tenants, req)).id,
        'group',
        req.params.id,
        req.headers['if-match'],
      );
      return reply.code(204).send();
    },
  );
});
