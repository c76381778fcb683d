/** /v1/tenants/:idScope/profiles: what certificates the issuing CAs issue. */
import Type from 'typebox';
import { ISSUANCE_NAME_PATTERN, ProfileInputSchema } from '../../../features/issuance/types.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const profileRoutes = resource((app, { services }) => {
  const { issuance: engine, tenants } = services;
  const tags = ['issuance'];
  const base = '/v1/tenants/:idScope/profiles';
  const Named = scoped({ name: Type.String({ pattern: ISSUANCE_NAME_PATTERN }) });
  app.get(
    base,
    {
      schema: {
        summary: 'List certificate profiles (stored and built-in)',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('certificateProfile')), ...ERRORS },
      },
    },
    async (req) => engine.listProfiles(await tenantFor(tenants, req)),
  );
  app.put(
    `${base}/:name`,
    {
      schema: {
        summary:
          'Create or replace a profile: {kind: device|server|ca, validityDays|validityHours, keyUsage, extKeyUsage, sans: copy|none|dns-ip, allowedKeyTypes, honorCaRequests}',
        tags,
        params: Named,
        body: ProfileInputSchema,
        response: { 200: ref('certificateProfile'), ...ERRORS },
      },
    },
    async (req) => engine.putProfile(await tenantFor(tenants, req), req.params.name, req.body),
  );
  app.delete(
    `${base}/:name`,
    {
      schema: {
        summary: 'Delete a stored profile',
        tags,
        params: Named,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await engine.deleteProfile(await tenantFor(tenants, req), req.params.name);
      return reply.code(204).send();
    },
  );
});
