/** Shared access policies of the Azure-shaped service API, as TypeBox schemas. */
import Type, { type Static } from 'typebox';

export const RIGHTS = [
  'ServiceConfig',
  'EnrollmentRead',
  'EnrollmentWrite',
  'RegistrationStatusRead',
  'RegistrationStatusWrite',
] as const;
export const RightSchema = Type.Enum([...RIGHTS]);
export type Right = Static<typeof RightSchema>;

export const POLICY_NAME_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

export const AccessPolicySchema = Type.Object({
  keyName: Type.String(),
  primaryKey: Type.String({ description: 'base64 HMAC-SHA256 key' }),
  secondaryKey: Type.String(),
  rights: Type.Array(Type.String()),
});
export type AccessPolicy = Static<typeof AccessPolicySchema>;

/** A policy as the admin API shows it: with the connection string the Azure SDKs take. */
export const AccessPolicyViewSchema = Type.Object({
  ...AccessPolicySchema.properties,
  connectionString: Type.String(),
});

export const PolicyRightsSchema = Type.Union([
  Type.Null(),
  Type.Object(
    {
      rights: Type.Optional(
        Type.Array(RightSchema, { minItems: 1, uniqueItems: true, description: 'default: every right' }),
      ),
    },
    { additionalProperties: false },
  ),
]);
