/** /v1/tenants/:idScope/devices: the registries of the linked hubs. */
import Type from 'typebox';
import { HOST_NAME_PATTERN } from '../../../features/hubs/types.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, Page, PageQuery, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const deviceRoutes = resource((app, { services }) => {
  const { registry, tenants, builtinHub } = services;
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
  app.patch(
    `${base}/:hub/:deviceId`,
    {
      schema: {
        summary:
          'Enable or disable a device: a disabled device may not connect to a builtin hub (a connected one is dropped) and loses its client on a mosquitto hub',
        tags,
        params: Device,
        body: Type.Object(
          {
            status: Type.Enum(['enabled', 'disabled']),
            statusReason: Type.Optional(Type.String({ maxLength: 256 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref('registryDevice'), ...ERRORS },
      },
    },
    async (req) =>
      registry.setStatus(
        (await tenantFor(tenants, req)).id,
        req.params.hub,
        req.params.deviceId,
        req.body.status,
        req.body.statusReason,
      ),
  );
  app.patch(
    `${base}/:hub/:deviceId/twin`,
    {
      schema: {
        summary:
          'Change desired properties (a JSON merge patch; null removes one); a connected device of a builtin hub gets them at once',
        tags,
        params: Device,
        body: Type.Object(
          {
            properties: Type.Object(
              { desired: Type.Record(Type.String(), Type.Unknown()) },
              { additionalProperties: false },
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref('registryDevice'), ...ERRORS },
      },
    },
    async (req) =>
      builtinHub.patchDesired(
        (await tenantFor(tenants, req)).id,
        req.params.hub,
        req.params.deviceId,
        req.body.properties.desired,
      ),
  );
  app.post(
    `${base}/:hub/:deviceId/methods`,
    {
      schema: {
        summary: 'Call a direct method on a device connected to a builtin hub and return its answer',
        tags,
        params: Device,
        body: Type.Object(
          {
            methodName: Type.String({ minLength: 1, maxLength: 100 }),
            payload: Type.Optional(Type.Unknown()),
            responseTimeoutInSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 300 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ status: Type.Integer(), payload: Type.Unknown() }), ...ERRORS },
      },
    },
    async (req) =>
      builtinHub.invokeMethod(
        (await tenantFor(tenants, req)).id,
        req.params.hub,
        req.params.deviceId,
        req.body.methodName,
        req.body.payload,
        req.body.responseTimeoutInSeconds,
      ),
  );
  app.post(
    `${base}/:hub/:deviceId/messages`,
    {
      schema: {
        summary: 'Send a cloud-to-device message to a device connected to a builtin hub',
        tags,
        params: Device,
        body: Type.Object(
          {
            body: Type.String({ maxLength: 65_536, description: 'the message (text)' }),
            properties: Type.Optional(
              Type.Record(Type.String({ maxLength: 128 }), Type.String({ maxLength: 1024 })),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await builtinHub.sendMessage(
        (await tenantFor(tenants, req)).id,
        req.params.hub,
        req.params.deviceId,
        req.body.body,
        req.body.properties,
      );
      return reply.code(204).send();
    },
  );
});
