/**
 * EST labels (what a `/.well-known/est/<label>/` path issues, from which CA, and who may ask) and
 * enrollments awaiting approval, as TypeBox schemas; the types derive from them.
 */
import Type, { type Static } from 'typebox';

export const LABEL_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

const LabelFields = {
  issuingCa: Type.Optional(
    Type.String({ description: "issuing CA name; default: the scope's default issuing CA" }),
  ),
  profile: Type.String({ description: 'certificate profile; default "device"' }),
  basicAuth: Type.Boolean({ description: 'users of this label may enroll with HTTP Basic' }),
  certAuth: Type.Boolean({
    description: "a certificate issued by this label's CA may enroll (aziot renewal) and re-enroll",
  }),
  bootstrapCas: Type.Array(Type.String(), {
    description:
      'names of verified CA certificates of the ID scope whose certificates may enroll (bootstrap/IDevID)',
  }),
  requireTlsUnique: Type.Boolean({
    description: 'the CSR must carry the TLS 1.2 tls-unique value in challengePassword (RFC 7030 3.5)',
  }),
  manualApproval: Type.Boolean({
    description: "enrollments wait for an operator's approval (202 + Retry-After)",
  }),
  default: Type.Boolean({ description: 'serves /.well-known/est/<operation> without a label' }),
};

export const EstLabelSchema = Type.Object({
  label: Type.String(),
  idScope: Type.String(),
  ...LabelFields,
  users: Type.Optional(Type.Array(Type.String())),
});
export type EstLabel = Static<typeof EstLabelSchema>;

/** What a client sends to create or replace a label; every field has a default. */
export const LabelInputSchema = Type.Union([
  Type.Null(),
  Type.Object(
    {
      label: Type.Optional(Type.String({ description: 'ignored: the label is the one in the path' })),
      idScope: Type.Optional(Type.String({ description: 'ignored' })),
      users: Type.Optional(
        Type.Array(Type.String(), { description: 'ignored: set users with PUT .../users/<name>' }),
      ),
      issuingCa: Type.Optional(Type.String({ minLength: 1 })),
      profile: Type.Optional(Type.String({ minLength: 1, description: 'default: device' })),
      basicAuth: Type.Optional(Type.Boolean({ description: 'default true' })),
      certAuth: Type.Optional(Type.Boolean({ description: 'default true' })),
      bootstrapCas: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { uniqueItems: true })),
      requireTlsUnique: Type.Optional(Type.Boolean({ description: 'default false' })),
      manualApproval: Type.Optional(Type.Boolean({ description: 'default false' })),
      default: Type.Optional(Type.Boolean({ description: 'default false' })),
    },
    { additionalProperties: false },
  ),
]);
export type LabelInput = Static<typeof LabelInputSchema>;

export const EstUserPasswordSchema = Type.Object(
  { password: Type.String({ minLength: 8, maxLength: 1024 }) },
  { additionalProperties: false },
);
export const EST_USER_PATTERN = '^[^:]{1,128}$';

export const PendingEnrollmentSchema = Type.Object({
  label: Type.String(),
  keyHash: Type.String(),
  subject: Type.String(),
  requester: Type.String(),
  status: Type.Enum(['pending', 'approved', 'rejected']),
  createdDateTimeUtc: Type.String({ format: 'date-time' }),
  decidedDateTimeUtc: Type.Optional(Type.String({ format: 'date-time' })),
});
export type PendingEnrollment = Static<typeof PendingEnrollmentSchema>;
