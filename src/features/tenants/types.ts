/** Tenants (DPS ID scopes) and API tokens. */

export interface Tenant {
  id: string;
  /** DPS ID scope, e.g. "0ne00A1B2C3"; devices put it in their registration URL. */
  idScope: string;
  name: string;
  createdAt: string;
}

/** What a token may do: "admin" is everything; a tenant-bound token is limited to its tenant. */
export type TokenScope = 'admin' | 'read' | 'write';

export interface ApiToken {
  id: string;
  tenantId: string | null;
  name: string;
  scopes: TokenScope[];
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** The authenticated caller of the admin API. */
export interface Principal {
  tokenId: string;
  name: string;
  tenantId: string | null;
  scopes: TokenScope[];
}
