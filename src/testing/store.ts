/** Helpers for store contract suites: fresh tenants to hang rows on. */
import { TenantService } from '../features/tenants/service.ts';
import { KyselyTenantStore } from '../features/tenants/store.ts';
import type { Store } from '../store/database.ts';

let n = 0;

/** Creates a tenant in `store` and returns its id and a way to delete it again. */
export async function newTenant(
  store: Store,
): Promise<{ id: string; idScope: string; remove: () => Promise<void> }> {
  const tenants = new TenantService(new KyselyTenantStore(store.db));
  const t = await tenants.createTenant({ name: `contract ${++n}` });
  return { id: t.id, idScope: t.idScope, remove: () => tenants.deleteTenant(t.id) };
}
