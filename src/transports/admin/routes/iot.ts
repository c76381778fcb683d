/**
 * /v1/tenants/:idScope/iot: the scope's IoT settings and registration code, CA registrations
 * for JITP/JITR, device certificates of the IoT registry, and diagnose for a certificate.
 */
import Type from 'typebox';
import { NAME_PATTERN } from '../../../features/cas/types.ts';
import {
  CaRegistrationInputSchema,
  CaRegistrationUpdateSchema,
  CertificateStatusSchema,
  IotDiagnosisSchema,
  IotSettingsPatchSchema,
} from '../../../features/iot/types.ts';
import { OutboxMessageSchema } from '../../../features/outbox/outbox.ts';
import { loadCertificates } from '../../../pki/certificate.ts';
import { tenantFor } from '../authorize.ts';
import { ERRORS, NoContent, Page, PageQuery, ref, resource, ScopeParams, scoped } from '../route-kit.ts';

const CertificateId = Type.String({ pattern: '^[0-9a-fA-F]{64}$', description: 'SHA-256 hex of the DER' });

export const iotRoutes = resource((app, { services }) => {
  const { tenants, iot } = services;
  const tags = ['iot'];
  const base = '/v1/tenants/:idScope/iot';
  const by = (req: { principal?: { name: string } }) => `api:${req.principal?.name ?? 'unknown'}`;

  app.get(
    `${base}/settings`,
    {
      schema: {
        summary: "The scope's IoT settings (region, account, endpoint, gateway rules)",
        tags,
        params: ScopeParams,
        response: { 200: ref('iotSettings'), ...ERRORS },
      },
    },
    async (req) => iot.registry.settings((await tenantFor(tenants, req)).id),
  );
  app.patch(
    `${base}/settings`,
    {
      schema: {
        summary: "Change the scope's IoT settings",
        tags,
        params: ScopeParams,
        body: IotSettingsPatchSchema,
        response: { 200: ref('iotSettings'), ...ERRORS },
      },
    },
    async (req) => iot.registry.updateSettings((await tenantFor(tenants, req)).id, req.body),
  );
  app.get(
    `${base}/registration-code`,
    {
      schema: {
        summary: 'The registration code: the CN of a CA verification certificate (GetRegistrationCode)',
        tags,
        params: ScopeParams,
        response: { 200: Type.Object({ registrationCode: Type.String() }), ...ERRORS },
      },
    },
    async (req) => ({
      registrationCode: await iot.registry.registrationCode((await tenantFor(tenants, req)).id),
    }),
  );

  const CaParams = scoped({ name: Type.String({ pattern: NAME_PATTERN }) });
  app.put(
    `${base}/cas/:name`,
    {
      schema: {
        summary: 'Register an uploaded CA for JITP/JITR (RegisterCACertificate)',
        tags,
        params: CaParams,
        body: CaRegistrationInputSchema,
        response: { 200: ref('caCertificate'), ...ERRORS },
      },
    },
    async (req) => iot.cas.register((await tenantFor(tenants, req)).id, req.params.name, req.body),
  );
  app.patch(
    `${base}/cas/:name`,
    {
      schema: {
        summary: "Change a CA's JITP/JITR registration (UpdateCACertificate)",
        tags,
        params: CaParams,
        body: CaRegistrationUpdateSchema,
        response: { 200: ref('caCertificate'), ...ERRORS },
      },
    },
    async (req) => iot.cas.update((await tenantFor(tenants, req)).id, req.params.name, req.body),
  );
  app.delete(
    `${base}/cas/:name`,
    {
      schema: {
        summary: "End a CA's JITP/JITR registration (the CA stays for DPS and EST)",
        tags,
        params: CaParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.cas.deregister((await tenantFor(tenants, req)).id, req.params.name);
      return reply.code(204).send();
    },
  );

  const certs = `${base}/certificates`;
  const CertParams = scoped({ certificateId: CertificateId });
  app.get(
    certs,
    {
      schema: {
        summary: 'List device certificates, optionally of one CA or status',
        tags,
        params: ScopeParams,
        querystring: Type.Object({
          ...PageQuery.properties,
          caName: Type.Optional(Type.String({ pattern: NAME_PATTERN })),
          status: Type.Optional(CertificateStatusSchema),
        }),
        response: { 200: Page(ref('iotCertificate')), ...ERRORS },
      },
    },
    async (req) =>
      iot.registry.listCertificates(
        (await tenantFor(tenants, req)).id,
        { caName: req.query.caName, status: req.query.status },
        req.query.max,
        req.query.continuation,
      ),
  );
  app.post(
    certs,
    {
      schema: {
        summary: 'Register a device certificate (with a registered CA, or without one in SNI_ONLY mode)',
        tags,
        params: ScopeParams,
        body: Type.Object(
          {
            certificatePem: Type.String({ minLength: 1, maxLength: 65536 }),
            caName: Type.Optional(Type.String({ pattern: NAME_PATTERN })),
            status: Type.Optional(Type.Enum(['ACTIVE', 'INACTIVE'], { description: 'default INACTIVE' })),
          },
          { additionalProperties: false },
        ),
        response: { 201: ref('iotCertificate'), ...ERRORS },
      },
    },
    async (req, reply) =>
      reply
        .code(201)
        .send(
          await iot.cas.registerCertificate((await tenantFor(tenants, req)).id, { ...req.body, by: by(req) }),
        ),
  );
  app.get(
    `${certs}/:certificateId`,
    {
      schema: {
        summary: 'Show a device certificate, with the last thing that happened at the gateway',
        tags,
        params: CertParams,
        response: { 200: ref('iotCertificate'), ...ERRORS },
      },
    },
    async (req) => iot.registry.getCertificate((await tenantFor(tenants, req)).id, req.params.certificateId),
  );
  app.patch(
    `${certs}/:certificateId`,
    {
      schema: {
        summary: "Change a certificate's status (activate, deactivate, revoke)",
        tags,
        params: CertParams,
        body: Type.Object({ status: CertificateStatusSchema }, { additionalProperties: false }),
        response: { 200: ref('iotCertificate'), ...ERRORS },
      },
    },
    async (req) =>
      iot.registry.setCertificateStatus(
        (await tenantFor(tenants, req)).id,
        req.params.certificateId,
        req.body.status,
      ),
  );
  app.delete(
    `${certs}/:certificateId`,
    {
      schema: {
        summary: 'Delete a certificate that is not ACTIVE and has nothing attached',
        tags,
        params: CertParams,
        response: { 204: NoContent, ...ERRORS },
      },
    },
    async (req, reply) => {
      await iot.registry.deleteCertificate((await tenantFor(tenants, req)).id, req.params.certificateId);
      return reply.code(204).send();
    },
  );
  app.get(
    `${certs}/:certificateId/attachments`,
    {
      schema: {
        summary: 'The policies and things attached to a certificate',
        tags,
        params: CertParams,
        response: {
          200: Type.Object({ policies: Type.Array(Type.String()), things: Type.Array(Type.String()) }),
          ...ERRORS,
        },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      const c = await iot.registry.getCertificate(t.id, req.params.certificateId);
      return {
        policies: await iot.registry.attachedPolicies(t.id, c.certificateId),
        things: await iot.registry.thingsOf(t.id, c.certificateId),
      };
    },
  );

  app.get(
    `${base}/webhook-deliveries`,
    {
      schema: {
        summary: 'Webhook messages of the scope (newest first) and their delivery state',
        tags,
        params: ScopeParams,
        querystring: Type.Object({ max: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }),
        response: { 200: Type.Array(OutboxMessageSchema), ...ERRORS },
      },
    },
    async (req) => services.outbox.list((await tenantFor(tenants, req)).id, req.query.max ?? 100),
  );
  app.post(
    `${base}/diagnose`,
    {
      schema: {
        summary: 'Explain whether a certificate would connect or be provisioned, creating nothing',
        tags,
        params: ScopeParams,
        body: Type.Object(
          {
            certificate: Type.String({ minLength: 1, maxLength: 65536, description: 'leaf first (PEM)' }),
            clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: IotDiagnosisSchema, ...ERRORS },
      },
    },
    async (req) => {
      const t = await tenantFor(tenants, req);
      const d = await iot.gateway.diagnose(t.id, loadCertificates(req.body.certificate), req.body.clientId);
      const { plan, ...rest } = d;
      return { ...rest, ...(plan ? { plan: plan as unknown as Record<string, unknown> } : {}) };
    },
  );
});
