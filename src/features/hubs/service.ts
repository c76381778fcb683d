/** Linked IoT hubs of a tenant: where allocation policies may put devices. */
import { ZtError } from '../../errors.ts';
import type { HubStore } from './store.ts';
import type { LinkedHub } from './types.ts';

const HOST_RE =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** Links, lists and unlinks hubs. */
export class HubService {
  private readonly store: HubStore;

  constructor(store: HubStore) {
    this.store = store;
  }

  /** Links a hub (or updates its region, weight and policy flag). */
  async link(
    tenantId: string,
    input: { hostName: string; region?: string; allocationWeight?: number; applyAllocationPolicy?: boolean },
  ): Promise<LinkedHub> {
    if (!HOST_RE.test(input.hostName)) {
      throw new ZtError(
        'BAD_REQUEST',
        `hub host name "${input.hostName}" is not a valid DNS name, e.g. hub-1.example.com`,
      );
    }
    const weight = input.allocationWeight ?? 1;
    if (!Number.isInteger(weight) || weight < 1 || weight > 1000) {
      throw new ZtError('BAD_REQUEST', 'allocationWeight must be a whole number from 1 to 1000');
    }
    const hub: LinkedHub = {
      hostName: input.hostName,
      region: input.region ?? '',
      allocationWeight: weight,
      applyAllocationPolicy: input.applyAllocationPolicy ?? true,
    };
    await this.store.upsertHub(tenantId, hub, new Date().toISOString());
    return hub;
  }

  list(tenantId: string): Promise<LinkedHub[]> {
    return this.store.listHubs(tenantId);
  }

  async unlink(tenantId: string, hostName: string): Promise<void> {
    if (!(await this.store.deleteHub(tenantId, hostName))) {
      throw new ZtError('NOT_FOUND', `hub ${hostName} is not linked to this scope`);
    }
  }
}
