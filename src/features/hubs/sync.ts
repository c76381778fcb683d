/**
 * Keeps external hubs in step with the registry. A device belongs on its hub while its registry
 * record exists and is enabled and its enrollment exists and is enabled. Every change that can
 * alter that (assignment, reprovisioning elsewhere, disable, revocation, deletion, an enrollment
 * disabled, deleted or given another ACL) goes through the outbox, so it survives a restart and
 * a broker that is down: a mosquitto hub gets the device's client and role created or removed
 * through the dynamic-security plugin; a webhook hub gets the device's state POSTed. Both
 * describe the state at delivery or enqueue time, so a retried message cannot undo a later one
 * (webhook receivers order messages by `changedAt`).
 */
import type { Logger } from 'pino';
import { ZtError } from '../../errors.ts';
import type { EnrollmentChange } from '../enrollments/service.ts';
import type { EnrollmentGroup, IndividualEnrollment } from '../enrollments/types.ts';
import { idKey } from '../id-key.ts';
import type { Outbox } from '../outbox/outbox.ts';
import type { DeviceChange, RegistryService } from '../registry/service.ts';
import type { RegistryDevice } from '../registry/types.ts';
import type { DynsecAcl, DynsecClient, DynsecConnector } from './dynsec.ts';
import type { HubService } from './service.ts';
import type { LinkedHub, MosquittoHub, MqttAclEntry, ReconcileReport } from './types.ts';

/** What a device of an enrollment without `mqttAcl` may do on a mosquitto hub. */
export const DEFAULT_MQTT_ACL: MqttAclEntry[] = [
  { acltype: 'publishClientSend', topic: 'devices/{deviceId}/#', allow: true },
  { acltype: 'subscribePattern', topic: 'devices/{deviceId}/#', allow: true },
  { acltype: 'publishClientReceive', topic: 'devices/{deviceId}/#', allow: true },
];

/** Where a device stands on its hub. */
export interface DesiredState {
  present: boolean;
  /** Why it is absent. */
  reason?: string;
  device?: RegistryDevice;
  acl: DynsecAcl[];
}

/** The outbox payload of a mosquitto change. */
interface MosquittoChange {
  hub: string;
  deviceId: string;
  registrationId: string;
}

const HANDLER = 'mosquitto-hub';
const PAGE = 500;

/** The device's ACL with {deviceId} and {registrationId} filled in, in the plugin's shape. */
export function aclFor(
  entries: MqttAclEntry[] | undefined,
  deviceId: string,
  registrationId: string,
): DynsecAcl[] {
  return (entries ?? DEFAULT_MQTT_ACL).map((e) => ({
    acltype: e.acltype,
    topic: e.topic.replaceAll('{deviceId}', deviceId).replaceAll('{registrationId}', registrationId),
    allow: e.allow,
    priority: e.priority ?? 0,
  }));
}

const aclKey = (acls: DynsecAcl[]) =>
  acls
    .map((a) => `${a.acltype} ${a.topic} ${a.allow} ${a.priority ?? 0}`)
    .sort()
    .join('\n');

/** Keeps mosquitto and webhook hubs in step with the registry. */
export class HubSync {
  private readonly hubs: HubService;
  private readonly registry: RegistryService;
  private readonly enrollment: (
    tenantId: string,
    kind: 'individual' | 'group',
    id: string,
  ) => Promise<IndividualEnrollment | EnrollmentGroup | undefined>;
  private readonly outbox: Outbox;
  private readonly log: Logger;
  private readonly admins = new Map<string, { config: string; admin: DynsecClient }>();
  private readonly connect: DynsecConnector;

  constructor(o: {
    hubs: HubService;
    registry: RegistryService;
    enrollment: HubSync['enrollment'];
    outbox: Outbox;
    logger: Logger;
    /** How to reach a broker (the MQTT transport's client). */
    connect: DynsecConnector;
  }) {
    this.connect = o.connect;
    this.hubs = o.hubs;
    this.registry = o.registry;
    this.enrollment = o.enrollment;
    this.outbox = o.outbox;
    this.log = o.logger;
    this.outbox.handle(HANDLER, (tenantId, payload) =>
      this.applyMosquitto(tenantId, payload as MosquittoChange),
    );
  }

  /** A device changed: queues the change for its hub when the hub is external. */
  async deviceChanged(c: DeviceChange): Promise<void> {
    const hub = c.linkedHub ?? (await this.hubs.find(c.tenantId, c.hub));
    if (!hub) return;
    if (hub.kind === 'mosquitto') {
      const change: MosquittoChange = {
        hub: hub.hostName,
        deviceId: c.deviceId,
        registrationId: c.registrationId,
      };
      await this.outbox.enqueue(c.tenantId, `hub.mosquitto.${c.deviceId}`, change, [
        { handler: HANDLER, label: `mosquitto://${hub.hostName}` },
      ]);
    } else if (hub.kind === 'webhook' && hub.webhook) {
      const s = await this.desired(c.tenantId, hub, c.deviceId, c.registrationId);
      await this.outbox.enqueue(
        c.tenantId,
        s.present ? 'hub.device.present' : 'hub.device.absent',
        {
          hub: hub.hostName,
          deviceId: c.deviceId,
          registrationId: c.registrationId,
          present: s.present,
          ...(s.reason ? { reason: s.reason } : {}),
          ...(s.device ? { device: s.device } : {}),
          ...(s.present ? { mqttAcl: s.acl } : {}),
          changedAt: new Date().toISOString(),
        },
        [hub.webhook],
      );
    }
  }

  /** An enrollment changed: queues its devices when its status or ACL changed or it was deleted. */
  async enrollmentChanged(c: EnrollmentChange): Promise<void> {
    const relevant =
      !c.after ||
      c.before?.provisioningStatus !== c.after.provisioningStatus ||
      JSON.stringify(c.before?.mqttAcl) !== JSON.stringify(c.after.mqttAcl);
    if (!relevant || !c.before) return;
    const external = (await this.hubs.list(c.tenantId)).some(
      (h) => h.kind === 'mosquitto' || h.kind === 'webhook',
    );
    if (!external) return;
    let after: RegistryDevice | undefined;
    for (;;) {
      const page = await this.registry.devicesOfEnrollment(c.tenantId, c.kind, c.id, PAGE, after);
      for (const d of page)
        await this.deviceChanged({
          tenantId: c.tenantId,
          hub: d.hub,
          deviceId: d.deviceId,
          registrationId: d.registrationId,
          what: 'status',
        });
      if (page.length < PAGE) return;
      after = page[page.length - 1];
    }
  }

  /** Whether the device belongs on the hub now, and with which ACL. */
  async desired(
    tenantId: string,
    hub: LinkedHub,
    deviceId: string,
    registrationId: string,
    known?: RegistryDevice,
  ): Promise<DesiredState> {
    const d = known ?? (await this.registry.find(tenantId, hub.hostName, deviceId));
    if (!d) return { present: false, reason: 'the device is not in the hub registry', acl: [] };
    if (d.status !== 'enabled')
      return { present: false, device: d, reason: d.statusReason ?? 'the device is disabled', acl: [] };
    const e = await this.enrollment(tenantId, d.enrollment.kind, d.enrollment.id);
    if (!e)
      return {
        present: false,
        device: d,
        reason: `its ${d.enrollment.kind} enrollment was deleted`,
        acl: [],
      };
    if (e.provisioningStatus !== 'enabled')
      return {
        present: false,
        device: d,
        reason: `its ${d.enrollment.kind} enrollment is disabled`,
        acl: [],
      };
    return { present: true, device: d, acl: aclFor(e.mqttAcl, deviceId, d.registrationId || registrationId) };
  }

  /** Applies one queued change to a mosquitto broker (the outbox retries it when this throws). */
  async applyMosquitto(tenantId: string, c: MosquittoChange): Promise<void> {
    const hub = await this.hubs.find(tenantId, c.hub);
    // Unlinked or no longer a mosquitto hub: nothing to keep in step.
    if (!hub?.mosquitto || hub.kind !== 'mosquitto') return;
    const admin = this.adminFor(tenantId, hub.hostName, hub.mosquitto);
    const s = await this.desired(tenantId, hub, c.deviceId, c.registrationId);
    const names = this.names(tenantId, hub.hostName, c.deviceId);
    if (s.present) await this.ensureClient(admin, c.registrationId, names, s.acl);
    else await this.removeClient(admin, c.registrationId, names);
    this.log.info(
      { hub: hub.hostName, deviceId: c.deviceId, present: s.present, reason: s.reason },
      s.present ? 'mosquitto client and role in place' : 'mosquitto client and role removed',
    );
  }

  /**
   * Compares the broker with the registry and, unless `dryRun`, fixes what differs: missing or
   * changed clients and roles are written, clients zerotouch made for devices that no longer
   * belong are removed. Clients zerotouch did not make are never touched.
   */
  async reconcile(tenantId: string, hostName: string, dryRun = false): Promise<ReconcileReport> {
    const hub = await this.hubs.get(tenantId, hostName);
    if (hub.kind !== 'mosquitto' || !hub.mosquitto)
      throw new ZtError(
        'BAD_REQUEST',
        `hub ${hostName} is of kind ${hub.kind}; only mosquitto hubs are reconciled`,
      );
    const admin = this.adminFor(tenantId, hub.hostName, hub.mosquitto);
    const report: ReconcileReport = {
      hub: hub.hostName,
      dryRun,
      created: [],
      updated: [],
      removed: [],
      unchanged: 0,
      conflicts: [],
    };
    const clients = await listAll<{
      username: string;
      textname?: string;
      roles?: Array<{ rolename: string }>;
    }>(admin, 'listClients', 'clients');
    const roles = new Map(
      (await listAll<{ rolename: string; acls?: DynsecAcl[] }>(admin, 'listRoles', 'roles')).map((r) => [
        r.rolename,
        r.acls ?? [],
      ]),
    );
    const marker = this.marker(tenantId, hub.hostName);
    const onBroker = new Map(clients.map((c) => [c.username, c]));
    const wanted = new Set<string>();
    let continuation: string | undefined;
    do {
      const page = await this.registry.list(tenantId, hub.hostName, PAGE, continuation);
      for (const d of page.items) {
        const s = await this.desired(tenantId, hub, d.deviceId, d.registrationId, d);
        if (!s.present) continue;
        const username = d.registrationId;
        wanted.add(username);
        const names = this.names(tenantId, hub.hostName, d.deviceId);
        const have = onBroker.get(username);
        if (have && !have.textname?.startsWith(marker)) {
          report.conflicts.push(username);
          continue;
        }
        const sameRole = have?.roles?.some((r) => r.rolename === names.role);
        const roleAcl = roles.get(names.role);
        if (have && sameRole && roleAcl && aclKey(roleAcl) === aclKey(s.acl)) {
          report.unchanged++;
          continue;
        }
        (have ? report.updated : report.created).push(username);
        if (!dryRun) await this.ensureClient(admin, username, names, s.acl);
      }
      continuation = page.continuation;
    } while (continuation);
    for (const c of clients) {
      if (!c.textname?.startsWith(marker) || wanted.has(c.username)) continue;
      report.removed.push(c.username);
      if (!dryRun) {
        await admin.one({ command: 'deleteClient', username: c.username }, ['Client not found']);
        for (const r of c.roles ?? [])
          if (r.rolename.startsWith(this.rolePrefix(tenantId)))
            await admin.one({ command: 'deleteRole', rolename: r.rolename }, ['Role not found']);
      }
    }
    return report;
  }

  /** Closes the broker connections. */
  async close(): Promise<void> {
    const all = [...this.admins.values()];
    this.admins.clear();
    await Promise.all(all.map((a) => a.admin.close()));
  }

  private rolePrefix(tenantId: string): string {
    return `zerotouch/${tenantId}/`;
  }

  /** The textname that marks a client zerotouch manages for this scope and hub. */
  private marker(tenantId: string, hub: string): string {
    return `zerotouch ${tenantId} ${idKey(hub)} `;
  }

  private names(tenantId: string, hub: string, deviceId: string) {
    return {
      role: `${this.rolePrefix(tenantId)}${deviceId}`,
      textname: `${this.marker(tenantId, hub)}${deviceId}`,
    };
  }

  private adminFor(tenantId: string, hub: string, cfg: MosquittoHub): DynsecClient {
    const key = `${tenantId}/${idKey(hub)}`;
    const config = JSON.stringify(cfg);
    const have = this.admins.get(key);
    if (have?.config === config) return have.admin;
    void have?.admin.close();
    const admin = this.connect(cfg);
    this.admins.set(key, { config, admin });
    return admin;
  }

  /** Creates or corrects the device's role and client. */
  private async ensureClient(
    admin: DynsecClient,
    username: string,
    names: { role: string; textname: string },
    acls: DynsecAcl[],
  ): Promise<void> {
    const existing = await admin.one({ command: 'getClient', username }, ['Client not found']);
    const client = (existing.data as { client?: { textname?: string; roles?: Array<{ rolename: string }> } })
      ?.client;
    if (client && client.textname !== names.textname)
      throw new ZtError(
        'HUB_UNREACHABLE',
        `the broker has a client "${username}" that zerotouch did not make (textname "${client.textname ?? ''}"); delete it with mosquitto_ctrl so zerotouch can manage the device`,
      );
    const role = await admin.one({ command: 'createRole', rolename: names.role, acls }, [
      'Role already exists',
    ]);
    if (role.error) {
      const got = await admin.one({ command: 'getRole', rolename: names.role });
      const current = (got.data as { role?: { acls?: DynsecAcl[] } })?.role?.acls ?? [];
      if (aclKey(current) !== aclKey(acls)) {
        await admin.run([
          ...current.map((a) => ({
            command: 'removeRoleACL',
            rolename: names.role,
            acltype: a.acltype,
            topic: a.topic,
          })),
          ...acls.map((a) => ({ command: 'addRoleACL', rolename: names.role, ...a })),
        ]);
      }
    }
    if (!client) {
      await admin.one({
        command: 'createClient',
        username,
        textname: names.textname,
        roles: [{ rolename: names.role }],
      });
    } else if (!client.roles?.some((r) => r.rolename === names.role)) {
      await admin.one({ command: 'addClientRole', username, rolename: names.role });
    }
  }

  /** Removes the device's client and role, if zerotouch made them. */
  private async removeClient(
    admin: DynsecClient,
    username: string,
    names: { role: string; textname: string },
  ): Promise<void> {
    const existing = await admin.one({ command: 'getClient', username }, ['Client not found']);
    const client = (existing.data as { client?: { textname?: string } })?.client;
    if (client && client.textname !== names.textname) {
      this.log.warn({ username }, 'a broker client of this name was not made by zerotouch; left in place');
    } else if (client) {
      await admin.one({ command: 'deleteClient', username }, ['Client not found']);
    }
    await admin.one({ command: 'deleteRole', rolename: names.role }, ['Role not found']);
  }
}

/** Every entry of a paged verbose list command. */
async function listAll<T>(admin: DynsecClient, command: string, field: string): Promise<T[]> {
  const out: T[] = [];
  for (let offset = 0; ; offset += 1000) {
    const r = await admin.one({ command, verbose: true, count: 1000, offset });
    const data = r.data as Record<string, unknown> & { totalCount?: number };
    const items = (data?.[field] as T[] | undefined) ?? [];
    out.push(...items);
    if (items.length < 1000) return out;
  }
}
