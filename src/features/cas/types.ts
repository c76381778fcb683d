/** CA certificates of a tenant: the trust anchors of DPS groups, EST bootstrap and (soon) JITP. */
import Type, { type Static } from 'typebox';
import { CaRegistrationSchema } from '../iot/types.ts';

/** Names of CAs, issuing CAs and profiles: what a path segment and a reference can carry. */
export const NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$';

export const CaCertificateSchema = Type.Object(
  {
    name: Type.String(),
    certificate: Type.String({ description: 'PEM' }),
    subject: Type.String(),
    sha1Thumbprint: Type.String(),
    sha256Thumbprint: Type.String(),
    notBeforeUtc: Type.String({ format: 'date-time' }),
    notAfterUtc: Type.String({ format: 'date-time' }),
    isVerified: Type.Boolean(),
    verificationCode: Type.Optional(
      Type.String({ description: 'set after a code was requested, until it is used or expires' }),
    ),
    verificationCodeExpiresUtc: Type.Optional(Type.String({ format: 'date-time' })),
    awsRegistration: Type.Optional(CaRegistrationSchema),
    etag: Type.String(),
    createdDateTimeUtc: Type.String({ format: 'date-time' }),
    lastUpdatedDateTimeUtc: Type.String({ format: 'date-time' }),
  },
  { description: 'A CA certificate of an ID scope.' },
);
export type CaCertificate = Static<typeof CaCertificateSchema>;

export const CaUploadSchema = Type.Object(
  {
    name: Type.String({ pattern: NAME_PATTERN, description: 'letters, digits, ".", "_" or "-" (up to 128)' }),
    certificate: Type.String({ minLength: 1, description: 'one CA certificate, PEM or base64 DER' }),
    verified: Type.Optional(Type.Boolean({ description: 'true skips proof of possession' })),
  },
  { additionalProperties: false },
);
export type CaUpload = Static<typeof CaUploadSchema>;

export const CaProofSchema = Type.Object(
  {
    certificate: Type.String({
      minLength: 1,
      description: 'a certificate whose CN is the verification code, signed by the CA (PEM or base64 DER)',
    }),
  },
  { additionalProperties: false },
);
