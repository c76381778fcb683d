/** /v1/tenants/:idScope/aws-keys: access keys for the AWS IoT control-plane face (SigV4). */
import Type from 'typebox';
import { AwsKeySchema, CreatedAwsKeySchema, NewAwsKeySchema } from '../../../features/aws-keys/service.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, resource, ScopeParams, scoped } from '../route-kit.ts';

export const awsKeyRoutes = resource((app, { services }) => {
  const { tenants, awsKeys } = services;
  const tags = ['aws'];
  const base = '/v1/tenants/:idScope/aws-keys';
  app.get(
    base,
    {
      schema: {
        summary: 'List the AWS access keys of a scope (never their secrets)',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(AwsKeySchema), ...ERRORS },
      },
    },
    async (req) => awsKeys.list((await tenantFor(tenants, req)).id),
  );
  app.post(
    base,
    {
      schema: {
        summary: 'Create an AWS access key for the scope; the secret is in this answer only',
        tags,
        params: ScopeParams,
        body: NewAwsKeySchema,
        response: { 201: CreatedAwsKeySchema, ...ERRORS },
      },
    },
    async (req, reply) =>
      reply
        .code(201)
        .send(await awsKeys.create((await tenantFor(tenants, req)).id, req.body.name, req.body.rights)),
  );
  app.delete(
    `${base}/:accessKeyId`,
    {
      schema: {
        summary: 'Delete an AWS access key',
        tags,
        params: scoped({ accessKeyId: Type.String({ pattern: '^AKIA[A-Z2-7]{16}$' }) }),
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await awsKeys.delete((await tenantFor(tenants, req)).id, req.params.accessKeyId);
      return reply.code(204).send();
    },
  );
});
