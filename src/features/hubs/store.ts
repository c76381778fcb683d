/** Persistence contract for linked hubs; implemented over Kysely for both dialects. */
import { prepared } from '../../store/prepared.ts';
import type { Kysely, Selectable } from 'kysely';
import type { Database, LinkedHubsTable } from '../../store/schema.ts';
import { idKey } from '../id-key.ts';
import type { HubKind, LinkedHub } from './types.ts';

const KINDS: readonly HubKind[] = ['record', 'builtin', 'mosquitto', 'webhook'];

export interface HubStore {
  /** Links a hub, or updates it when it is linked already. */
  upsertHub(tenantId: string, hub: LinkedHub, now: string): Promise<void>;
  listHubs(tenantId: string): Promise<LinkedHub[]>;
  deleteHub(tenantId: string, hostName: string): Promise<boolean>;
  /** Scopes that link `hostName` as a builtin hub. */
  builtinScopes(hostName: string): Promise<string[]>;
  /** The hub, or undefined. */
  findHub(tenantId: string, hostName: string): Promise<LinkedHub | undefined>;
}

/** HubStore over Kysely (SQLite or PostgreSQL). */
export class KyselyHubStore implements HubStore {
  private readonly db: Kysely<Database>;

  private readonly listHubsQuery;
  private readonly findHubQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // Both run in every registration's allocation.
    this.listHubsQuery = prepared(db, (tenantId: string) =>
      db.selectFrom('linked_hubs').selectAll().where('tenant_id', '=', tenantId).orderBy('host_key'),
    );
    this.findHubQuery = prepared(db, (tenantId: string, hostKey: string) =>
      db
        .selectFrom('linked_hubs')
        .selectAll()
        .where('tenant_id', '=', tenantId)
        .where('host_key', '=', hostKey),
    );
  }

  async upsertHub(tenantId: string, hub: LinkedHub, now: string): Promise<void> {
    const row = {
      host_name: hub.hostName,
      region: hub.region,
      weight: hub.allocationWeight,
      apply_allocation_policy: hub.applyAllocationPolicy ? 1 : 0,
      kind: hub.kind,
      config:
        hub.mosquitto || hub.webhook
          ? JSON.stringify({ mosquitto: hub.mosquitto, webhook: hub.webhook })
          : null,
    };
    await this.db
      .insertInto('linked_hubs')
      .values({ tenant_id: tenantId, host_key: idKey(hub.hostName), created_at: now, ...row })
      .onConflict((oc) => oc.columns(['tenant_id', 'host_key']).doUpdateSet(row))
      .execute();
  }

  async listHubs(tenantId: string): Promise<LinkedHub[]> {
    return (await this.listHubsQuery(tenantId)).rows.map(hubOf);
  }

  async findHub(tenantId: string, hostName: string): Promise<LinkedHub | undefined> {
    const r = (await this.findHubQuery(tenantId, idKey(hostName))).rows[0];
    return r ? hubOf(r) : undefined;
  }

  async builtinScopes(hostName: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('linked_hubs')
      .select('tenant_id')
      .where('host_key', '=', idKey(hostName))
      .where('kind', '=', 'builtin')
      .limit(100)
      .execute();
    return rows.map((r) => r.tenant_id);
  }

  async deleteHub(tenantId: string, hostName: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('linked_hubs')
      .where('tenant_id', '=', tenantId)
      .where('host_key', '=', idKey(hostName))
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}

function hubOf(r: Selectable<LinkedHubsTable>): LinkedHub {
  const config = r.config ? (JSON.parse(r.config) as Pick<LinkedHub, 'mosquitto' | 'webhook'>) : {};
  return {
    hostName: r.host_name,
    region: r.region,
    allocationWeight: Number(r.weight),
    applyAllocationPolicy: Number(r.apply_allocation_policy) === 1,
    kind: KINDS.find((k) => k === r.kind) ?? 'record',
    ...(config.mosquitto ? { mosquitto: config.mosquitto } : {}),
    ...(config.webhook ? { webhook: config.webhook } : {}),
  };
}
