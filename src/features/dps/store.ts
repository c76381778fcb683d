/** Persistence for the DPS feature (CAs, hubs, enrollments, registrations, registry devices) over Kysely. */
import type { Kysely } from 'kysely';
import { ZtError } from '../../errors.ts';
import { type Certificate, loadCertificates } from '../../pki/certificate.ts';
import { formatName } from '../../pki/names.ts';
import { isUniqueViolation } from '../../store/errors.ts';
import type { Database } from '../../store/schema.ts';
import type {
  CaCertificate,
  DeviceRegistrationState,
  EnrollmentGroup,
  EnrollmentKind,
  IndividualEnrollment,
  LinkedHub,
  RegistrationStatus,
  RegistryDevice,
} from './types.ts';

/** Columns a CaCertificate is read from. */
const CA_COLUMNS = [
  'name',
  'certificate',
  'verified',
  'verification_code',
  'code_expires_at',
  'etag',
  'created_at',
  'updated_at',
] as const;

/** Case-insensitive key for IDs that DPS treats case-insensitively. */
export const idKey = (id: string) => id.toLowerCase();

export interface StoredEnrollment<T> {
  doc: T;
  etag: string;
}

export interface StoredRegistration {
  operationId: string;
  status: RegistrationStatus;
  state: DeviceRegistrationState;
  etag: string;
  updatedAt: string;
}

/** Keys that make a group match a device chain. */
export interface GroupSigners {
  signer1: string | null;
  signer2: string | null;
  caRef1: string | null;
  caRef2: string | null;
}

export interface AccessPolicy {
  keyName: string;
  primaryKey: string;
  secondaryKey: string;
  rights: string[];
}

/** Page of results with an opaque continuation token (an offset). */
export interface Page<T> {
  items: T[];
  continuation?: string;
}

function pageArgs(
  max: number | undefined,
  continuation: string | undefined,
): { limit: number; offset: number } {
  const offset = continuation ? Number.parseInt(continuation, 10) : 0;
  if (!Number.isInteger(offset) || offset < 0)
    throw new ZtError('BAD_REQUEST', 'continuation token is not valid');
  return { limit: Math.min(Math.max(max ?? 100, 1), 1000), offset };
}

/** DPS persistence over Kysely (SQLite or PostgreSQL). */
export class DpsStore {
  private readonly db: Kysely<Database>;

  constructor(db: Kysely<Database>) {
    this.db = db;
  }

  // CA certificates

  /** Inserts a CA; CONFLICT when the name or certificate is already there. */
  async insertCa(tenantId: string, ca: CaCertificate): Promise<void> {
    try {
      await this.db
        .insertInto('ca_certificates')
        .values({ tenant_id: tenantId, ...caRow(ca) })
        .execute();
    } catch (e) {
      if (isUniqueViolation(e)) {
        throw new ZtError(
          'CONFLICT',
          `a CA named "${ca.name}" or with thumbprint ${ca.sha256Thumbprint} already exists in this scope; delete it first or use another name`,
        );
      }
      throw e;
    }
  }

  async updateCa(tenantId: string, ca: CaCertificate): Promise<void> {
    await this.db
      .updateTable('ca_certificates')
      .set(caRow(ca))
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', idKey(ca.name))
      .execute();
  }

  async findCa(tenantId: string, name: string): Promise<CaCertificate | undefined> {
    const r = await this.db
      .selectFrom('ca_certificates')
      .select(CA_COLUMNS)
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', idKey(name))
      .executeTakeFirst();
    return r ? fromCaRow(r) : undefined;
  }

  async listCas(tenantId: string): Promise<CaCertificate[]> {
    const rows = await this.db
      .selectFrom('ca_certificates')
      .select(CA_COLUMNS)
      .where('tenant_id', '=', tenantId)
      .orderBy('name_key')
      .execute();
    return rows.map(fromCaRow);
  }

  /** CAs of the tenant whose SHA-256 thumbprint is one of `sha256s`. */
  async findCasByThumbprint(tenantId: string, sha256s: string[]): Promise<CaCertificate[]> {
    if (sha256s.length === 0) return [];
    const rows = await this.db
      .selectFrom('ca_certificates')
      .select(CA_COLUMNS)
      .where('tenant_id', '=', tenantId)
      .where('sha256', 'in', sha256s)
      .execute();
    return rows.map(fromCaRow);
  }

  async deleteCa(tenantId: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('ca_certificates')
      .where('tenant_id', '=', tenantId)
      .where('name_key', '=', idKey(name))
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // Linked hubs

  async upsertHub(tenantId: string, hub: LinkedHub, now: string): Promise<void> {
    const row = {
      host_name: hub.hostName,
      region: hub.region,
      weight: hub.allocationWeight,
      apply_allocation_policy: hub.applyAllocationPolicy ? 1 : 0,
    };
    await this.db
      .insertInto('linked_hubs')
      .values({ tenant_id: tenantId, host_key: idKey(hub.hostName), created_at: now, ...row })
      .onConflict((oc) => oc.columns(['tenant_id', 'host_key']).doUpdateSet(row))
      .execute();
  }

  async listHubs(tenantId: string): Promise<LinkedHub[]> {
    const rows = await this.db
      .selectFrom('linked_hubs')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('host_key')
      .execute();
    return rows.map((r) => ({
      hostName: r.host_name,
      region: r.region,
      allocationWeight: Number(r.weight),
      applyAllocationPolicy: Number(r.apply_allocation_policy) === 1,
    }));
  }

  async deleteHub(tenantId: string, hostName: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('linked_hubs')
      .where('tenant_id', '=', tenantId)
      .where('host_key', '=', idKey(hostName))
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // Enrollments

  async findEnrollment<T extends IndividualEnrollment | EnrollmentGroup>(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
  ): Promise<StoredEnrollment<T> | undefined> {
    const r = await this.db
      .selectFrom('enrollments')
      .select(['doc', 'etag'])
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('id_key', '=', idKey(id))
      .executeTakeFirst();
    return r ? { doc: JSON.parse(r.doc) as T, etag: r.etag } : undefined;
  }

  /**
   * Writes an enrollment. `expectEtag`: undefined = create or replace, null = must not exist,
   * string = must exist with that etag. Returns false when the expectation does not hold.
   */
  async putEnrollment(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
    doc: IndividualEnrollment | EnrollmentGroup,
    signers: GroupSigners,
    expectEtag: string | null | undefined,
  ): Promise<boolean> {
    const values = {
      doc: JSON.stringify(doc),
      etag: doc.etag!,
      updated_at: doc.lastUpdatedDateTimeUtc!,
      signer1: signers.signer1,
      signer2: signers.signer2,
      ca_ref1: signers.caRef1,
      ca_ref2: signers.caRef2,
    };
    if (typeof expectEtag === 'string') {
      const r = await this.db
        .updateTable('enrollments')
        .set(values)
        .where('tenant_id', '=', tenantId)
        .where('kind', '=', kind)
        .where('id_key', '=', idKey(id))
        .where('etag', '=', expectEtag)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    }
    const insert = this.db.insertInto('enrollments').values({
      tenant_id: tenantId,
      kind,
      id_key: idKey(id),
      created_at: doc.createdDateTimeUtc!,
      ...values,
    });
    try {
      if (expectEtag === null) await insert.execute();
      else
        await insert
          .onConflict((oc) => oc.columns(['tenant_id', 'kind', 'id_key']).doUpdateSet(values))
          .execute();
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async deleteEnrollment(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
    etag?: string,
  ): Promise<boolean> {
    let q = this.db
      .deleteFrom('enrollments')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .where('id_key', '=', idKey(id));
    if (etag) q = q.where('etag', '=', etag);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listEnrollments<T>(
    tenantId: string,
    kind: EnrollmentKind,
    max?: number,
    continuation?: string,
  ): Promise<Page<T>> {
    const { limit, offset } = pageArgs(max, continuation);
    const rows = await this.db
      .selectFrom('enrollments')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .orderBy('id_key')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    const items = rows.slice(0, limit).map((r) => JSON.parse(r.doc) as T);
    return { items, continuation: rows.length > limit ? String(offset + limit) : undefined };
  }

  /** Groups whose signing certificate is one of `sha256s` or that reference one of the CA names. */
  async findGroupsFor(tenantId: string, sha256s: string[], caNames: string[]): Promise<EnrollmentGroup[]> {
    if (sha256s.length === 0 && caNames.length === 0) return [];
    const keys = caNames.map(idKey);
    const rows = await this.db
      .selectFrom('enrollments')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', 'group')
      .where((eb) => {
        const ors = [];
        if (sha256s.length) ors.push(eb('signer1', 'in', sha256s), eb('signer2', 'in', sha256s));
        if (keys.length) ors.push(eb('ca_ref1', 'in', keys), eb('ca_ref2', 'in', keys));
        return eb.or(ors);
      })
      .execute();
    return rows.map((r) => JSON.parse(r.doc) as EnrollmentGroup);
  }

  // Registrations

  async findRegistration(tenantId: string, registrationId: string): Promise<StoredRegistration | undefined> {
    const r = await this.db
      .selectFrom('registrations')
      .select(['operation_id', 'status', 'doc', 'etag', 'updated_at'])
      .where('tenant_id', '=', tenantId)
      .where('id_key', '=', idKey(registrationId))
      .executeTakeFirst();
    return r
      ? {
          operationId: r.operation_id,
          status: r.status as RegistrationStatus,
          state: JSON.parse(r.doc) as DeviceRegistrationState,
          etag: r.etag,
          updatedAt: r.updated_at,
        }
      : undefined;
  }

  /** Creates or replaces the registration record of one registration ID. */
  async putRegistration(
    tenantId: string,
    operationId: string,
    state: DeviceRegistrationState,
  ): Promise<void> {
    const values = {
      operation_id: operationId,
      status: state.status,
      group_key: state.x509?.enrollmentGroupId ? idKey(state.x509.enrollmentGroupId) : null,
      doc: JSON.stringify(state),
      etag: state.etag!,
      updated_at: state.lastUpdatedDateTimeUtc!,
    };
    await this.db
      .insertInto('registrations')
      .values({
        tenant_id: tenantId,
        id_key: idKey(state.registrationId),
        created_at: state.createdDateTimeUtc!,
        ...values,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'id_key']).doUpdateSet(values))
      .execute();
  }

  /** Registration records of the tenant, or of one enrollment group. */
  async listRegistrations(
    tenantId: string,
    max?: number,
    continuation?: string,
    groupId?: string,
  ): Promise<Page<DeviceRegistrationState>> {
    const { limit, offset } = pageArgs(max, continuation);
    let q = this.db.selectFrom('registrations').select('doc').where('tenant_id', '=', tenantId);
    if (groupId !== undefined) q = q.where('group_key', '=', idKey(groupId));
    const rows = await q
      .orderBy('id_key')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    const items = rows.slice(0, limit).map((r) => JSON.parse(r.doc) as DeviceRegistrationState);
    return { items, continuation: rows.length > limit ? String(offset + limit) : undefined };
  }

  async deleteRegistration(tenantId: string, registrationId: string, etag?: string): Promise<boolean> {
    let q = this.db
      .deleteFrom('registrations')
      .where('tenant_id', '=', tenantId)
      .where('id_key', '=', idKey(registrationId));
    if (etag) q = q.where('etag', '=', etag);
    const r = await q.executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  // Registry devices

  async findDevice(tenantId: string, hub: string, deviceId: string): Promise<RegistryDevice | undefined> {
    const r = await this.db
      .selectFrom('devices')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('hub_key', '=', idKey(hub))
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return r ? (JSON.parse(r.doc) as RegistryDevice) : undefined;
  }

  async putDevice(tenantId: string, d: RegistryDevice): Promise<void> {
    const values = { doc: JSON.stringify(d), etag: d.etag, updated_at: d.lastUpdatedDateTimeUtc };
    await this.db
      .insertInto('devices')
      .values({
        tenant_id: tenantId,
        hub_key: idKey(d.hub),
        device_id: d.deviceId,
        created_at: d.createdDateTimeUtc,
        ...values,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'hub_key', 'device_id']).doUpdateSet(values))
      .execute();
  }

  async deleteDevice(tenantId: string, hub: string, deviceId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('devices')
      .where('tenant_id', '=', tenantId)
      .where('hub_key', '=', idKey(hub))
      .where('device_id', '=', deviceId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listDevices(
    tenantId: string,
    hub?: string,
    max?: number,
    continuation?: string,
  ): Promise<Page<RegistryDevice>> {
    const { limit, offset } = pageArgs(max, continuation);
    let q = this.db.selectFrom('devices').select('doc').where('tenant_id', '=', tenantId);
    if (hub) q = q.where('hub_key', '=', idKey(hub));
    const rows = await q
      .orderBy('hub_key')
      .orderBy('device_id')
      .limit(limit + 1)
      .offset(offset)
      .execute();
    const items = rows.slice(0, limit).map((r) => JSON.parse(r.doc) as RegistryDevice);
    return { items, continuation: rows.length > limit ? String(offset + limit) : undefined };
  }

  // Shared access policies

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
      .execute();
    return rows.map(toPolicy);
  }

  /** Every tenant's policy with this key name (a SAS token names the policy, not the tenant). */
  async findPoliciesByName(keyName: string): Promise<Array<AccessPolicy & { tenantId: string }>> {
    const rows = await this.db
      .selectFrom('access_policies')
      .selectAll()
      .where('key_name', '=', keyName)
      .execute();
    return rows.map((r) => ({ ...toPolicy(r), tenantId: r.tenant_id }));
  }
}

function toPolicy(r: Database['access_policies']): AccessPolicy {
  return {
    keyName: r.key_name,
    primaryKey: r.primary_key,
    secondaryKey: r.secondary_key,
    rights: r.rights.split(',').filter(Boolean),
  };
}

function caRow(ca: CaCertificate) {
  return {
    name: ca.name,
    name_key: idKey(ca.name),
    sha256: ca.sha256Thumbprint,
    certificate: ca.certificate,
    verified: ca.isVerified ? 1 : 0,
    verification_code: ca.verificationCode ?? null,
    code_expires_at: ca.verificationCodeExpiresUtc ?? null,
    etag: ca.etag,
    created_at: ca.createdDateTimeUtc,
    updated_at: ca.lastUpdatedDateTimeUtc,
  };
}

/** Rebuilds the CA view, re-deriving the certificate details from the stored PEM. */
function fromCaRow(r: {
  name: string;
  certificate: string;
  verified: number;
  verification_code: string | null;
  code_expires_at: string | null;
  etag: string;
  created_at: string;
  updated_at: string;
}): CaCertificate {
  return {
    name: r.name,
    certificate: r.certificate,
    ...certificateDetails(loadCertificates(r.certificate)[0]),
    isVerified: Number(r.verified) === 1,
    verificationCode: r.verification_code ?? undefined,
    verificationCodeExpiresUtc: r.code_expires_at ?? undefined,
    etag: r.etag,
    createdDateTimeUtc: r.created_at,
    lastUpdatedDateTimeUtc: r.updated_at,
  };
}

/** The certificate facts shown for a CA. */
export function certificateDetails(c: Certificate) {
  return {
    subject: formatName(c.subject),
    sha1Thumbprint: c.sha1,
    sha256Thumbprint: c.sha256,
    notBeforeUtc: c.notBefore.toISOString(),
    notAfterUtc: c.notAfter.toISOString(),
  };
}
