/** /v1/tenants/:idScope/devices: the registries of the linked hubs. */
import Type from 'typebox';
import { HOST_NAME_PATTERN } from '../../../features/hubs/types.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, Page, PageQuery, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const deviceRoutes = resource((app, { services }) => {
  const { registry, tenants } = services;
  const tags = ['devices'];
  const base = '/v1/tenants/:idScope/devices';
  const Device = scoped({
    hub: Type.String({ pattern: HOST_NAME_PATTERN }),
    deviceId: Type.String({ minLength: 1, maxLength: 128 }),
  });
  app.get(
    base,
    {
      schema: {
        summary: 'List devices in the registry (optionally of one hub)',
        tags,
        params: ScopeParams,
        querystring: Type.Object({ ...PageQuery.properties, hub: Type.Optional(Type.String()) }),
        response: { 200: Page(ref('registryDevice')), ...ERRORS },
      },
    },
    async (req) =>
      registry.list((await tenantFor(tenants, req)).id, req.query.hub, req.query.max, req.query.continuation),
  );
  app.get(
    `${base}/:hub/:deviceId`,
    {
      schema: {
        summary: 'Show a device of a hub',
        tags,
        params: Device,
        response: { 200: ref('registryDevice'), ...ERRORS },
      },
    },
    async (req) => registry.get((await tenantFor(tenants, req)).id, req.params.hub, req.params.deviceId),
  );
  app.delete(
    `${base}/:hub/:deviceId`,
    {
      schema: {
        summary: 'Delete a device from a hub registry',
        tags,
        params: Device,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await registry.delete((await tenantFor(tenants, req)).id, req.params.hub, req.params.deviceId);
      return reply.code(204).send();
    },
  );
});
