/**
 * What every admin resource plugin shares: the app type with the TypeBox type provider (the
 * route schema types the handler), the named components of the OpenAPI document, the error
 * answers, paging, and the resource plugin that carries its own error handler.
 */
import { ContinuationToken } from '../continuation.ts';
import { MASKED_SECRET } from '../../features/masked-secret.ts';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyPluginAsync,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import Type, { type Static, type TSchema } from 'typebox';
import { AccessPolicyViewSchema } from '../../features/access-policies/types.ts';
import { CaCertificateSchema } from '../../features/cas/types.ts';
import { EnrollmentGroupSchema, IndividualEnrollmentSchema } from '../../features/enrollments/types.ts';
import { EstLabelSchema, PendingEnrollmentSchema } from '../../features/est/types.ts';
import { LinkedHubSchema } from '../../features/hubs/types.ts';
import {
  CertificateProfileSchema,
  IssuedCertificateSchema,
  IssuingCaSchema,
} from '../../features/issuance/types.ts';
import { DeviceRegistrationStateSchema, DiagnosisSchema } from '../../features/provisioning/types.ts';
import { RegistryDeviceSchema } from '../../features/registry/types.ts';
import { ApiTokenSchema, TenantSchema } from '../../features/tenants/types.ts';
import {
  IotCertificateSchema,
  IotPolicySchema,
  IotSettingsSchema,
  NamedResourceSchema,
  ProvisioningTemplateSchema,
  ThingSchema,
} from '../../features/iot/types.ts';
import type { Services } from '../../services.ts';
import { adminErrorHandler } from '../http-errors.ts';

export const ErrorSchema = Type.Object(
  {
    code: Type.String({ description: 'a code of the error catalogue (docs/errors.md)' }),
    message: Type.String({ description: 'what went wrong and what to do' }),
    requestId: Type.String({ description: 'the id of the request in the server log' }),
    detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  {
    description:
      'Every error: a catalogued code, a message that says what to do next, and the request id for the log.',
  },
);

/** Shared objects of the API, named in the OpenAPI document's components. */
export const COMPONENTS = {
  error: ErrorSchema,
  tenant: TenantSchema,
  token: ApiTokenSchema,
  caCertificate: CaCertificateSchema,
  linkedHub: LinkedHubSchema,
  individualEnrollment: IndividualEnrollmentSchema,
  enrollmentGroup: EnrollmentGroupSchema,
  registrationState: DeviceRegistrationStateSchema,
  registryDevice: RegistryDeviceSchema,
  accessPolicy: AccessPolicyViewSchema,
  diagnosis: DiagnosisSchema,
  issuingCa: IssuingCaSchema,
  certificateProfile: CertificateProfileSchema,
  issuedCertificate: IssuedCertificateSchema,
  estLabel: EstLabelSchema,
  pendingEnrollment: PendingEnrollmentSchema,
  iotSettings: IotSettingsSchema,
  iotCertificate: IotCertificateSchema,
  thing: ThingSchema,
  namedIotResource: NamedResourceSchema,
  iotPolicy: IotPolicySchema,
  provisioningTemplate: ProvisioningTemplateSchema,
} as const;
type Components = typeof COMPONENTS;

/** A reference to a named component, typed as the component. */
export function ref<K extends keyof Components>(name: K) {
  return Type.Unsafe<Static<Components[K]>>({ $ref: `${name}#` });
}

/** Adds the components to an app, so that references resolve and OpenAPI names them. */
export function addComponents(app: FastifyInstance): void {
  for (const [name, schema] of Object.entries(COMPONENTS))
    app.addSchema({ ...schema, $id: name, title: name });
}

/** Error answers every protected route may give. */
export const ERRORS = {
  400: ref('error'),
  401: ref('error'),
  403: ref('error'),
  404: ref('error'),
  409: ref('error'),
  412: ref('error'),
  503: ref('error'),
};

/** The empty answer of a 204. */
export const NoContent = Type.Unsafe<undefined>({ type: 'null', description: 'no content' });

/** A body that some clients leave out: nothing, or an empty object. */
export const NoBody = Type.Union([Type.Null(), Type.Object({}, { additionalProperties: false })], {
  description: 'no body (an empty JSON object is accepted too)',
});

export const ScopeParams = Type.Object({
  idScope: Type.String({
    pattern: '^[A-Za-z0-9-]{1,64}$',
    description: 'the ID scope (or id) of the tenant',
  }),
});

/** `ScopeParams` with more path parameters. */
export function scoped<P extends Record<string, TSchema>>(more: P) {
  return Type.Object({ ...ScopeParams.properties, ...more });
}

export const PageQuery = Type.Object({
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size (default 100)' })),
  continuation: Type.Optional(ContinuationToken),
});

/** A page of `item`s with the token for the next page. */
export function Page<T extends TSchema>(item: T) {
  return Type.Object({
    items: Type.Array(item),
    continuation: Type.Optional(Type.String({ description: 'pass as ?continuation= for the next page' })),
  });
}

export const IfMatchHeaders = Type.Object({
  'if-match': Type.Optional(Type.String({ description: 'etag the write must match, or *' })),
});

/** The admin app, typed by its route schemas. */
export type AdminApp = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** What a resource plugin is given. */
export interface ResourceOptions {
  services: Services;
  /** Host name put in connection strings of the Azure-shaped service API. */
  serviceHost: string;
}

/** A resource of the admin API: a fastify plugin with its routes and its own error handler. */
export function resource(
  routes: (app: AdminApp, o: ResourceOptions) => void,
): FastifyPluginAsync<ResourceOptions> {
  return async (app, o) => {
    app.setErrorHandler(adminErrorHandler);
    routes(app.withTypeProvider<TypeBoxTypeProvider>(), o);
  };
}

/**
 * Webhook secrets and broker passwords (objects with a `url` and a `secret` or `password`:
 * event webhooks, pre-provisioning hooks, webhook and mosquitto hubs) are write-only: an answer shows that one is set, never its value, so a read token
 * cannot forge signatures.
 */
export function redactWebhookSecrets<T>(payload: T): T {
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (typeof v !== 'object' || v === null) return v;
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(o)) out[k] = walk(x);
    if (typeof o.url === 'string' && typeof o.secret === 'string') out.secret = MASKED_SECRET;
    if (typeof o.url === 'string' && typeof o.password === 'string') out.password = MASKED_SECRET;
    return out;
  };
  return walk(payload) as T;
}
