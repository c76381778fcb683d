/** /v1/tenants/:idScope/access-policies: credentials of the Azure-shaped DPS service API. */
import Type from 'typebox';
import {
  POLICY_NAME_PATTERN,
  PolicyRightsSchema,
  type AccessPolicy,
} from '../../../features/access-policies/types.ts';
import { authorize, tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const accessPolicyRoutes = resource((app, { services, serviceHost }) => {
  const { policies, tenants } = services;
  const tags = ['access-policies'];
  const base = '/v1/tenants/:idScope/access-policies';
  const withConnectionString = (p: AccessPolicy) => ({
    ...p,
    connectionString: `HostName=${serviceHost};SharedAccessKeyName=${p.keyName};SharedAccessKey=${p.primaryKey}`,
  });
  app.get(
    base,
    {
      schema: {
        summary:
          'List shared access policies of the Azure-shaped DPS service API (needs a token that may write: they hold keys)',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('accessPolicy')), ...ERRORS },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      // The keys are credentials: reading them takes the right to write.
      authorize(req.principal, 'POST', { tenantId: t.id });
      return (await policies.list(t.id)).map(withConnectionString);
    },
  );
  app.put(
    `${base}/:name`,
    {
      schema: {
        summary: 'Create a shared access policy (or rotate its keys); the answer holds its connection string',
        tags,
        params: scoped({ name: Type.String({ pattern: POLICY_NAME_PATTERN }) }),
        body: PolicyRightsSchema,
        response: { 200: ref('accessPolicy'), ...ERRORS },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      return withConnectionString(await policies.put(t.id, req.params.name, req.body?.rights));
    },
  );
  app.delete(
    `${base}/:name`,
    {
      schema: {
        summary: 'Delete a shared access policy (its connection strings stop working)',
        tags,
        params: scoped({ name: Type.String({ pattern: POLICY_NAME_PATTERN }) }),
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await policies.delete((await tenantFor(tenants, req)).id, req.params.name);
      return reply.code(204).send();
    },
  );
});
