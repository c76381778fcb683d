/** Builds the DPS feature's services over one store. */
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../../store/schema.ts';
import type { TenantService } from '../tenants/service.ts';
import { AccessPolicyService, type SasRules } from './access-policies.ts';
import { CaService } from './cas.ts';
import { EnrollmentService } from './enrollments.ts';
import { HubService } from './hubs.ts';
import { type RegistrationOptions, RegistrationService } from './registrations.ts';
import { RegistryService } from './registry.ts';
import { DpsStore } from './store.ts';

export interface DpsServices {
  store: DpsStore;
  cas: CaService;
  hubs: HubService;
  enrollments: EnrollmentService;
  registrations: RegistrationService;
  registry: RegistryService;
  policies: AccessPolicyService;
  /** Revocation check (and csr issuance), when the issuance feature is wired in. */
  issuer?: RegistrationOptions['issuer'];
}

/** Wires the DPS services together. */
export function createDpsServices(
  db: Kysely<Database>,
  tenants: TenantService,
  opts: RegistrationOptions & { sas?: SasRules },
): DpsServices {
  const store = new DpsStore(db);
  return {
    store,
    cas: new CaService(store),
    hubs: new HubService(store),
    enrollments: new EnrollmentService(store),
    registrations: new RegistrationService(store, tenants, opts),
    registry: new RegistryService(store),
    policies: new AccessPolicyService(store, opts.sas),
    issuer: opts.issuer,
  };
}
