/** Persistence contract for tenants and API tokens; implemented over Kysely for both dialects. */
import { prepared } from '../../store/prepared.ts';
import type { Kysely } from 'kysely';
import { ZtError } from '../../errors.ts';
import { isUniqueViolation } from '../../store/errors.ts';
import type { Database } from '../../store/schema.ts';
import type { ApiToken, Tenant, TokenScope } from './types.ts';

export interface TenantStore {
  insertTenant(t: Tenant): Promise<void>;
  listTenants(): Promise<Tenant[]>;
  findTenant(idOrScope: string): Promise<Tenant | undefined>;
  deleteTenant(id: string): Promise<boolean>;
  insertToken(t: ApiToken, secretHash: string): Promise<void>;
  findToken(id: string): Promise<{ token: ApiToken; secretHash: string } | undefined>;
  listTokens(tenantId?: string | null): Promise<ApiToken[]>;
  countTokens(): Promise<number>;
  touchToken(id: string, at: string): Promise<void>;
  revokeToken(id: string, at: string): Promise<boolean>;
}

type TokenRow = Database['api_tokens'];

function toToken(r: TokenRow): ApiToken {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    scopes: JSON.parse(r.scopes) as TokenScope[],
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
  };
}

function toTenant(r: Database['tenants']): Tenant {
  return { id: r.id, idScope: r.id_scope, name: r.name, createdAt: r.created_at };
}

/** TenantStore over Kysely (SQLite or PostgreSQL). */
export class KyselyTenantStore implements TenantStore {
  private readonly db: Kysely<Database>;

  private readonly findTenantQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // Every device request looks its scope up.
    this.findTenantQuery = prepared(db, (idOrScope: string) =>
      db
        .selectFrom('tenants')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', idOrScope), eb('id_scope', '=', idOrScope)])),
    );
  }

  async insertTenant(t: Tenant): Promise<void> {
    try {
      await this.db
        .insertInto('tenants')
        .values({ id: t.id, id_scope: t.idScope, name: t.name, created_at: t.createdAt })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e))
        throw new ZtError('CONFLICT', `ID scope ${t.idScope} already exists; choose another`);
      throw e;
    }
  }

  async listTenants(): Promise<Tenant[]> {
    const rows = await this.db
      .selectFrom('tenants')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toTenant);
  }

  async findTenant(idOrScope: string): Promise<Tenant | undefined> {
    const row = (await this.findTenantQuery(idOrScope)).rows[0];
    return row && toTenant(row);
  }

  async deleteTenant(id: string): Promise<boolean> {
    const r = await this.db.deleteFrom('tenants').where('id', '=', id).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async insertToken(t: ApiToken, secretHash: string): Promise<void> {
    await this.db
      .insertInto('api_tokens')
      .values({
        id: t.id,
        tenant_id: t.tenantId,
        name: t.name,
        secret_hash: secretHash,
        scopes: JSON.stringify(t.scopes),
        created_at: t.createdAt,
        expires_at: t.expiresAt,
        last_used_at: null,
        revoked_at: null,
      })
      .execute();
  }

  async findToken(id: string): Promise<{ token: ApiToken; secretHash: string } | undefined> {
    const row = await this.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirst();
    return row && { token: toToken(row), secretHash: row.secret_hash };
  }

  async listTokens(tenantId?: string | null): Promise<ApiToken[]> {
    let q = this.db.selectFrom('api_tokens').selectAll();
    if (tenantId !== undefined)
      q = tenantId === null ? q.where('tenant_id', 'is', null) : q.where('tenant_id', '=', tenantId);
    return (await q.orderBy('created_at').orderBy('id').execute()).map(toToken);
  }

  async countTokens(): Promise<number> {
    const r = await this.db
      .selectFrom('api_tokens')
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async touchToken(id: string, at: string): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('id', '=', id).execute();
  }

  async revokeToken(id: string, at: string): Promise<boolean> {
    const r = await this.db
      .updateTable('api_tokens')
      .set({ revoked_at: at })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }
}
