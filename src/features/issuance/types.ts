/**
 * Shapes of the issuance feature (issuing CAs, certificate profiles, issued-certificate records)
 * as TypeBox schemas: the admin API validates and documents them from here, and the types derive
 * from them.
 */
import Type, { type Static } from 'typebox';
import { KEY_TYPES } from '../../pki/keys.ts';
import { KEY_USAGE_BITS } from '../../pki/oids.ts';
import { REVOCATION_REASONS } from '../../pki/crl.ts';

/** Names of issuing CAs and profiles. */
export const ISSUANCE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';

const KeyTypeSchema = Type.Enum([...KEY_TYPES]);

/** An issuing CA as the API shows it (never its key). */
export const IssuingCaSchema = Type.Object({
  name: Type.String(),
  subject: Type.String(),
  certificate: Type.String({ description: 'PEM of the CA certificate' }),
  chain: Type.String({
    description: 'PEM of the CA certificate followed by its issuers up to the root (what /cacerts serves)',
  }),
  sha1Thumbprint: Type.String(),
  sha256Thumbprint: Type.String(),
  notBeforeUtc: Type.String({ format: 'date-time' }),
  notAfterUtc: Type.String({ format: 'date-time' }),
  keyStorage: Type.Enum(['encrypted-file', 'pkcs11']),
  crlUrl: Type.String(),
  createdDateTimeUtc: Type.String({ format: 'date-time' }),
});
export type IssuingCa = Static<typeof IssuingCaSchema>;

export const AddedIssuingCaSchema = Type.Object({
  ...IssuingCaSchema.properties,
  dpsCaCertificate: Type.Union([Type.String(), Type.Null()], {
    description: 'name of the verified DPS CA certificate made from it, if any',
  }),
});

/** Create (subject, keyType, validityDays, or keyUri) or import (certificate with key or keyUri). */
export const AddIssuingCaSchema = Type.Object(
  {
    name: Type.String({ pattern: ISSUANCE_NAME_PATTERN }),
    subject: Type.Optional(
      Type.String({ minLength: 1, description: 'create: e.g. "/O=Acme/CN=Acme Device CA"' }),
    ),
    keyType: Type.Optional(KeyTypeSchema),
    validityDays: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 36500, description: 'create; default 3650' }),
    ),
    certificate: Type.Optional(
      Type.String({ minLength: 1, description: 'import: CA certificate PEM, followed by its issuers' }),
    ),
    key: Type.Optional(Type.String({ minLength: 1, description: 'import: the CA private key PEM' })),
    keyPassphrase: Type.Optional(Type.String()),
    keyUri: Type.Optional(
      Type.String({
        pattern: '^pkcs11:',
        description:
          'PKCS#11 URI of a key in a token (pkcs11:token=...;object=...;pin-value=...): create signs a new CA certificate with it, import pairs it with the certificate',
      }),
    ),
    trustForDps: Type.Optional(
      Type.Boolean({
        description: 'also upload it as a verified DPS CA certificate of the same name (default true)',
      }),
    ),
  },
  { additionalProperties: false },
);
export type AddIssuingCa = Static<typeof AddIssuingCaSchema>;

const ProfileKindSchema = Type.Enum(['device', 'server', 'ca'], {
  description:
    '`ca` issues CA certificates with pathLen 0 (IoT Edge CA); `server` TLS servers; `device` clients',
});
const SansSchema = Type.Enum(['copy', 'none', 'dns-ip'], {
  description: "copy: the CSR's SANs; none: drop them; dns-ip: only DNS and IP SANs are allowed",
});
const ExtKeyUsageSchema = Type.String({
  pattern: '^(clientAuth|serverAuth|codeSigning|emailProtection|[0-9]+(\\.[0-9]+)+)$',
  description: 'clientAuth, serverAuth, codeSigning, emailProtection or a dotted OID',
});

/** What certificates a profile issues. */
export const CertificateProfileSchema = Type.Object({
  name: Type.String(),
  kind: ProfileKindSchema,
  validityDays: Type.Optional(Type.Integer()),
  validityHours: Type.Optional(Type.Integer()),
  keyUsage: Type.Optional(Type.Array(Type.Enum([...KEY_USAGE_BITS]))),
  extKeyUsage: Type.Optional(Type.Array(Type.String())),
  sans: SansSchema,
  allowedKeyTypes: Type.Array(KeyTypeSchema, { description: 'key types a CSR may carry' }),
  honorCaRequests: Type.Optional(
    Type.Boolean({
      description:
        'a CSR asking for basicConstraints CA:TRUE gets a CA certificate with pathLen 0 (aziot Edge CA)',
    }),
  ),
});
export type CertificateProfile = Static<typeof CertificateProfileSchema>;

export const ProfileInputSchema = Type.Object(
  {
    name: Type.Optional(Type.String({ description: 'ignored: the name is the one in the path' })),
    kind: Type.Optional(ProfileKindSchema),
    validityDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650, description: 'default 365' })),
    validityHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 87600 })),
    keyUsage: Type.Optional(Type.Array(Type.Enum([...KEY_USAGE_BITS]), { uniqueItems: true })),
    extKeyUsage: Type.Optional(Type.Array(ExtKeyUsageSchema, { uniqueItems: true })),
    sans: Type.Optional(SansSchema),
    allowedKeyTypes: Type.Optional(Type.Array(KeyTypeSchema, { minItems: 1, uniqueItems: true })),
    honorCaRequests: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ProfileInput = Static<typeof ProfileInputSchema>;

export const IssueMethodSchema = Type.Enum([
  'est-simpleenroll',
  'est-simplereenroll',
  'est-serverkeygen',
  'dps-csr',
  'api',
]);
export type IssueMethod = Static<typeof IssueMethodSchema>;
export type CertificateStatus = 'valid' | 'revoked';

/** The record of one issued certificate. */
export const IssuedCertificateSchema = Type.Object({
  serialNumber: Type.String(),
  issuingCa: Type.String(),
  subject: Type.String(),
  subjectAltNames: Type.Array(Type.String()),
  sha1Thumbprint: Type.String(),
  sha256Thumbprint: Type.String(),
  notBeforeUtc: Type.String({ format: 'date-time' }),
  notAfterUtc: Type.String({ format: 'date-time' }),
  profile: Type.String(),
  method: IssueMethodSchema,
  requester: Type.String({
    description: 'who asked: EST user, client certificate subject, DPS registration ID, API token',
  }),
  status: Type.Enum(['valid', 'revoked']),
  revokedAtUtc: Type.Optional(Type.String({ format: 'date-time' })),
  revocationReason: Type.Optional(Type.String()),
  createdDateTimeUtc: Type.String({ format: 'date-time' }),
});
export type IssuedCertificate = Static<typeof IssuedCertificateSchema>;

export const IssuedWithPemSchema = Type.Object({
  ...IssuedCertificateSchema.properties,
  certificate: Type.String({ description: 'PEM' }),
});
export const IssuedAnswerSchema = Type.Object({
  ...IssuedCertificateSchema.properties,
  certificate: Type.String({ description: 'PEM of the new certificate' }),
  chain: Type.String({ description: 'PEM of the certificate followed by its issuing CA chain' }),
});

export const IssueRequestSchema = Type.Object(
  {
    csr: Type.String({ minLength: 1, description: 'PKCS#10, PEM or base64 DER' }),
    ca: Type.Optional(Type.String({ minLength: 1, description: "issuing CA; default: the scope's default" })),
    profile: Type.Optional(Type.String({ minLength: 1, description: 'default: device' })),
  },
  { additionalProperties: false },
);

export const RevocationReasonSchema = Type.Enum(
  Object.keys(REVOCATION_REASONS) as [
    keyof typeof REVOCATION_REASONS,
    ...Array<keyof typeof REVOCATION_REASONS>,
  ],
  { description: 'RFC 5280 CRLReason' },
);
export const RevokeRequestSchema = Type.Union([
  Type.Null(),
  Type.Object({ reason: Type.Optional(RevocationReasonSchema) }, { additionalProperties: false }),
]);

export const IssuedQuerySchema = Type.Object({
  ca: Type.Optional(Type.String()),
  status: Type.Optional(Type.Enum(['valid', 'revoked'])),
  subject: Type.Optional(Type.String({ description: 'substring of the subject, any case' })),
  method: Type.Optional(IssueMethodSchema),
  expiringBefore: Type.Optional(Type.String({ format: 'date-time' })),
  max: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'page size (default 100)' })),
  continuation: Type.Optional(
    Type.String({ pattern: '^[0-9]{1,9}$', description: 'token from the previous page' }),
  ),
});
