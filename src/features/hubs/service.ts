/** Linked IoT hubs of a tenant: where allocation policies may put devices. */
import { ZtError } from '../../errors.ts';
import type { HubStore } from './store.ts';
import type { HubSettings, LinkedHub } from './types.ts';

/** Links, lists and unlinks hubs. */
export class HubService {
  private readonly store: HubStore;

  constructor(store: HubStore) {
    this.store = store;
  }

  /** Links a hub (or updates its region, weight and policy flag). */
  async link(tenantId: string, hostName: string, settings: HubSettings = {}): Promise<LinkedHub> {
    const hub: LinkedHub = {
      hostName,
      kind: settings.kind ?? 'record',
      region: settings.region ?? '',
      allocationWeight: settings.allocationWeight ?? 1,
      applyAllocationPolicy: settings.applyAllocationPolicy ?? true,
    };
    await this.store.upsertHub(tenantId, hub, new Date().toISOString());
    return hub;
  }

  /** Builtin hubs named `hostName` in any scope (a device connecting to this server names its hub). */
  builtinScopes(hostName: string): Promise<string[]> {
    return this.store.builtinScopes(hostName);
  }

  /** The linked hubs, by host name. */
  list(tenantId: string): Promise<LinkedHub[]> {
    return this.store.listHubs(tenantId);
  }

  /** Unlinks a hub, or NOT_FOUND. */
  async unlink(tenantId: string, hostName: string): Promise<void> {
    if (!(await this.store.deleteHub(tenantId, hostName))) {
      throw new ZtError('NOT_FOUND', `hub ${hostName} is not linked to this scope`);
    }
  }
}
