/** Registrations in the shape devices and the Azure SDKs see them, as TypeBox schemas. */
import Type, { type Static } from 'typebox';

export const RegistrationStatusSchema = Type.Enum([
  'unassigned',
  'assigning',
  'assigned',
  'failed',
  'disabled',
]);
export type RegistrationStatus = Static<typeof RegistrationStatusSchema>;
export const SubstatusSchema = Type.Enum([
  'initialAssignment',
  'deviceDataMigrated',
  'deviceDataReset',
  'reprovisionedToInitialAssignment',
]);
export type Substatus = Static<typeof SubstatusSchema>;

/** The service's view of a registration (DeviceRegistrationState / registrationState). */
export const DeviceRegistrationStateSchema = Type.Object({
  x509: Type.Optional(Type.Object({ enrollmentGroupId: Type.Optional(Type.String()) })),
  registrationId: Type.String(),
  createdDateTimeUtc: Type.Optional(Type.String({ format: 'date-time' })),
  assignedHub: Type.Optional(Type.String()),
  deviceId: Type.Optional(Type.String()),
  status: RegistrationStatusSchema,
  substatus: Type.Optional(SubstatusSchema),
  errorCode: Type.Optional(Type.Integer({ description: 'DPS error code (HTTP status x 1000 + sub-code)' })),
  errorMessage: Type.Optional(Type.String()),
  errorDetail: Type.Optional(
    Type.String({ description: 'zerotouch: the whole reason, for operators; never sent to devices' }),
  ),
  lastUpdatedDateTimeUtc: Type.Optional(Type.String({ format: 'date-time' })),
  etag: Type.Optional(Type.String()),
  payload: Type.Optional(Type.Unknown({ description: 'from the custom allocation webhook' })),
  issuedCertificateChain: Type.Optional(
    Type.Array(Type.String(), {
      description:
        'certificates issued for the registration csr: base64 DER, leaf first (2025-07-01-preview+)',
    }),
  ),
});
export type DeviceRegistrationState = Static<typeof DeviceRegistrationStateSchema>;

/** A registration operation: what the device polls. */
export interface RegistrationOperation {
  operationId: string;
  status: RegistrationStatus;
  registrationState: DeviceRegistrationState;
}

export const DiagnosisSchema = Type.Object(
  {
    ok: Type.Boolean(),
    registrationId: Type.Optional(Type.String()),
    chain: Type.Array(
      Type.Object({
        subject: Type.String(),
        issuer: Type.String(),
        sha256: Type.String(),
        notAfter: Type.String({ format: 'date-time' }),
      }),
    ),
    enrollment: Type.Optional(
      Type.Object({
        kind: Type.Enum(['individual', 'group']),
        id: Type.String(),
        provisioningStatus: Type.String(),
        boundTo: Type.Optional(
          Type.String({ description: 'the CA certificate of the chain a group is bound to' }),
        ),
      }),
    ),
    candidates: Type.Optional(
      Type.Array(
        Type.Object({
          id: Type.String(),
          boundTo: Type.String(),
          priority: Type.Integer(),
          provisioningStatus: Type.String(),
          outcome: Type.String({ description: 'chosen, or why it lost' }),
        }),
        { description: 'every enrollment group bound to a CA of the chain, the chosen one first' },
      ),
    ),
    code: Type.Optional(Type.String({ description: 'zerotouch error code when refused' })),
    errorCode: Type.Optional(Type.Integer({ description: 'DPS errorCode when refused' })),
    reason: Type.Optional(Type.String()),
  },
  { description: 'Which enrollment a chain matches, or exactly why none does.' },
);
export type Diagnosis = Static<typeof DiagnosisSchema>;

export const DiagnoseRequestSchema = Type.Object(
  { chain: Type.String({ minLength: 1, description: 'device certificate chain, leaf first (PEM)' }) },
  { additionalProperties: false },
);
