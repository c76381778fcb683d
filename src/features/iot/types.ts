/**
 * The AWS IoT-shaped registry of an ID scope, as TypeBox schemas: things, thing types, thing and
 * billing groups, device certificates with their status, IoT policies with versions, the scope's
 * IoT settings and a CA's JITP/JITR registration. The admin API validates and documents them from
 * here; the AWS control-plane face (a later issue) renders the same records in AWS's shapes.
 */
import Type, { type Static } from 'typebox';
import { hmacSecretSchema } from '../masked-secret.ts';

/** AWS thing, thing type and group names: `^[a-zA-Z0-9:_-]+$`, 1-128. */
export const AWS_NAME = '^[a-zA-Z0-9:_-]{1,128}$';
/** AWS policy names: `^[\w+=,.@-]+$`, 1-128. */
export const POLICY_NAME = '^[\\w+=,.@-]{1,128}$';
/** Template names: 1-36 of `[0-9A-Za-z_-]`. */
export const TEMPLATE_NAME = '^[0-9A-Za-z_-]{1,36}$';

export const CERTIFICATE_STATUSES = [
  'ACTIVE',
  'INACTIVE',
  'REVOKED',
  'PENDING_TRANSFER',
  'REGISTER_INACTIVE',
  'PENDING_ACTIVATION',
] as const;
export const CertificateStatusSchema = Type.Enum([...CERTIFICATE_STATUSES]);
export type CertificateStatus = Static<typeof CertificateStatusSchema>;

export const CertificateModeSchema = Type.Enum(['DEFAULT', 'SNI_ONLY']);
export type CertificateMode = Static<typeof CertificateModeSchema>;

/** The IoT settings of a scope: where its ARNs point and how its gateway decides. */
export const IotSettingsSchema = Type.Object(
  {
    region: Type.String({ description: 'region in ARNs, e.g. us-east-1' }),
    accountId: Type.String({ description: '12-digit account id in ARNs' }),
    endpoint: Type.Optional(
      Type.String({ description: 'host name devices of this scope send as SNI (needed for SNI_ONLY)' }),
    ),
    requireConnectPolicy: Type.Boolean({
      description:
        'true: a certificate connects only when an attached policy allows iot:Connect (as AWS); false: policies that never mention iot:Connect let an ACTIVE certificate connect',
    }),
    createMissingTypesAndGroups: Type.Boolean({
      description:
        'true: a thing type, thing group or billing group a template names is created on first use; false: it must exist (as AWS)',
    }),
    eventWebhooks: Type.Array(
      Type.Object(
        { url: Type.String(), secret: Type.Optional(Type.String()) },
        { additionalProperties: false },
      ),
      { description: 'URLs told of registry and lifecycle events ($aws/events/...), from an outbox' },
    ),
  },
  { description: "A scope's AWS IoT settings." },
);
export type IotSettings = Static<typeof IotSettingsSchema>;

export const IotSettingsPatchSchema = Type.Object(
  {
    region: Type.Optional(Type.String({ pattern: '^[a-z]{2}(-[a-z]+)+-\\d{1,2}$' })),
    accountId: Type.Optional(Type.String({ pattern: '^\\d{12}$' })),
    endpoint: Type.Optional(
      Type.Union([
        Type.String({
          pattern:
            '^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$',
        }),
        Type.Null(),
      ]),
    ),
    requireConnectPolicy: Type.Optional(Type.Boolean()),
    createMissingTypesAndGroups: Type.Optional(Type.Boolean()),
    eventWebhooks: Type.Optional(
      Type.Array(
        Type.Object(
          {
            url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
            secret: Type.Optional(hmacSecretSchema('HMAC-SHA256 key for x-zerotouch-signature')),
          },
          { additionalProperties: false },
        ),
        { maxItems: 10 },
      ),
    ),
  },
  { additionalProperties: false },
);
export type IotSettingsPatch = Static<typeof IotSettingsPatchSchema>;

/** What a CA's JITP/JITR registration holds (beside the CA record shared with DPS and EST). */
export const CaRegistrationSchema = Type.Object(
  {
    certificateId: Type.String({ description: 'SHA-256 hex of the CA certificate DER' }),
    certificateArn: Type.String(),
    status: Type.Enum(['ACTIVE', 'INACTIVE']),
    certificateMode: CertificateModeSchema,
    autoRegistration: Type.Enum(['ENABLE', 'DISABLE']),
    registrationConfig: Type.Optional(
      Type.Object({
        templateBody: Type.Optional(Type.String()),
        templateName: Type.Optional(Type.String()),
        roleArn: Type.Optional(Type.String({ description: 'kept for compatibility; not used' })),
      }),
    ),
    firstConnection: Type.Enum(['accept', 'aws-compatible'], {
      description:
        'accept: the connection that provisions a certificate goes on once provisioning is done; aws-compatible: it is closed, as AWS does',
    }),
    preProvisioningHook: Type.Optional(
      Type.Object({ url: Type.String(), secret: Type.Optional(Type.String()) }),
    ),
    registeredAt: Type.String({ format: 'date-time' }),
    updatedAt: Type.String({ format: 'date-time' }),
  },
  { description: "A CA's JITP/JITR registration." },
);
export type CaRegistration = Static<typeof CaRegistrationSchema>;

const RegistrationConfigInput = Type.Object(
  {
    templateBody: Type.Optional(Type.String({ minLength: 1, maxLength: 10_240 })),
    templateName: Type.Optional(Type.String({ pattern: TEMPLATE_NAME })),
    roleArn: Type.Optional(Type.String({ maxLength: 2048 })),
  },
  { additionalProperties: false },
);

export const CaRegistrationInputSchema = Type.Object(
  {
    verificationCertificate: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'certificate whose CN is the scope registration code, signed by the CA (DEFAULT mode; not needed when the CA is already verified)',
      }),
    ),
    certificateMode: Type.Optional(CertificateModeSchema),
    setAsActive: Type.Optional(Type.Boolean({ description: 'default true' })),
    allowAutoRegistration: Type.Optional(Type.Boolean({ description: 'default false' })),
    registrationConfig: Type.Optional(RegistrationConfigInput),
    firstConnection: Type.Optional(Type.Enum(['accept', 'aws-compatible'])),
    preProvisioningHook: Type.Optional(
      Type.Union([
        Type.Object(
          {
            url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
            secret: Type.Optional(hmacSecretSchema('HMAC-SHA256 key for x-zerotouch-signature')),
          },
          { additionalProperties: false },
        ),
        Type.Null(),
      ]),
    ),
  },
  { additionalProperties: false },
);
export type CaRegistrationInput = Static<typeof CaRegistrationInputSchema>;

export const CaRegistrationUpdateSchema = Type.Object(
  {
    newStatus: Type.Optional(Type.Enum(['ACTIVE', 'INACTIVE'])),
    newAutoRegistrationStatus: Type.Optional(Type.Enum(['ENABLE', 'DISABLE'])),
    registrationConfig: Type.Optional(Type.Union([RegistrationConfigInput, Type.Null()])),
    firstConnection: Type.Optional(Type.Enum(['accept', 'aws-compatible'])),
    preProvisioningHook: CaRegistrationInputSchema.properties.preProvisioningHook,
  },
  { additionalProperties: false },
);
export type CaRegistrationUpdate = Static<typeof CaRegistrationUpdateSchema>;

/** The last thing that happened when the certificate tried to connect or provision. */
export const CertificateEventSchema = Type.Object({
  at: Type.String({ format: 'date-time' }),
  outcome: Type.Enum(['connected', 'refused', 'provisioned', 'provisioning-failed', 'registered']),
  reason: Type.Optional(Type.String()),
  missingParameter: Type.Optional(Type.String()),
  templatePath: Type.Optional(Type.String()),
});
export type CertificateEvent = Static<typeof CertificateEventSchema>;

export const IotCertificateSchema = Type.Object(
  {
    certificateId: Type.String(),
    certificateArn: Type.String(),
    status: CertificateStatusSchema,
    certificateMode: CertificateModeSchema,
    caCertificateId: Type.Optional(Type.String()),
    caName: Type.Optional(Type.String({ description: 'the CA record (DPS/EST/JITP) that signed it' })),
    certificatePem: Type.String(),
    subject: Type.String(),
    validity: Type.Object({
      notBefore: Type.String({ format: 'date-time' }),
      notAfter: Type.String({ format: 'date-time' }),
    }),
    registeredBy: Type.String({ description: 'jitp, jitr, or the API token that registered it' }),
    lastEvent: Type.Optional(CertificateEventSchema),
    createdAt: Type.String({ format: 'date-time' }),
    lastModifiedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A device certificate in the IoT registry.' },
);
export type IotCertificate = Static<typeof IotCertificateSchema>;

export const ThingSchema = Type.Object(
  {
    thingName: Type.String(),
    thingArn: Type.String(),
    thingId: Type.String(),
    thingTypeName: Type.Optional(Type.String()),
    attributes: Type.Record(Type.String(), Type.String()),
    thingGroups: Type.Array(Type.String()),
    billingGroup: Type.Optional(Type.String()),
    version: Type.Integer(),
    createdBy: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    lastModifiedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A thing in the IoT registry.' },
);
export type Thing = Static<typeof ThingSchema>;

export const ThingInputSchema = Type.Object(
  {
    thingTypeName: Type.Optional(Type.String({ pattern: AWS_NAME })),
    attributes: Type.Optional(Type.Record(Type.String(), Type.String())),
    thingGroups: Type.Optional(Type.Array(Type.String({ pattern: AWS_NAME }), { maxItems: 10 })),
    billingGroup: Type.Optional(Type.String({ pattern: AWS_NAME })),
  },
  { additionalProperties: false },
);
export type ThingInput = Static<typeof ThingInputSchema>;

export const NAMED_KINDS = ['thing-type', 'thing-group', 'billing-group'] as const;
export type NamedKind = (typeof NAMED_KINDS)[number];

export const NamedResourceSchema = Type.Object({
  kind: Type.Enum([...NAMED_KINDS]),
  name: Type.String(),
  arn: Type.String(),
  description: Type.Optional(Type.String()),
  createdAt: Type.String({ format: 'date-time' }),
});
export type NamedResource = Static<typeof NamedResourceSchema>;

export const PolicyVersionSchema = Type.Object({
  versionId: Type.String(),
  document: Type.String({ description: 'the policy document as JSON text' }),
  isDefault: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
});
export type PolicyVersion = Static<typeof PolicyVersionSchema>;

export const IotPolicySchema = Type.Object(
  {
    policyName: Type.String(),
    policyArn: Type.String(),
    defaultVersionId: Type.String(),
    versions: Type.Array(PolicyVersionSchema),
    createdBy: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    lastModifiedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'An IoT policy: IAM-style documents, one version the default.' },
);
export type IotPolicy = Static<typeof IotPolicySchema>;

export const ProvisioningTemplateSchema = Type.Object(
  {
    templateName: Type.String(),
    templateArn: Type.String(),
    type: Type.Enum(['JITP', 'FLEET_PROVISIONING']),
    description: Type.Optional(Type.String()),
    enabled: Type.Boolean(),
    templateBody: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    lastModifiedAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A named provisioning template.' },
);
export type ProvisioningTemplate = Static<typeof ProvisioningTemplateSchema>;

export const IotDiagnosisSchema = Type.Object(
  {
    ok: Type.Boolean(),
    outcome: Type.Enum(['connects', 'provisions', 'registers-pending', 'refused']),
    certificateId: Type.String(),
    ca: Type.Optional(
      Type.Object({
        name: Type.String(),
        certificateId: Type.String(),
        status: Type.String(),
        certificateMode: Type.String(),
        autoRegistration: Type.String(),
        firstConnection: Type.String(),
      }),
    ),
    certificate: Type.Optional(
      Type.Object({ status: Type.String(), lastEvent: Type.Optional(CertificateEventSchema) }),
    ),
    policies: Type.Optional(Type.Array(Type.String())),
    plan: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'what JITP would make (a provisioning plan)',
      }),
    ),
    reasons: Type.Array(Type.String()),
  },
  { description: 'What would happen if a certificate connected to the gateway of a scope.' },
);
