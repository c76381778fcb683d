/** /v1/tenants/:idScope/iot/things, thing types, thing groups and billing groups, thing principals. */
import Type from 'typebox';
import { AWS_NAME, NAMED_KINDS, ThingInputSchema } from '../../../features/iot/types.ts';
import { tenantFor } from '../authorize.ts';
import {
  ERRORS,
  NoBody,
  NoContent,
  Page,
  PageQuery,
  ref,
  resource,
  ScopeParams,
  scoped,
} from '../route-kit.ts';

const Name = Type.String({ pattern: AWS_NAME });
const PATHS = {
  'thing-type': 'thing-types',
  'thing-group': 'thing-groups',
  'billing-group': 'billing-groups',
};

export const iotThingRoutes = resource((app, { services }) => {
  const { tenants, iot } = services;
  const tags = ['iot'];
  const base = '/v1/tenants/:idScope/iot';
  const by = (req: { principal?: { name: string } }) => `api:${req.principal?.name ?? 'unknown'}`;
  const ThingParams = scoped({ thingName: Name });

  app.get(
    `${base}/things`,
    {
      schema: {
        summary: 'List things',
        tags,
        params: ScopeParams,
        querystring: PageQuery,
        response: { 200: Page(ref('thing')), ...ERRORS },
      },
    },
    async (req) =>
      iot.registry.listThings((await tenantFor(tenants, req)).id, req.query.max, req.query.continuation),
  );
  app.post(
    `${base}/things/:thingName`,
    {
      schema: {
        summary:
          'Create a thing (its thing type and groups must exist unless the scope creates them on first use)',
        tags,
        params: ThingParams,
        body: ThingInputSchema,
        response: { 201: ref('thing'), ...ERRORS },
      },
    },
    async (req, reply) =>
      reply
        .code(201)
        .send(
          await iot.registry.createThing(
            (await tenantFor(tenants, req)).id,
            req.params.thingName,
            req.body,
            by(req),
          ),
        ),
  );
  app.get(
    `${base}/things/:thingName`,
    {
      schema: {
        summary: 'Show a thing',
        tags,
        params: ThingParams,
        response: { 200: ref('thing'), ...ERRORS },
      },
    },
    async (req) => iot.registry.getThing((await tenantFor(tenants, req)).id, req.params.thingName),
  );
  app.patch(
    `${base}/things/:thingName`,
    {
      schema: {
        summary: 'Update a thing: attributes are merged (an empty value removes one); groups are replaced',
        tags,
        params: ThingParams,
        body: Type.Object(
          { ...ThingInputSchema.properties, removeThingType: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 200: ref('thing'), ...ERRORS },
      },
    },
    async (req) =>
      iot.registry.updateThing((await tenantFor(tenants, req)).id, req.params.thingName, req.body),
  );
  app.delete(
    `${base}/things/:thingName`,
    {
      schema: {
        summary: 'Delete a thing with no certificates attached',
        tags,
        params: ThingParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.registry.deleteThing((await tenantFor(tenants, req)).id, req.params.thingName);
      return reply.code(204).send();
    },
  );
  app.get(
    `${base}/things/:thingName/principals`,
    {
      schema: {
        summary: 'Certificates attached to a thing',
        tags,
        params: ThingParams,
        response: { 200: Type.Array(Type.String()), ...ERRORS },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      await iot.registry.getThing(t.id, req.params.thingName);
      return iot.registry.principalsOf(t.id, req.params.thingName);
    },
  );
  const PrincipalParams = scoped({
    thingName: Name,
    certificateId: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
  });
  app.put(
    `${base}/things/:thingName/principals/:certificateId`,
    {
      schema: {
        summary: 'Attach a certificate to a thing',
        tags,
        params: PrincipalParams,
        body: NoBody,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.registry.attachThingPrincipal(
        (await tenantFor(tenants, req)).id,
        req.params.thingName,
        req.params.certificateId,
      );
      return reply.code(204).send();
    },
  );
  app.delete(
    `${base}/things/:thingName/principals/:certificateId`,
    {
      schema: {
        summary: 'Detach a certificate from a thing',
        tags,
        params: PrincipalParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.registry.detachThingPrincipal(
        (await tenantFor(tenants, req)).id,
        req.params.thingName,
        req.params.certificateId,
      );
      return reply.code(204).send();
    },
  );

  for (const kind of NAMED_KINDS) {
    const path = `${base}/${PATHS[kind]}`;
    const NamedParams = scoped({ name: Name });
    app.get(
      path,
      {
        schema: {
          summary: `List ${PATHS[kind].replace('-', ' ')}`,
          tags,
          params: ScopeParams,
          response: { 200: Type.Array(ref('namedIotResource')), ...ERRORS },
        },
      },
      async (req) => iot.registry.listNamed((await tenantFor(tenants, req)).id, kind),
    );
    app.post(
      `${path}/:name`,
      {
        schema: {
          summary: `Create a ${kind.replace('-', ' ')}`,
          tags,
          params: NamedParams,
          body: Type.Union([
            Type.Null(),
            Type.Object(
              { description: Type.Optional(Type.String({ maxLength: 2028 })) },
              { additionalProperties: false },
            ),
          ]),
          response: { 201: ref('namedIotResource'), ...ERRORS },
        },
      },
      async (req, reply) =>
        reply
          .code(201)
          .send(
            await iot.registry.createNamed(
              (await tenantFor(tenants, req)).id,
              kind,
              req.params.name,
              req.body?.description,
            ),
          ),
    );
    app.get(
      `${path}/:name`,
      {
        schema: {
          summary: `Show a ${kind.replace('-', ' ')}`,
          tags,
          params: NamedParams,
          response: { 200: ref('namedIotResource'), ...ERRORS },
        },
      },
      async (req) => iot.registry.getNamed((await tenantFor(tenants, req)).id, kind, req.params.name),
    );
    app.delete(
      `${path}/:name`,
      {
        schema: {
          summary: `Delete a ${kind.replace('-', ' ')}`,
          tags,
          params: NamedParams,
          response: { 204: NoContent, ...ERRORS },
        },
      },
      async (req, reply) => {
        await iot.registry.deleteNamed((await tenantFor(tenants, req)).id, kind, req.params.name);
        return reply.code(204).send();
      },
    );
  }
});
