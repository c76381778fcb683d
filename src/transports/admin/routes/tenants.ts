/** /v1/tenants: tenants (DPS ID scopes). */
import Type from 'typebox';
import { NewTenantSchema } from '../../../features/tenants/types.ts';
import { authorize } from '../authorize.ts';
import { ERRORS, NoContent, ref, resource, ScopeParams } from '../route-kit.ts';

export const tenantRoutes = resource((app, { services }) => {
  const tags = ['tenants'];
  app.get(
    '/v1/tenants',
    {
      schema: {
        summary: 'List tenants (ID scopes)',
        tags,
        response: { 200: Type.Array(ref('tenant')), ...ERRORS },
      },
    },
    async (req) => {
      const p = authorize(req.principal, 'GET');
      const all = await services.tenants.listTenants();
      return p.tenantId ? all.filter((t) => t.id === p.tenantId) : all;
    },
  );
  app.post(
    '/v1/tenants',
    {
      schema: {
        summary: 'Create a tenant; its ID scope is generated unless given',
        tags,
        body: NewTenantSchema,
        response: { 201: ref('tenant'), ...ERRORS },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'POST', { adminOnly: true });
      return reply.code(201).send(await services.tenants.createTenant(req.body));
    },
  );
  app.get(
    '/v1/tenants/:idScope',
    {
      schema: {
        summary: 'Show a tenant',
        tags,
        params: ScopeParams,
        response: { 200: ref('tenant'), ...ERRORS },
      },
    },
    async (req) => {
      const t = await services.tenants.getTenant(req.params.idScope);
      authorize(req.principal, 'GET', { tenantId: t.id });
      return t;
    },
  );
  app.delete(
    '/v1/tenants/:idScope',
    {
      schema: {
        summary: 'Delete a tenant and everything in it',
        tags,
        params: ScopeParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'DELETE', { adminOnly: true });
      await services.tenants.deleteTenant(req.params.idScope);
      return reply.code(204).send();
    },
  );
});
