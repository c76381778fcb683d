/** /v1/tenants/:idScope/est-labels: EST labels, their users and enrollments awaiting approval. */
import Type from 'typebox';
import {
  EST_USER_PATTERN,
  EstUserPasswordSchema,
  LABEL_PATTERN,
  LabelInputSchema,
} from '../../../features/est/types.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoBody, NoContent, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

export const estLabelRoutes = resource((app, { services }) => {
  const { est, tenants } = services;
  const tags = ['est'];
  const base = '/v1/tenants/:idScope/est-labels';
  const Label = scoped({ label: Type.String({ pattern: LABEL_PATTERN }) });
  const User = scoped({
    label: Type.String({ pattern: LABEL_PATTERN }),
    username: Type.String({ pattern: EST_USER_PATTERN, description: '1-128 characters without ":"' }),
  });
  app.get(
    base,
    {
      schema: {
        summary: 'List EST labels',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('estLabel')), ...ERRORS },
      },
    },
    async (req) => est.listLabels(await tenantFor(tenants, req)),
  );
  app.put(
    `${base}/:label`,
    {
      schema: {
        summary:
          'Create or replace an EST label: {issuingCa, profile, basicAuth, certAuth, bootstrapCas, requireTlsUnique, manualApproval, default}',
        tags,
        params: Label,
        body: LabelInputSchema,
        response: { 200: ref('estLabel'), ...ERRORS },
      },
    },
    async (req) => est.putLabel(await tenantFor(tenants, req), req.params.label, req.body),
  );
  app.get(
    `${base}/:label`,
    {
      schema: {
        summary: 'Show an EST label',
        tags,
        params: Label,
        response: { 200: ref('estLabel'), ...ERRORS },
      },
    },
    async (req) => est.getLabel(await tenantFor(tenants, req), req.params.label),
  );
  app.delete(
    `${base}/:label`,
    {
      schema: {
        summary: 'Delete an EST label and its users',
        tags,
        params: Label,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await est.deleteLabel(await tenantFor(tenants, req), req.params.label);
      return reply.code(204).send();
    },
  );
  app.put(
    `${base}/:label/users/:username`,
    {
      schema: {
        summary: 'Set the password of an EST user (HTTP Basic) of a label',
        tags,
        params: User,
        body: EstUserPasswordSchema,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await est.putUser(
        await tenantFor(tenants, req),
        req.params.label,
        req.params.username,
        req.body.password,
      );
      return reply.code(204).send();
    },
  );
  app.delete(
    `${base}/:label/users/:username`,
    {
      schema: { summary: 'Delete an EST user', tags, params: User, response: { 204: NoContent, ...ERRORS } },
    },
    async (req, reply) => {
      await est.deleteUser(await tenantFor(tenants, req), req.params.label, req.params.username);
      return reply.code(204).send();
    },
  );
  app.get(
    `${base}/:label/pending`,
    {
      schema: {
        summary: 'EST enrollments awaiting approval on a label',
        tags,
        params: Label,
        response: { 200: Type.Array(ref('pendingEnrollment')), ...ERRORS },
      },
    },
    async (req) => est.listPending(await tenantFor(tenants, req), req.params.label),
  );
  const Pending = scoped({
    label: Type.String({ pattern: LABEL_PATTERN }),
    keyHash: Type.String({
      pattern: '^[0-9a-f]{64}$',
      description: 'SHA-256 of the key, from the pending list',
    }),
  });
  for (const verb of ['approve', 'reject'] as const) {
    app.post(
      `${base}/:label/pending/:keyHash/${verb}`,
      {
        schema: {
          summary: `${verb === 'approve' ? 'Approve' : 'Reject'} a pending EST enrollment`,
          tags,
          params: Pending,
          body: NoBody,
          response: { 204: NoContent, ...ERRORS },
        },
      },
      async (req, reply) => {
        await est.decide(
          await tenantFor(tenants, req),
          req.params.label,
          req.params.keyHash,
          verb === 'approve',
        );
        return reply.code(204).send();
      },
    );
  }
});
