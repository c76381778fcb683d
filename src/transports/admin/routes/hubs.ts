/** /v1/tenants/:idScope/hubs: linked IoT hubs. */
import Type from 'typebox';
import { HOST_NAME_PATTERN, HubSettingsSchema, ReconcileReportSchema } from '../../../features/hubs/types.ts';
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
  app.post(
    `${base}/:hostName/reconcile`,
    {
      schema: {
        summary:
          'Compare a mosquitto hub with the registry and fix what drifted (clients and roles zerotouch made); {"dryRun": true} only reports',
        tags,
        params: Hub,
        body: Type.Union([
          Type.Null(),
          Type.Object(
            { dryRun: Type.Optional(Type.Boolean({ description: 'only report what differs' })) },
            { additionalProperties: false },
          ),
        ]),
        response: { 200: ReconcileReportSchema, ...ERRORS },
      },
    },
    async (req) =>
      services.hubSync.reconcile((await tenantFor(tenants, req)).id, req.params.hostName, req.body?.dryRun),
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
