/** Linked IoT hubs of a tenant: where allocation policies may put devices. */
import { unmasked } from '../masked-secret.ts';
import { ZtError } from '../../errors.ts';
import type { HubStore } from './store.ts';
import type { HubSettings, LinkedHub } from './types.ts';

/** How answers show a stored password or secret. */

/** Links, lists and unlinks hubs. */
export class HubService {
  private readonly store: HubStore;

  constructor(store: HubStore) {
    this.store = store;
  }

  /**
   * Links a hub (or updates its region, weight, policy flag and kind). A mosquitto hub needs
   * `mosquitto` settings and a webhook hub `webhook` settings; a password or secret given as
   * ******** (as answers show it) keeps the stored one.
   */
  async link(tenantId: string, hostName: string, settings: HubSettings = {}): Promise<LinkedHub> {
    const prev = await this.store.findHub(tenantId, hostName);
    const kind = settings.kind ?? 'record';
    const hub: LinkedHub = {
      hostName,
      kind,
      region: settings.region ?? '',
      allocationWeight: settings.allocationWeight ?? 1,
      applyAllocationPolicy: settings.applyAllocationPolicy ?? true,
    };
    if (kind === 'mosquitto') {
      const m = settings.mosquitto ?? prev?.mosquitto;
      if (!m)
        throw new ZtError(
          'BAD_REQUEST',
          'a mosquitto hub needs mosquitto.url, mosquitto.username and mosquitto.password: the broker listener and the dynamic-security admin client zerotouch manages it with',
        );
      const password = unmasked(m.password, prev?.mosquitto?.password);
      if (password === undefined)
        throw new ZtError(
          'BAD_REQUEST',
          'mosquitto.password is ******** but no password is stored; give the password',
        );
      hub.mosquitto = { ...m, password };
    } else if (settings.mosquitto) {
      throw new ZtError('BAD_REQUEST', `mosquitto settings belong to a hub of kind mosquitto, not ${kind}`);
    }
    if (kind === 'webhook') {
      const w = settings.webhook ?? prev?.webhook;
      if (!w)
        throw new ZtError('BAD_REQUEST', 'a webhook hub needs webhook.url: where device changes are POSTed');
      const secret = unmasked(w.secret, prev?.webhook?.secret);
      hub.webhook = { url: w.url, ...(secret ? { secret } : {}) };
    } else if (settings.webhook) {
      throw new ZtError('BAD_REQUEST', `webhook settings belong to a hub of kind webhook, not ${kind}`);
    }
    await this.store.upsertHub(tenantId, hub, new Date().toISOString());
    return hub;
  }

  /** The hub, or NOT_FOUND. */
  async get(tenantId: string, hostName: string): Promise<LinkedHub> {
    const hub = await this.store.findHub(tenantId, hostName);
    if (!hub) throw new ZtError('NOT_FOUND', `hub ${hostName} is not linked to this scope`);
    return hub;
  }

  /** The hub, or undefined. */
  find(tenantId: string, hostName: string): Promise<LinkedHub | undefined> {
    return this.store.findHub(tenantId, hostName);
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
