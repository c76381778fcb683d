/**
 * Tenants (DPS ID scopes) and API tokens, as TypeBox schemas: the admin API validates and
 * documents them from here, and the TypeScript types are derived from them.
 */
import Type, { type Static } from 'typebox';

export const TenantSchema = Type.Object(
  {
    id: Type.String(),
    idScope: Type.String({
      description: 'DPS ID scope, e.g. 0ne00A1B2C3; devices put it in their registration URL',
    }),
    name: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
  },
  { description: 'A tenant, addressed by devices through its DPS ID scope.' },
);
export type Tenant = Static<typeof TenantSchema>;

export const NewTenantSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' }),
    idScope: Type.Optional(
      Type.String({
        pattern: '^[A-Za-z0-9]{3,32}$',
        description: '3-32 letters and digits; generated when left out',
      }),
    ),
  },
  { additionalProperties: false },
);
export type NewTenant = Static<typeof NewTenantSchema>;

/** What a token may do: "admin" is everything; a tenant-bound token is limited to its tenant. */
export const TokenScopeSchema = Type.Enum(['admin', 'read', 'write']);
export type TokenScope = Static<typeof TokenScopeSchema>;

export const ApiTokenSchema = Type.Object(
  {
    id: Type.String(),
    tenantId: Type.Union([Type.String(), Type.Null()]),
    name: Type.String(),
    scopes: Type.Array(TokenScopeSchema),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    lastUsedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  },
  { description: 'An API token (its secret is shown only when it is created).' },
);
export type ApiToken = Static<typeof ApiTokenSchema>;

export const NewTokenSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    scopes: Type.Optional(
      Type.Array(TokenScopeSchema, { minItems: 1, uniqueItems: true, description: 'default: admin' }),
    ),
    tenant: Type.Optional(Type.String({ minLength: 1, description: 'ID scope the token is limited to' })),
    expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { additionalProperties: false },
);
export type NewToken = Static<typeof NewTokenSchema>;

export const CreatedTokenSchema = Type.Object({ token: ApiTokenSchema, secret: Type.String() });

/** The authenticated caller of the admin API. */
export interface Principal {
  tokenId: string;
  name: string;
  tenantId: string | null;
  scopes: TokenScope[];
}
