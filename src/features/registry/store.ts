/** Persistence contract for registry devices; implemented over Kysely for both dialects. */
import { prepared } from '../../store/prepared.ts';
import type { Kysely } from 'kysely';
import { type Page, after, pageArgs, pageOf } from '../../store/paging.ts';
import type { Database } from '../../store/schema.ts';
import { idKey } from '../id-key.ts';
import type { RegistryDevice } from './types.ts';

export interface DeviceStore {
  findDevice(tenantId: string, hub: string, deviceId: string): Promise<RegistryDevice | undefined>;
  /** Creates or replaces a device of a hub. */
  putDevice(tenantId: string, d: RegistryDevice): Promise<void>;
  deleteDevice(tenantId: string, hub: string, deviceId: string): Promise<boolean>;
  listDevices(
    tenantId: string,
    hub?: string,
    max?: number,
    continuation?: string,
  ): Promise<Page<RegistryDevice>>;
  /** Devices that registered with the certificate of this SHA-256 (hex). */
  devicesWithCertificate(tenantId: string, sha256: string): Promise<RegistryDevice[]>;
  /** Up to `limit` devices an enrollment assigned, after device (hub key, id) `after`. */
  devicesOfEnrollment(
    tenantId: string,
    kind: 'individual' | 'group',
    id: string,
    limit: number,
    after?: { hubKey: string; deviceId: string },
  ): Promise<RegistryDevice[]>;
}

/** The enrollment_key column of a device. */
export function enrollmentKey(kind: string, id: string): string {
  return `${kind}:${idKey(id)}`;
}

/** DeviceStore over Kysely (SQLite or PostgreSQL). */
export class KyselyDeviceStore implements DeviceStore {
  private readonly db: Kysely<Database>;

  private readonly findDeviceQuery;
  private readonly putDeviceQuery;

  constructor(db: Kysely<Database>) {
    this.db = db;
    // Both run in every registration.
    this.findDeviceQuery = prepared(db, (tenantId: string, hubKey: string, deviceId: string) =>
      db
        .selectFrom('devices')
        .select('doc')
        .where('tenant_id', '=', tenantId)
        .where('hub_key', '=', hubKey)
        .where('device_id', '=', deviceId),
    );
    this.putDeviceQuery = prepared(
      db,
      (
        tenantId: string,
        hubKey: string,
        deviceId: string,
        createdAt: string,
        doc: string,
        etag: string,
        updatedAt: string,
        certSha256: string | null,
        enrollmentKey: string,
      ) => {
        const values = {
          doc,
          etag,
          updated_at: updatedAt,
          cert_sha256: certSha256,
          enrollment_key: enrollmentKey,
        };
        return db
          .insertInto('devices')
          .values({
            tenant_id: tenantId,
            hub_key: hubKey,
            device_id: deviceId,
            created_at: createdAt,
            ...values,
          })
          .onConflict((oc) => oc.columns(['tenant_id', 'hub_key', 'device_id']).doUpdateSet(values));
      },
    );
  }

  async findDevice(tenantId: string, hub: string, deviceId: string): Promise<RegistryDevice | undefined> {
    const r = (await this.findDeviceQuery(tenantId, idKey(hub), deviceId)).rows[0];
    return r ? (JSON.parse(r.doc) as RegistryDevice) : undefined;
  }

  async putDevice(tenantId: string, d: RegistryDevice): Promise<void> {
    await this.putDeviceQuery(
      tenantId,
      idKey(d.hub),
      d.deviceId,
      d.createdDateTimeUtc,
      JSON.stringify(d),
      d.etag,
      d.lastUpdatedDateTimeUtc,
      d.certificate?.sha256Thumbprint ?? null,
      enrollmentKey(d.enrollment.kind, d.enrollment.id),
    );
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
    const { limit, after: from } = pageArgs(max, continuation);
    let q = this.db
      .selectFrom('devices')
      .select(['doc', 'hub_key', 'device_id'])
      .where('tenant_id', '=', tenantId);
    if (hub) q = q.where('hub_key', '=', idKey(hub));
    if (from) q = q.where(after(['hub_key', 'device_id'], from));
    const rows = await q
      .orderBy('hub_key')
      .orderBy('device_id')
      .limit(limit + 1)
      .execute();
    return pageOf(
      rows,
      limit,
      (r) => [r.hub_key, r.device_id],
      (r) => JSON.parse(r.doc) as RegistryDevice,
    );
  }

  async devicesWithCertificate(tenantId: string, sha256: string): Promise<RegistryDevice[]> {
    const rows = await this.db
      .selectFrom('devices')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('cert_sha256', '=', sha256.toUpperCase())
      .limit(100)
      .execute();
    return rows.map((r) => JSON.parse(r.doc) as RegistryDevice);
  }

  async devicesOfEnrollment(
    tenantId: string,
    kind: 'individual' | 'group',
    id: string,
    limit: number,
    after?: { hubKey: string; deviceId: string },
  ): Promise<RegistryDevice[]> {
    let q = this.db
      .selectFrom('devices')
      .select('doc')
      .where('tenant_id', '=', tenantId)
      .where('enrollment_key', '=', enrollmentKey(kind, id));
    if (after)
      q = q.where((eb) =>
        eb.or([
          eb('hub_key', '>', after.hubKey),
          eb.and([eb('hub_key', '=', after.hubKey), eb('device_id', '>', after.deviceId)]),
        ]),
      );
    const rows = await q.orderBy('hub_key').orderBy('device_id').limit(limit).execute();
    return rows.map((r) => JSON.parse(r.doc) as RegistryDevice);
  }
}
