/** Persistence contract for shared access policies (the Azure-shaped service API's credentials). */
import type { Kysely } from 'kysely';
import type { Database } from '../../store/schema.ts';
import type { AccessPolicy } from './types.ts';

export interface AccessPolicyStore {
  /** Creates a policy or replaces its keys and rights. */
  putPolicy(tenantId: string, p: AccessPolicy, now: string): Promise<void>;
  listPolicies(tenantId: string): Promise<AccessPolicy[]>;
  /** Deletes a policy; false when there was none. */
  deletePolicy(tenantId: string, keyName: string): Promise<boolean>;
  /** Every tenant's policy with this key name (a SAS token names the policy, not the tenant). */
  findPoliciesByName(keyName: string): Promise<Array<AccessPolicy & { tenantId: string }>>;
}

function toPolicy(r: Database['access_policies']): AccessPolicy {
  return {
    keyName: r.key_name,
    primaryKey: r.primary_key,
    secondaryKey: r.secondary_key,
    rights: r.rights.split(',').filter(Boolean),
  };
}

/** AccessPolicyStore over Kysely (SQLite or PostgreSQL). */
export class KyselyAccessPolicyStore implements AccessPolicyStore {
  private readonly db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  async putPolicy(tenantId: string, p: AccessPolicy, now: string): Promise<void> {
    const values = { primary_key: p.primaryKey, secondary_key: p.secondaryKey, rights: p.rights.join(',') };
    await this.db
      .insertInto('access_policies')
      .values({ tenant_id: tenantId, key_name: p.keyName, created_at: now, ...values })
      .onConflict((oc) => oc.columns(['tenant_id', 'key_name']).doUpdateSet(values))
      .execute();
  }

  async listPolicies(tenantId: string): Promise<AccessPolicy[]> {
    const rows = await this.db
      .selectFrom('access_policies')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('key_name')
      .execute();
    return rows.map(toPolicy);
  }

  async findPoliciesByName(keyName: string): Promise<Array<AccessPolicy & { tenantId: string }>> {
    const rows = await this.db
      .selectFrom('access_policies')
      .selectAll()
      .where('key_name', '=', keyName)
      .execute();
    return rows.map((r) => ({ ...toPolicy(r), tenantId: r.tenant_id }));
  }

  async deletePolicy(tenantId: string, keyName: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('access_policies')
      .where('tenant_id', '=', tenantId)
      .where('key_name', '=', keyName)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
