/**
 * The hub-side registry: what an assignment does to devices. A first assignment creates the
 * device seeded from the initial twin; reprovisioning to another hub migrates or resets its data
 * and removes the old record, as the enrollment's reprovisionPolicy says.
 */
import { ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import type { Page } from '../../store/paging.ts';
import type { Match } from '../enrollments/matching.ts';
import type { InitialTwin, ReprovisionPolicy } from '../enrollments/types.ts';
import { newEtag } from '../etag.ts';
import type { LinkedHub } from '../hubs/types.ts';
import { idKey } from '../id-key.ts';
import { KeyedLock } from '../provisioning/keyed-lock.ts';
import type { Substatus } from '../provisioning/types.ts';
import type { DeviceStore } from './store.ts';
import type { RegistryDevice } from './types.ts';

export interface AssignmentChange {
  tenantId: string;
  match: Match;
  deviceId: string;
  hub: string;
  initialTwin?: InitialTwin;
  previous?: { hub: string; deviceId: string; substatus?: Substatus };
  /** The certificate issued during registration (CSR), which the device authenticates with from now on. */
  issued?: Certificate;
  /** The linked hub's record as the allocation read it, so listeners need not read it again. */
  linkedHub?: LinkedHub;
}

/** A device record created, changed in status, moved away or deleted. */
export interface DeviceChange {
  tenantId: string;
  hub: string;
  deviceId: string;
  registrationId: string;
  /** assigned here, moved to another hub or device id, status changed, or deleted. */
  what: 'assigned' | 'moved' | 'status' | 'deleted';
  /** The record of `hub` when the change already read it (an assignment). */
  linkedHub?: LinkedHub;
}
/** A change's fields for a log line: without the hub record, which holds the hub's password or secret. */
export function changeFields(c: DeviceChange): Omit<DeviceChange, 'linkedHub'> {
  const { linkedHub: _, ...fields } = c;
  return fields;
}

/** Told of a change after it is stored; it handles its own errors. */
export type DeviceListener = (c: DeviceChange) => Promise<void>;

/** statusReason of a device disabled because its certificate was revoked. */
export const REVOKED_REASON = 'certificate revoked';

function authenticationFor(m: Match): RegistryDevice['authentication'] {
  if (m.kind === 'group') return { type: 'certificateAuthority' };
  const cc = m.enrollment.attestation.x509?.clientCertificates;
  return {
    type: 'selfSigned',
    x509Thumbprint: {
      primaryThumbprint: cc?.primary?.info?.sha1Thumbprint ?? m.leaf.sha1,
      ...(cc?.secondary?.info ? { secondaryThumbprint: cc.secondary.info.sha1Thumbprint } : {}),
    },
  };
}

function seededTwin(t: InitialTwin | undefined): RegistryDevice['twin'] {
  return {
    tags: structuredClone(t?.tags ?? {}),
    properties: { desired: structuredClone(t?.properties?.desired ?? {}), reported: {} },
  };
}

/** Applies an assignment to the registry and returns the substatus DPS reports for it. */
async function applyAssignment(store: DeviceStore, c: AssignmentChange): Promise<Substatus> {
  const now = new Date().toISOString();
  const policy: ReprovisionPolicy = c.match.enrollment.reprovisionPolicy;
  const prev = c.previous;
  const prevDevice = prev ? await store.findDevice(c.tenantId, prev.hub, prev.deviceId) : undefined;
  const sameHub = prev && idKey(prev.hub) === idKey(c.hub) && prev.deviceId === c.deviceId;
  const existing = sameHub ? prevDevice : await store.findDevice(c.tenantId, c.hub, c.deviceId);

  let substatus: Substatus;
  let twin: RegistryDevice['twin'];
  if (!prev) {
    substatus = 'initialAssignment';
    twin = existing?.twin ?? seededTwin(c.initialTwin);
  } else if (sameHub) {
    // Kept on its hub by updateHubAssignment=false: DPS reports reprovisionedToInitialAssignment.
    // Re-landing on the same hub by allocation changes nothing, so the substatus stays.
    substatus = !policy.updateHubAssignment
      ? 'reprovisionedToInitialAssignment'
      : (prev.substatus ?? 'initialAssignment');
    twin = existing?.twin ?? seededTwin(c.initialTwin);
  } else if (policy.migrateDeviceData) {
    substatus = 'deviceDataMigrated';
    twin = prevDevice?.twin ?? existing?.twin ?? seededTwin(c.initialTwin);
  } else {
    substatus = 'deviceDataReset';
    twin = seededTwin(c.initialTwin);
  }

  const cert = c.issued ?? c.match.leaf;
  // An operator's disable survives re-registration; a revocation ends with a new certificate.
  const keepDisabled =
    existing?.status === 'disabled' &&
    (existing.statusReason !== REVOKED_REASON || existing.certificate?.sha256Thumbprint === cert.sha256);
  const device: RegistryDevice = {
    deviceId: c.deviceId,
    hub: c.hub,
    registrationId: c.match.registrationId,
    status: keepDisabled ? 'disabled' : 'enabled',
    ...(keepDisabled && existing.statusReason ? { statusReason: existing.statusReason } : {}),
    authentication: authenticationFor(c.match),
    capabilities: { iotEdge: c.match.enrollment.capabilities.iotEdge },
    twin,
    enrollment: {
      kind: c.match.kind,
      id: c.match.kind === 'group' ? c.match.enrollment.enrollmentGroupId : c.match.enrollment.registrationId,
    },
    certificate: {
      sha1Thumbprint: cert.sha1,
      sha256Thumbprint: cert.sha256,
      notAfterUtc: cert.notAfter.toISOString(),
    },
    etag: newEtag(),
    createdDateTimeUtc: existing?.createdDateTimeUtc ?? now,
    lastUpdatedDateTimeUtc: now,
  };
  await store.putDevice(c.tenantId, device);
  if (prev && !sameHub && prevDevice) await store.deleteDevice(c.tenantId, prev.hub, prev.deviceId);
  return substatus;
}

/** The registry: assignments write it, the management API reads and deletes devices. */
export class RegistryService {
  private readonly store: DeviceStore;
  private readonly lock = new KeyedLock();
  private readonly listeners: DeviceListener[] = [];

  constructor(store: DeviceStore) {
    this.store = store;
  }

  /** Calls `l` after each assignment, status change and deletion (not after twin or presence changes). */
  onChange(l: DeviceListener): void {
    this.listeners.push(l);
  }

  private async changed(c: DeviceChange): Promise<void> {
    for (const l of this.listeners) await l(c);
  }

  /** Applies an assignment and returns the substatus DPS reports for it. */
  async assign(c: AssignmentChange): Promise<Substatus> {
    const substatus = await applyAssignment(this.store, c);
    const { tenantId, registrationId } = { tenantId: c.tenantId, registrationId: c.match.registrationId };
    await this.changed({
      tenantId,
      registrationId,
      hub: c.hub,
      deviceId: c.deviceId,
      what: 'assigned',
      ...(c.linkedHub ? { linkedHub: c.linkedHub } : {}),
    });
    if (c.previous && (idKey(c.previous.hub) !== idKey(c.hub) || c.previous.deviceId !== c.deviceId))
      await this.changed({
        tenantId,
        registrationId,
        hub: c.previous.hub,
        deviceId: c.previous.deviceId,
        what: 'moved',
      });
    return substatus;
  }

  /** Enables or disables a device (a disabled device may not connect to its hub). */
  async setStatus(
    tenantId: string,
    hub: string,
    deviceId: string,
    status: 'enabled' | 'disabled',
    reason = 'disabled by the operator',
  ): Promise<RegistryDevice> {
    const d = await this.update(tenantId, hub, deviceId, (d) => {
      if (d.status === status) return undefined;
      d.status = status;
      if (status === 'disabled') d.statusReason = reason;
      else delete d.statusReason;
      return d;
    });
    await this.changed({
      tenantId,
      hub: d.hub,
      deviceId: d.deviceId,
      registrationId: d.registrationId,
      what: 'status',
    });
    return d;
  }

  /** Disables the devices that registered with the certificate of this SHA-256 (it was revoked). */
  async disableCertificate(tenantId: string, sha256: string): Promise<RegistryDevice[]> {
    const out: RegistryDevice[] = [];
    for (const d of await this.store.devicesWithCertificate(tenantId, sha256))
      out.push(await this.setStatus(tenantId, d.hub, d.deviceId, 'disabled', REVOKED_REASON));
    return out;
  }

  /** Up to `limit` devices an enrollment assigned, after `after` (paged by hub and device id). */
  devicesOfEnrollment(
    tenantId: string,
    kind: 'individual' | 'group',
    id: string,
    limit: number,
    after?: RegistryDevice,
  ): Promise<RegistryDevice[]> {
    return this.store.devicesOfEnrollment(
      tenantId,
      kind,
      id,
      limit,
      after ? { hubKey: idKey(after.hub), deviceId: after.deviceId } : undefined,
    );
  }

  /** A page of devices, optionally of one hub. */
  list(tenantId: string, hub?: string, max?: number, continuation?: string): Promise<Page<RegistryDevice>> {
    return this.store.listDevices(tenantId, hub, max, continuation);
  }

  /** The device, or NOT_FOUND. */
  async get(tenantId: string, hub: string, deviceId: string): Promise<RegistryDevice> {
    const d = await this.store.findDevice(tenantId, hub, deviceId);
    if (!d) throw new ZtError('NOT_FOUND', `no device "${deviceId}" in hub ${hub} of this scope`);
    return d;
  }

  /** The device, or undefined. */
  find(tenantId: string, hub: string, deviceId: string): Promise<RegistryDevice | undefined> {
    return this.store.findDevice(tenantId, hub, deviceId);
  }

  /**
   * Changes a device: `change` gets the current record and returns the new one (or undefined to
   * leave it); one change at a time per device in this process.
   */
  async update(
    tenantId: string,
    hub: string,
    deviceId: string,
    change: (d: RegistryDevice) => RegistryDevice | undefined,
  ): Promise<RegistryDevice> {
    return this.lock.run(`${tenantId}/${idKey(hub)}/${deviceId}`, async () => {
      const d = await this.get(tenantId, hub, deviceId);
      const next = change(structuredClone(d));
      if (!next) return d;
      next.etag = newEtag();
      next.lastUpdatedDateTimeUtc = new Date().toISOString();
      await this.store.putDevice(tenantId, next);
      return next;
    });
  }

  /** Deletes the device, or NOT_FOUND. */
  async delete(tenantId: string, hub: string, deviceId: string): Promise<void> {
    const d = await this.store.findDevice(tenantId, hub, deviceId);
    if (!d || !(await this.store.deleteDevice(tenantId, hub, deviceId))) {
      throw new ZtError('NOT_FOUND', `no device "${deviceId}" in hub ${hub} of this scope`);
    }
    await this.changed({ tenantId, hub: d.hub, deviceId, registrationId: d.registrationId, what: 'deleted' });
  }
}
