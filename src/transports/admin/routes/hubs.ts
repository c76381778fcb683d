/** /v1/tenants/:idScope/hubs: linked IoT hubs. */
import Type from 'typebox';
import { HOST_NAME_PATTERN, HubSettingsSchema } from '../../../features/hubs/types.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const hubRoutes = resource((app, { services }) => {
  const { hubs, tenants } = services;
  const tags = ['hubs'];
  const base = '/v1/tenants/:idScope/hubs';
  const Hub = scoped({
    hostName: Type.String({ pattern: HOST_NAME_PATTERN, description: 'e.g. hub-1.example.com' }),
  });
  app.get(
    base,
    {
      schema: {
        summary: 'List linked IoT hubs',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('linkedHub')), ...ERRORS },
      },
    },
    async (req) => hubs.list((await tenantFor(tenants, req)).id),
  );
  app.put(
    `${base}/:hostName`,
    {
      schema: {
        summary: 'Link an IoT hub (or change its region, weight, policy flag)',
        tags,
        params: Hub,
        body: Type.Union([Type.Null(), HubSettingsSchema]),
        response: { 200: ref('linkedHub'), ...ERRORS },
      },
    },
    async (req) => hubs.link((await tenantFor(tenants, req)).id, req.params.hostName, req.body ?? {}),
  );
  app.delete(
    `${base}/:hostName`,
    { schema: { summary: 'Unlink an IoT hub', tags, params: Hub, response: { 204: NoContent, ...ERRORS } } },
    async (req, reply) => {
      await hubs.unlink((await tenantFor(tenants, req)).id, req.params.hostName);
      return reply.code(204).send();
    },
  );
});
