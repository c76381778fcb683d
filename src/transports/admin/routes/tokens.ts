/** /v1/tokens: API tokens of the admin API (admin scope only). */
import Type from 'typebox';
import { NewTokenSchema } from '../../../features/tenants/types.ts';
import { authorize } from '../authorize.ts';
import { ERRORS, NoContent, ref, resource } from '../route-kit.ts';

export const tokenRoutes = resource((app, { services }) => {
  const tags = ['tokens'];
  app.get(
    '/v1/token',
    {
      schema: {
        summary: 'The token of this request: its name, scopes and tenant (what a caller may do)',
        tags,
        response: {
          200: Type.Object({
            id: Type.String(),
            name: Type.String(),
            scopes: Type.Array(Type.String()),
            tenant: Type.Union([
              Type.String({ description: 'the ID scope the token is limited to' }),
              Type.Null(),
            ]),
          }),
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const p = authorize(req.principal, 'GET');
      const tenant = p.tenantId === null ? null : (await services.tenants.getTenant(p.tenantId)).idScope;
      return { id: p.tokenId, name: p.name, scopes: p.scopes, tenant };
    },
  );
  app.get(
    '/v1/tokens',
    {
      schema: {
        summary: 'List API tokens (secrets are never shown again)',
        tags,
        response: { 200: Type.Array(ref('token')), ...ERRORS },
      },
    },
    async (req) => {
      authorize(req.principal, 'GET', { adminOnly: true });
      return services.tenants.listTokens();
    },
  );
  app.post(
    '/v1/tokens',
    {
      schema: {
        summary: 'Create an API token; the response holds its secret, shown only this once',
        tags,
        body: NewTokenSchema,
        response: {
          201: Type.Object({ token: ref('token'), secret: Type.String({ description: 'zt_<id>_<secret>' }) }),
          ...ERRORS,
        },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'POST', { adminOnly: true });
      return reply.code(201).send(await services.tenants.createToken(req.body));
    },
  );
  app.delete(
    '/v1/tokens/:id',
    {
      schema: {
        summary: 'Revoke an API token',
        tags,
        params: Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }),
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      authorize(req.principal, 'DELETE', { adminOnly: true });
      await services.tenants.revokeToken(req.params.id);
      return reply.code(204).send();
    },
  );
});
