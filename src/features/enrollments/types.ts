/**
 * Enrollments in the JSON shape of the Azure DPS service API (2021-10-01), so that the Azure
 * service SDK, the native /v1 API and the CLI all read and write the same documents. The TypeBox
 * schemas here validate what comes in and document what goes out; the types derive from them.
 * Incoming documents stay open: the Azure shape has fields zerotouch keeps no use for.
 */
import Type, { type Static, type TSchema } from 'typebox';
import { MqttAclSchema } from '../hubs/types.ts';

/** A value or null: the Azure SDKs send null for fields they leave unset. */
export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** DPS registration IDs: for X.509 the leaf certificate's CN. */
export const REGISTRATION_ID_PATTERN = '^[A-Za-z0-9._:-]{0,127}[A-Za-z0-9-]$';
export const GROUP_ID_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$';

export const ProvisioningStatusSchema = Type.Enum(['enabled', 'disabled']);
export type ProvisioningStatus = Static<typeof ProvisioningStatusSchema>;
export const AllocationPolicySchema = Type.Enum(['hashed', 'geoLatency', 'static', 'custom']);
export type AllocationPolicy = Static<typeof AllocationPolicySchema>;
export type EnrollmentKind = 'individual' | 'group';

export const X509CertificateInfoSchema = Type.Object({
  subjectName: Type.String(),
  sha1Thumbprint: Type.String(),
  sha256Thumbprint: Type.String(),
  issuerName: Type.String(),
  notBeforeUtc: Type.String({ format: 'date-time' }),
  notAfterUtc: Type.String({ format: 'date-time' }),
  serialNumber: Type.String(),
  version: Type.Integer(),
});
export type X509CertificateInfo = Static<typeof X509CertificateInfoSchema>;

/** A certificate slot: the certificate on the way in, its info on the way out (and back in, unchanged). */
const CertificateSlotSchema = Type.Object({
  certificate: Type.Optional(Nullable(Type.String({ description: 'PEM or base64 DER; one certificate' }))),
  info: Type.Optional(Nullable(X509CertificateInfoSchema)),
});

const CertificatePairSchema = Type.Object({
  primary: Type.Optional(Nullable(CertificateSlotSchema)),
  secondary: Type.Optional(Nullable(CertificateSlotSchema)),
});
const CaReferencesSchema = Type.Object({
  primary: Type.Optional(Nullable(Type.String({ description: 'name of an uploaded CA of this scope' }))),
  secondary: Type.Optional(Nullable(Type.String())),
});

const X509AttestationSchema = Type.Object({
  clientCertificates: Type.Optional(Nullable(CertificatePairSchema)),
  signingCertificates: Type.Optional(Nullable(CertificatePairSchema)),
  caReferences: Type.Optional(Nullable(CaReferencesSchema)),
});
// What is stored and answered: the same shapes without the nulls clients may send.
const StoredSlotSchema = Type.Object({
  certificate: Type.Optional(Type.String()),
  info: Type.Optional(X509CertificateInfoSchema),
});
export type X509CertificateWithInfo = Static<typeof StoredSlotSchema>;
const StoredPairSchema = Type.Object({
  primary: Type.Optional(StoredSlotSchema),
  secondary: Type.Optional(StoredSlotSchema),
});
export const X509AttestationStoredSchema = Type.Object({
  clientCertificates: Type.Optional(StoredPairSchema),
  signingCertificates: Type.Optional(StoredPairSchema),
  caReferences: Type.Optional(
    Type.Object({ primary: Type.Optional(Type.String()), secondary: Type.Optional(Type.String()) }),
  ),
});
export type X509Attestation = Static<typeof X509AttestationStoredSchema>;

const AttestationInputSchema = Type.Object({
  type: Type.Enum(['x509'], { description: 'zerotouch provisions with X.509 only' }),
  x509: X509AttestationSchema,
});

export const TwinCollectionSchema = Type.Record(Type.String(), Type.Unknown());
export type TwinCollection = Static<typeof TwinCollectionSchema>;

export const InitialTwinSchema = Type.Object({
  tags: Type.Optional(Nullable(TwinCollectionSchema)),
  properties: Type.Optional(
    Nullable(Type.Object({ desired: Type.Optional(Nullable(TwinCollectionSchema)) })),
  ),
});
const InitialTwinStoredSchema = Type.Object({
  tags: Type.Optional(TwinCollectionSchema),
  properties: Type.Optional(Type.Object({ desired: Type.Optional(TwinCollectionSchema) })),
});
export type InitialTwin = Static<typeof InitialTwinStoredSchema>;

export const ReprovisionPolicySchema = Type.Object({
  updateHubAssignment: Type.Boolean(),
  migrateDeviceData: Type.Boolean(),
});
export type ReprovisionPolicy = Static<typeof ReprovisionPolicySchema>;

export const CustomAllocationDefinitionSchema = Type.Object({
  webhookUrl: Type.String({ format: 'uri', pattern: '^[Hh][Tt][Tt][Pp][Ss]?://' }),
  apiVersion: Type.Optional(Nullable(Type.String())),
});

/** Issuance settings for devices that send a CSR (used by the CSR and EST flows). */
export const CertificateIssuancePolicySchema = Type.Object(
  {
    validityDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
    issuingCa: Type.Optional(
      Type.String({ minLength: 1, description: "default: the scope's default issuing CA" }),
    ),
    profile: Type.Optional(Type.String({ minLength: 1, description: 'default: device' })),
  },
  { additionalProperties: false },
);
export type CertificateIssuancePolicy = Static<typeof CertificateIssuancePolicySchema>;

/** What a client may send for the fields both kinds share. */
const EnrollmentInputFields = {
  attestation: AttestationInputSchema,
  capabilities: Type.Optional(Nullable(Type.Object({ iotEdge: Type.Optional(Type.Boolean()) }))),
  initialTwin: Type.Optional(Nullable(InitialTwinSchema)),
  etag: Type.Optional(Nullable(Type.String())),
  provisioningStatus: Type.Optional(Nullable(ProvisioningStatusSchema)),
  reprovisionPolicy: Type.Optional(
    Nullable(
      Type.Object({
        updateHubAssignment: Type.Optional(Type.Boolean()),
        migrateDeviceData: Type.Optional(Type.Boolean()),
      }),
    ),
  ),
  allocationPolicy: Type.Optional(Nullable(AllocationPolicySchema)),
  iotHubs: Type.Optional(Nullable(Type.Array(Type.String(), { maxItems: 100 }))),
  iotHubHostName: Type.Optional(Nullable(Type.String())),
  customAllocationDefinition: Type.Optional(Nullable(CustomAllocationDefinitionSchema)),
  certificateIssuancePolicy: Type.Optional(Nullable(CertificateIssuancePolicySchema)),
  mqttAcl: Type.Optional(Nullable(MqttAclSchema)),
};

export const IndividualEnrollmentInputSchema = Type.Object(
  {
    registrationId: Type.Optional(Type.String({ pattern: REGISTRATION_ID_PATTERN })),
    deviceId: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
    optionalDeviceInformation: Type.Optional(Nullable(TwinCollectionSchema)),
    ...EnrollmentInputFields,
  },
  { description: 'An individual enrollment in the Azure DPS service API shape.' },
);
export type IndividualEnrollmentInput = Static<typeof IndividualEnrollmentInputSchema>;

/** Which of several groups bound to one CA takes its devices (zerotouch's addition to the Azure shape). */
const GroupPriority = Type.Integer({
  minimum: -1000,
  maximum: 1000,
  description:
    'the group with the highest priority takes the devices of a CA several groups are bound to; groups on one CA must differ (default 0)',
});

export const EnrollmentGroupInputSchema = Type.Object(
  {
    enrollmentGroupId: Type.Optional(Type.String({ pattern: GROUP_ID_PATTERN })),
    priority: Type.Optional(Nullable(GroupPriority)),
    ...EnrollmentInputFields,
  },
  { description: 'An enrollment group in the Azure DPS service API shape.' },
);
export type EnrollmentGroupInput = Static<typeof EnrollmentGroupInputSchema>;

export const AttestationMechanismSchema = Type.Object({
  type: Type.Literal('x509'),
  x509: X509AttestationStoredSchema,
});

/** What is stored and answered for the fields both kinds share. */
const EnrollmentFields = {
  attestation: AttestationMechanismSchema,
  capabilities: Type.Object({ iotEdge: Type.Boolean() }),
  initialTwin: Type.Optional(InitialTwinStoredSchema),
  etag: Type.Optional(Type.String()),
  provisioningStatus: ProvisioningStatusSchema,
  reprovisionPolicy: ReprovisionPolicySchema,
  createdDateTimeUtc: Type.Optional(Type.String({ format: 'date-time' })),
  lastUpdatedDateTimeUtc: Type.Optional(Type.String({ format: 'date-time' })),
  allocationPolicy: Type.Optional(AllocationPolicySchema),
  iotHubs: Type.Optional(Type.Array(Type.String())),
  iotHubHostName: Type.Optional(Type.String()),
  customAllocationDefinition: Type.Optional(
    Type.Object({ webhookUrl: Type.String(), apiVersion: Type.String() }),
  ),
  certificateIssuancePolicy: Type.Optional(CertificateIssuancePolicySchema),
  mqttAcl: Type.Optional(MqttAclSchema),
};

export const IndividualEnrollmentSchema = Type.Object({
  registrationId: Type.String(),
  deviceId: Type.Optional(Type.String()),
  optionalDeviceInformation: Type.Optional(TwinCollectionSchema),
  ...EnrollmentFields,
});
export const EnrollmentGroupSchema = Type.Object({
  enrollmentGroupId: Type.String(),
  priority: Type.Optional(GroupPriority),
  ...EnrollmentFields,
});

export type IndividualEnrollment = Static<typeof IndividualEnrollmentSchema>;
export type EnrollmentGroup = Static<typeof EnrollmentGroupSchema>;
export type CustomAllocationDefinition = NonNullable<IndividualEnrollment['customAllocationDefinition']>;

/** The Azure bulk operation: up to 10 enrollments of one kind. */
export const BulkModeSchema = Type.Enum(['create', 'update', 'updateIfMatchETag', 'delete']);
export const IndividualBulkSchema = Type.Object({
  mode: BulkModeSchema,
  enrollments: Type.Array(IndividualEnrollmentInputSchema, { minItems: 1, maxItems: 10 }),
});
export const GroupBulkSchema = Type.Object({
  mode: BulkModeSchema,
  enrollmentGroups: Type.Array(EnrollmentGroupInputSchema, { minItems: 1, maxItems: 10 }),
});
export const BulkResultSchema = Type.Object({
  isSuccessful: Type.Boolean(),
  errors: Type.Array(
    Type.Object({
      registrationId: Type.Optional(Type.String()),
      enrollmentGroupId: Type.Optional(Type.String()),
      errorCode: Type.Integer(),
      errorStatus: Type.String(),
    }),
  ),
});
export type BulkResult = Static<typeof BulkResultSchema>;
