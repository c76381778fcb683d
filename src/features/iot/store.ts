/**
 * Persistence of the IoT registry over Kysely (SQLite or PostgreSQL). Every create is an insert
 * that does nothing when the row exists and says so, so concurrent provisioning of one device
 * converges on one thing, one certificate and one set of attachments.
 */
import type { Kysely } from 'kysely';
import { type Page, after, pageArgs, pageOf } from '../../store/paging.ts';
import type { Database } from '../../store/schema.ts';
import type {
  CertificateStatus,
  IotCertificate,
  IotPolicy,
  IotSettings,
  NamedKind,
  NamedResource,
  ProvisioningTemplate,
  Thing,
} from './types.ts';

type NamedDoc = NamedResource | ProvisioningTemplate;

/** The registry's rows, per scope (tenant). */
export class IotStore {
  private readonly db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  /** The scope's settings and registration code, when they were ever written. */
  async settings(tenantId: string): Promise<{ settings: IotSettings; registrationCode: string } | undefined> {
    const r = await this.db
      .selectFrom('iot_settings')
      .select(['doc', 'registration_code'])
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return r
      ? { settings: JSON.parse(r.doc) as IotSettings, registrationCode: r.registration_code }
      : undefined;
  }

  /** Writes the settings; the first writer's registration code stays. */
  async putSettings(tenantId: string, settings: IotSettings, registrationCode: string): Promise<void> {
    const values = {
      doc: JSON.stringify(settings),
      endpoint_key: settings.endpoint?.toLowerCase() ?? null,
      updated_at: new Date().toISOString(),
    };
    await this.db
      .insertInto('iot_settings')
      .values({ tenant_id: tenantId, registration_code: registrationCode, ...values })
      .onConflict((oc) => oc.column('tenant_id').doUpdateSet(values))
      .execute();
  }

  /** The scope whose endpoint is `host`, for SNI. */
  async tenantByEndpoint(host: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('iot_settings')
      .select('tenant_id')
      .where('endpoint_key', '=', host.toLowerCase())
      .executeTakeFirst();
    return r?.tenant_id;
  }

  // things

  async findThing(tenantId: string, name: string): Promise<Thing | undefined> {
    const r = await this.db
      .selectFrom('iot_things')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return r ? (JSON.parse(r.doc) as Thing) : undefined;
  }

  /** Inserts the thing; false when one of that name exists. */
  async insertThing(tenantId: string, t: Thing): Promise<boolean> {
    const r = await this.db
      .insertInto('iot_things')
      .values({
        tenant_id: tenantId,
        name: t.thingName,
        thing_type: t.thingTypeName ?? null,
        doc: JSON.stringify(t),
        created_at: t.createdAt,
        updated_at: t.lastModifiedAt,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  /** Replaces the thing if its version is still `expectedVersion`; false when another write came first. */
  async updateThing(tenantId: string, t: Thing, expectedVersion: number): Promise<boolean> {
    const current = await this.findThing(tenantId, t.thingName);
    if (!current || current.version !== expectedVersion) return false;
    const r = await this.db
      .updateTable('iot_things')
      .set({ thing_type: t.thingTypeName ?? null, doc: JSON.stringify(t), updated_at: t.lastModifiedAt })
      .where('tenant_id', '=', tenantId)
      .where('name', '=', t.thingName)
      .where('doc', '=', JSON.stringify(current))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteThing(tenantId: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('iot_things')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listThings(tenantId: string, max?: number, continuation?: string): Promise<Page<Thing>> {
    const { limit, after: from } = pageArgs(max, continuation);
    let q = this.db.selectFrom('iot_things').select(['doc', 'name']).where('tenant_id', '=', tenantId);
    if (from) q = q.where(after(['name'], from));
    const rows = await q
      .orderBy('name')
      .limit(limit + 1)
      .execute();
    return pageOf(
      rows,
      limit,
      (r) => [r.name],
      (r) => JSON.parse(r.doc) as Thing,
    );
  }

  // thing types, groups, billing groups, templates

  async findNamed<T extends NamedDoc>(
    tenantId: string,
    kind: NamedKind | 'template',
    name: string,
  ): Promise<T | undefined> {
    const r = await this.db
      .selectFrom('iot_named')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('name', '=', name)
      .executeTakeFirst();
    return r ? (JSON.parse(r.doc) as T) : undefined;
  }

  /** Inserts a named resource; false when it exists. */
  async insertNamed(
    tenantId: string,
    kind: NamedKind | 'template',
    name: string,
    doc: NamedDoc,
  ): Promise<boolean> {
    const r = await this.db
      .insertInto('iot_named')
      .values({ tenant_id: tenantId, kind, name, doc: JSON.stringify(doc), created_at: doc.createdAt })
      .onConflict((oc) => oc.columns(['tenant_id', 'kind', 'name']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async updateNamed(
    tenantId: string,
    kind: NamedKind | 'template',
    name: string,
    doc: NamedDoc,
  ): Promise<void> {
    await this.db
      .updateTable('iot_named')
      .set({ doc: JSON.stringify(doc) })
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('name', '=', name)
      .execute();
  }

  async deleteNamed(tenantId: string, kind: NamedKind | 'template', name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('iot_named')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listNamed<T extends NamedDoc>(tenantId: string, kind: NamedKind | 'template'): Promise<T[]> {
    const rows = await this.db
      .selectFrom('iot_named')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .orderBy('name')
      .limit(1000)
      .execute();
    return rows.map((r) => JSON.parse(r.doc) as T);
  }

  // certificates

  async findCertificate(tenantId: string, id: string): Promise<IotCertificate | undefined> {
    const r = await this.db
      .selectFrom('iot_certificates')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return r ? (JSON.parse(r.doc) as IotCertificate) : undefined;
  }

  /** The certificate with this signed content (any encoding of its signature). */
  async findCertificateByTbs(tenantId: string, tbsSha256: string): Promise<IotCertificate | undefined> {
    const r = await this.db
      .selectFrom('iot_certificates')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('tbs_sha256', '=', tbsSha256)
      .orderBy('created_at')
      .executeTakeFirst();
    return r ? (JSON.parse(r.doc) as IotCertificate) : undefined;
  }

  /** Inserts a certificate; false when it exists. */
  async insertCertificate(tenantId: string, c: IotCertificate, tbsSha256: string): Promise<boolean> {
    const r = await this.db
      .insertInto('iot_certificates')
      .values({
        tenant_id: tenantId,
        id: c.certificateId,
        tbs_sha256: tbsSha256,
        ca_name: c.caName ?? null,
        status: c.status,
        doc: JSON.stringify(c),
        created_at: c.createdAt,
        updated_at: c.lastModifiedAt,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'id']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async putCertificate(tenantId: string, c: IotCertificate): Promise<void> {
    await this.db
      .updateTable('iot_certificates')
      .set({ status: c.status, doc: JSON.stringify(c), updated_at: c.lastModifiedAt })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', c.certificateId)
      .execute();
  }

  async deleteCertificate(tenantId: string, id: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('iot_certificates')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listCertificates(
    tenantId: string,
    filter: { caName?: string; status?: CertificateStatus },
    max?: number,
    continuation?: string,
  ): Promise<Page<IotCertificate>> {
    const { limit, after: from } = pageArgs(max, continuation);
    let q = this.db
      .selectFrom('iot_certificates')
      .select(['doc', 'created_at', 'id'])
      .where('tenant_id', '=', tenantId);
    if (filter.caName) q = q.where('ca_name', '=', filter.caName);
    if (filter.status) q = q.where('status', '=', filter.status);
    if (from) q = q.where(after(['created_at', 'id'], from));
    const rows = await q
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    return pageOf(
      rows,
      limit,
      (r) => [r.created_at, r.id],
      (r) => JSON.parse(r.doc) as IotCertificate,
    );
  }

  // policies and attachments

  async findPolicy(tenantId: string, name: string): Promise<IotPolicy | undefined> {
    const r = await this.db
      .selectFrom('iot_policies')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return r ? (JSON.parse(r.doc) as IotPolicy) : undefined;
  }

  /** Inserts a policy; false when one of that name exists. */
  async insertPolicy(tenantId: string, p: IotPolicy): Promise<boolean> {
    const r = await this.db
      .insertInto('iot_policies')
      .values({
        tenant_id: tenantId,
        name: p.policyName,
        doc: JSON.stringify(p),
        created_at: p.createdAt,
        updated_at: p.lastModifiedAt,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
  }

  async putPolicy(tenantId: string, p: IotPolicy): Promise<void> {
    await this.db
      .updateTable('iot_policies')
      .set({ doc: JSON.stringify(p), updated_at: p.lastModifiedAt })
      .where('tenant_id', '=', tenantId)
      .where('name', '=', p.policyName)
      .execute();
  }

  async deletePolicy(tenantId: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('iot_policies')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listPolicies(tenantId: string): Promise<IotPolicy[]> {
    const rows = await this.db
      .selectFrom('iot_policies')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .orderBy('name')
      .limit(1000)
      .execute();
    return rows.map((r) => JSON.parse(r.doc) as IotPolicy);
  }

  async attachPolicy(tenantId: string, policyName: string, target: string): Promise<void> {
    await this.db
      .insertInto('iot_policy_targets')
      .values({ tenant_id: tenantId, policy_name: policyName, target })
      .onConflict((oc) => oc.columns(['tenant_id', 'policy_name', 'target']).doNothing())
      .execute();
  }

  async detachPolicy(tenantId: string, policyName: string, target: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('iot_policy_targets')
      .where('tenant_id', '=', tenantId)
      .where('policy_name', '=', policyName)
      .where('target', '=', target)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  /** Names of the policies attached to a target, in name order. */
  async policiesOf(tenantId: string, target: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('iot_policy_targets')
      .select('policy_name')
      .where('tenant_id', '=', tenantId)
      .where('target', '=', target)
      .orderBy('policy_name')
      .execute();
    return rows.map((r) => r.policy_name);
  }

  async targetsOf(tenantId: string, policyName: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('iot_policy_targets')
      .select('target')
      .where('tenant_id', '=', tenantId)
      .where('policy_name', '=', policyName)
      .orderBy('target')
      .limit(1000)
      .execute();
    return rows.map((r) => r.target);
  }

  async attachPrincipal(tenantId: string, thingName: string, principal: string): Promise<void> {
    await this.db
      .insertInto('iot_thing_principals')
      .values({ tenant_id: tenantId, thing_name: thingName, principal })
      .onConflict((oc) => oc.columns(['tenant_id', 'thing_name', 'principal']).doNothing())
      .execute();
  }

  async detachPrincipal(tenantId: string, thingName: string, principal: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('iot_thing_principals')
      .where('tenant_id', '=', tenantId)
      .where('thing_name', '=', thingName)
      .where('principal', '=', principal)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async thingsOf(tenantId: string, principal: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('iot_thing_principals')
      .select('thing_name')
      .where('tenant_id', '=', tenantId)
      .where('principal', '=', principal)
      .orderBy('thing_name')
      .execute();
    return rows.map((r) => r.thing_name);
  }

  async principalsOf(tenantId: string, thingName: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('iot_thing_principals')
      .select('principal')
      .where('tenant_id', '=', tenantId)
      .where('thing_name', '=', thingName)
      .orderBy('principal')
      .execute();
    return rows.map((r) => r.principal);
  }
}
