/** /v1/tenants/:idScope/iot/policies and /iot/templates: IoT policies with versions and attachments, provisioning templates. */
import Type from 'typebox';
import { POLICY_NAME, TEMPLATE_NAME } from '../../../features/iot/types.ts';
import { loadCertificates } from '../../../pki/certificate.ts';
import { certificateParameters } from '../../../features/templates/certificate-parameters.ts';
import { evaluateTemplate } from '../../../features/templates/evaluate.ts';
import { parseTemplate } from '../../../features/templates/template.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoBody, NoContent, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

const Document = Type.Union(
  [Type.String({ minLength: 1, maxLength: 20_000 }), Type.Record(Type.String(), Type.Unknown())],
  {
    description: 'the policy document: JSON text or an object',
  },
);

export const iotPolicyRoutes = resource((app, { services }) => {
  const { tenants, iot } = services;
  const tags = ['iot'];
  const base = '/v1/tenants/:idScope/iot';
  const by = (req: { principal?: { name: string } }) => `api:${req.principal?.name ?? 'unknown'}`;
  const PolicyParams = scoped({ policyName: Type.String({ pattern: POLICY_NAME }) });

  app.get(
    `${base}/policies`,
    {
      schema: {
        summary: 'List IoT policies',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('iotPolicy')), ...ERRORS },
      },
    },
    async (req) => iot.registry.listPolicies((await tenantFor(tenants, req)).id),
  );
  app.post(
    `${base}/policies/:policyName`,
    {
      schema: {
        summary: 'Create an IoT policy (CreatePolicy)',
        tags,
        params: PolicyParams,
        body: Type.Object({ document: Document }, { additionalProperties: false }),
        response: { 201: ref('iotPolicy'), ...ERRORS },
      },
    },
    async (req, reply) =>
      reply
        .code(201)
        .send(
          await iot.registry.createPolicy(
            (await tenantFor(tenants, req)).id,
            req.params.policyName,
            req.body.document,
            by(req),
          ),
        ),
  );
  app.get(
    `${base}/policies/:policyName`,
    {
      schema: {
        summary: 'Show an IoT policy and its versions',
        tags,
        params: PolicyParams,
        response: { 200: ref('iotPolicy'), ...ERRORS },
      },
    },
    async (req) => iot.registry.getPolicy((await tenantFor(tenants, req)).id, req.params.policyName),
  );
  app.delete(
    `${base}/policies/:policyName`,
    {
      schema: {
        summary: 'Delete a policy attached to nothing',
        tags,
        params: PolicyParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.registry.deletePolicy((await tenantFor(tenants, req)).id, req.params.policyName);
      return reply.code(204).send();
    },
  );
  app.post(
    `${base}/policies/:policyName/versions`,
    {
      schema: {
        summary: 'Add a policy version (at most five), optionally the new default',
        tags,
        params: PolicyParams,
        body: Type.Object(
          { document: Document, setAsDefault: Type.Optional(Type.Boolean()) },
          { additionalProperties: false },
        ),
        response: { 201: ref('iotPolicy'), ...ERRORS },
      },
    },
    async (req, reply) =>
      reply
        .code(201)
        .send(
          await iot.registry.createPolicyVersion(
            (await tenantFor(tenants, req)).id,
            req.params.policyName,
            req.body.document,
            req.body.setAsDefault ?? false,
          ),
        ),
  );
  const VersionParams = scoped({
    policyName: Type.String({ pattern: POLICY_NAME }),
    versionId: Type.String({ pattern: '^[0-9]{1,9}$' }),
  });
  app.put(
    `${base}/policies/:policyName/versions/:versionId/default`,
    {
      schema: {
        summary: 'Make a version the default',
        tags,
        params: VersionParams,
        body: NoBody,
        response: { 200: ref('iotPolicy'), ...ERRORS },
      },
    },
    async (req) =>
      iot.registry.setDefaultPolicyVersion(
        (await tenantFor(tenants, req)).id,
        req.params.policyName,
        req.params.versionId,
      ),
  );
  app.delete(
    `${base}/policies/:policyName/versions/:versionId`,
    {
      schema: {
        summary: 'Delete a version that is not the default',
        tags,
        params: VersionParams,
        response: { 200: ref('iotPolicy'), ...ERRORS },
      },
    },
    async (req) =>
      iot.registry.deletePolicyVersion(
        (await tenantFor(tenants, req)).id,
        req.params.policyName,
        req.params.versionId,
      ),
  );
  app.get(
    `${base}/policies/:policyName/targets`,
    {
      schema: {
        summary: 'Certificates a policy is attached to',
        tags,
        params: PolicyParams,
        response: { 200: Type.Array(Type.String()), ...ERRORS },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      await iot.registry.getPolicy(t.id, req.params.policyName);
      return iot.registry.policyTargets(t.id, req.params.policyName);
    },
  );
  const TargetParams = scoped({
    policyName: Type.String({ pattern: POLICY_NAME }),
    certificateId: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }),
  });
  app.put(
    `${base}/policies/:policyName/targets/:certificateId`,
    {
      schema: {
        summary: 'Attach a policy to a certificate (AttachPolicy)',
        tags,
        params: TargetParams,
        body: NoBody,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.registry.attachPolicy(
        (await tenantFor(tenants, req)).id,
        req.params.policyName,
        req.params.certificateId,
      );
      return reply.code(204).send();
    },
  );
  app.delete(
    `${base}/policies/:policyName/targets/:certificateId`,
    {
      schema: {
        summary: 'Detach a policy from a certificate',
        tags,
        params: TargetParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.registry.detachPolicy(
        (await tenantFor(tenants, req)).id,
        req.params.policyName,
        req.params.certificateId,
      );
      return reply.code(204).send();
    },
  );

  const TemplateParams = scoped({ templateName: Type.String({ pattern: TEMPLATE_NAME }) });
  app.get(
    `${base}/templates`,
    {
      schema: {
        summary: 'List provisioning templates',
        tags,
        params: ScopeParams,
        response: { 200: Type.Array(ref('provisioningTemplate')), ...ERRORS },
      },
    },
    async (req) => iot.templates.list((await tenantFor(tenants, req)).id),
  );
  app.post(
    `${base}/templates/:templateName`,
    {
      schema: {
        summary: 'Create a provisioning template (checked; errors name the JSON path)',
        tags,
        params: TemplateParams,
        body: Type.Object(
          {
            templateBody: Type.String({ minLength: 1, maxLength: 10_240 }),
            type: Type.Optional(Type.Enum(['JITP', 'FLEET_PROVISIONING'])),
            description: Type.Optional(Type.String({ maxLength: 500 })),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 201: ref('provisioningTemplate'), ...ERRORS },
      },
    },
    async (req, reply) =>
      reply
        .code(201)
        .send(
          await iot.templates.create((await tenantFor(tenants, req)).id, req.params.templateName, req.body),
        ),
  );
  app.get(
    `${base}/templates/:templateName`,
    {
      schema: {
        summary: 'Show a provisioning template',
        tags,
        params: TemplateParams,
        response: { 200: ref('provisioningTemplate'), ...ERRORS },
      },
    },
    async (req) => iot.templates.get((await tenantFor(tenants, req)).id, req.params.templateName),
  );
  app.patch(
    `${base}/templates/:templateName`,
    {
      schema: {
        summary: 'Change a template body (checked), description or enabled flag',
        tags,
        params: TemplateParams,
        body: Type.Object(
          {
            templateBody: Type.Optional(Type.String({ minLength: 1, maxLength: 10_240 })),
            description: Type.Optional(Type.String({ maxLength: 500 })),
            enabled: Type.Optional(Type.Boolean()),
          },
          { additionalProperties: false },
        ),
        response: { 200: ref('provisioningTemplate'), ...ERRORS },
      },
    },
    async (req) =>
      iot.templates.update((await tenantFor(tenants, req)).id, req.params.templateName, req.body),
  );
  app.delete(
    `${base}/templates/:templateName`,
    {
      schema: {
        summary: 'Delete a provisioning template',
        tags,
        params: TemplateParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.templates.delete((await tenantFor(tenants, req)).id, req.params.templateName);
      return reply.code(204).send();
    },
  );
  app.post(
    `${base}/templates/test`,
    {
      schema: {
        summary: 'What a template would make for a certificate, creating nothing',
        tags,
        params: ScopeParams,
        body: Type.Object(
          {
            templateBody: Type.Optional(Type.String({ minLength: 1, maxLength: 10_240 })),
            templateName: Type.Optional(Type.String({ pattern: TEMPLATE_NAME })),
            certificate: Type.Optional(Type.String({ minLength: 1, maxLength: 65536 })),
            parameters: Type.Optional(Type.Record(Type.String(), Type.String())),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Record(Type.String(), Type.Unknown(), { description: 'the provisioning plan' }),
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      const stored = req.body.templateName ? await iot.templates.get(t.id, req.body.templateName) : undefined;
      const body = stored?.templateBody ?? req.body.templateBody;
      const kind = stored?.type ?? 'JITP';
      const checked = parseTemplate(body ?? '', kind);
      const params = {
        ...(req.body.certificate ? certificateParameters(loadCertificates(req.body.certificate)[0]!) : {}),
        ...req.body.parameters,
      };
      return evaluateTemplate(checked, params) as unknown as Record<string, unknown>;
    },
  );
});
