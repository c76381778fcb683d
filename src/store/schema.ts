/**
 * Table types for Kysely. Portable across SQLite and PostgreSQL: times are ISO-8601 text (they
 * sort correctly), flags are integers, structured values are JSON text.
 */

export interface TenantsTable {
  id: string;
  id_scope: string;
  name: string;
  created_at: string;
}

export interface ApiTokensTable {
  id: string;
  tenant_id: string | null;
  name: string;
  secret_hash: string;
  /** JSON array of scopes, e.g. ["admin"]. */
  scopes: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface Database {
  tenants: TenantsTable;
  api_tokens: ApiTokensTable;
}
