/**
 * The services of every feature, built over one database. The composition root (server.ts)
 * creates them once and hands them to the transports; nothing else wires features together.
 */
import type { Kysely } from 'kysely';
import { isZtError } from './errors.ts';
import type { Logger } from 'pino';
import { AccessPolicyService, type SasRules } from './features/access-policies/service.ts';
import { KyselyAccessPolicyStore } from './features/access-policies/store.ts';
import { CaService } from './features/cas/service.ts';
import { KyselyCaStore } from './features/cas/store.ts';
import { EnrollmentMatcher } from './features/enrollments/matching.ts';
import { EnrollmentService } from './features/enrollments/service.ts';
import { KyselyEnrollmentStore } from './features/enrollments/store.ts';
import { EstService } from './features/est/service.ts';
import { KyselyEstStore } from './features/est/store.ts';
import { BuiltinHub } from './features/hubs/builtin.ts';
import { HubService } from './features/hubs/service.ts';
import { KyselyHubStore } from './features/hubs/store.ts';
import type { DynsecConnector } from './features/hubs/dynsec.ts';
import { HubSync } from './features/hubs/sync.ts';
import { AuditTrail } from './features/audit/service.ts';
import { AuditStore } from './features/audit/store.ts';
import type { AuditInput } from './features/audit/types.ts';
import { IssuanceEngine } from './features/issuance/engine.ts';
import { KyselyIssuanceStore } from './features/issuance/store.ts';
import { RegistrationService } from './features/provisioning/service.ts';
import { KyselyRegistrationStore } from './features/provisioning/store.ts';
import { changeFields, RegistryService } from './features/registry/service.ts';
import { KyselyDeviceStore } from './features/registry/store.ts';
import { AwsKeyService } from './features/aws-keys/service.ts';
import { AwsIssuance } from './features/iot/aws-issuance.ts';
import { CaRegistrations } from './features/iot/ca-registration.ts';
import { DeviceGateway, type GatewayMetrics } from './features/iot/gateway.ts';
import { ProvisioningTemplates } from './features/iot/provisioning-templates.ts';
import { IotRegistry } from './features/iot/registry.ts';
import { IotStore } from './features/iot/store.ts';
import { Outbox } from './features/outbox/outbox.ts';
import { TenantService } from './features/tenants/service.ts';
import { KyselyTenantStore } from './features/tenants/store.ts';
import type { Database } from './store/schema.ts';

/** Every service a transport may call. */
export interface Services {
  tenants: TenantService;
  cas: CaService;
  hubs: HubService;
  /** The builtin hub: the IoT Hub device protocol for devices assigned to builtin hubs. */
  builtinHub: BuiltinHub;
  enrollments: EnrollmentService;
  registrations: RegistrationService;
  registry: RegistryService;
  policies: AccessPolicyService;
  issuance: IssuanceEngine;
  est: EstService;
  /** The AWS IoT-shaped registry, CA registrations for JITP/JITR, templates, the device gateway. */
  iot: {
    registry: IotRegistry;
    templates: ProvisioningTemplates;
    cas: CaRegistrations;
    gateway: DeviceGateway;
    issuance: AwsIssuance;
  };
  /** Webhook messages, stored first and delivered with retries. */
  outbox: Outbox;
  /** Keeps mosquitto and webhook hubs in step with the registry. */
  hubSync: HubSync;
  /** AWS access keys of scopes (the AWS IoT control-plane face). */
  awsKeys: AwsKeyService;
  /** The append-only audit trail; its event actions also go to the scope's webhooks. */
  audit: AuditTrail;
}

export interface ServiceOptions {
  logger: Logger;
  /** Seconds devices are told to wait between polls. */
  retryAfterSeconds: number;
  /** Region assumed for DPS requests that name none (geoLatency). */
  defaultRegion?: string;
  /** What SAS tokens of the service API must be bound to. */
  sas: SasRules;
  /** The issuing CAs' key passphrase. */
  passphrase: string;
  /** Base URL of CRL distribution points (known once the device listener is bound). */
  crlBaseUrl: () => string;
  fetch?: typeof fetch;
  /** Where the device gateway counts what happens. */
  gatewayMetrics?: GatewayMetrics;
  /** Longest wait between two delivery attempts of an outbox message (default an hour). */
  outboxMaxRetrySeconds?: number;
  /** Sees every audit record (the metrics count them). */
  observeAudit?: (e: AuditInput) => void;
  /** How mosquitto hubs are reached (the MQTT transport's dynamic-security client). */
  dynsec: DynsecConnector;
}

/** Builds every service over `db`. */
export function createServices(db: Kysely<Database>, o: ServiceOptions): Services {
  const tenants = new TenantService(new KyselyTenantStore(db));
  const cas = new CaService(new KyselyCaStore(db));
  const hubs = new HubService(new KyselyHubStore(db));
  const enrollmentStore = new KyselyEnrollmentStore(db);
  const registry = new RegistryService(new KyselyDeviceStore(db));
  const issuance = new IssuanceEngine(new KyselyIssuanceStore(db), {
    passphrase: o.passphrase,
    crlBaseUrl: o.crlBaseUrl,
  });
  const outbox = new Outbox(db, {
    logger: o.logger.child({ feature: 'outbox' }),
    fetch: o.fetch,
    maxRetrySeconds: o.outboxMaxRetrySeconds,
  });
  const iotStore = new IotStore(db);
  const iotRegistry = new IotRegistry(iotStore);
  const audit = new AuditTrail(new AuditStore(db), {
    logger: o.logger.child({ feature: 'audit' }),
    observe: o.observeAudit,
    // Events go to the scope's event webhooks through the outbox.
    events: (tenantId, action, record) =>
      void iotRegistry
        .settings(tenantId)
        .then((s) => outbox.enqueue(tenantId, action, record, s.eventWebhooks))
        .catch((e: unknown) =>
          o.logger.error({ err: e, action }, 'an event could not be stored for its webhooks'),
        ),
  });
  const registrations = new RegistrationService(
    {
      store: new KyselyRegistrationStore(db),
      tenants,
      matcher: new EnrollmentMatcher(enrollmentStore, cas),
      hubs,
      registry,
      audit,
    },
    {
      logger: o.logger.child({ feature: 'dps' }),
      retryAfterSeconds: o.retryAfterSeconds,
      defaultRegion: o.defaultRegion,
      issuer: issuance,
      fetch: o.fetch,
    },
  );
  const templates = new ProvisioningTemplates(iotStore, iotRegistry);
  const caRegistrations = new CaRegistrations(cas, iotRegistry, templates);
  const gateway = new DeviceGateway({
    registry: iotRegistry,
    cas,
    registrations: caRegistrations,
    logger: o.logger.child({ feature: 'iot' }),
    fetch: o.fetch,
    metrics: o.gatewayMetrics,
    audit,
  });
  // Gateway events also go to the scope's webhooks, through the outbox.
  gateway.addSink({
    publish(tenantId, topic, payload) {
      void iotRegistry
        .settings(tenantId)
        .then((s) => outbox.enqueue(tenantId, topic, payload, s.eventWebhooks))
        .catch((e: unknown) =>
          o.logger.error({ err: e, topic }, 'an event could not be stored for its webhooks'),
        );
    },
  });
  const enrollments = new EnrollmentService(enrollmentStore, hubs, cas);
  const hubSync = new HubSync({
    hubs,
    registry,
    enrollment: (tenantId, kind, id) => enrollments.find(tenantId, kind, id),
    outbox,
    logger: o.logger.child({ feature: 'hubs' }),
    connect: o.dynsec,
  });
  const hubLog = o.logger.child({ feature: 'hubs' });
  // A change that cannot be queued is logged; `zerotouch hub reconcile` repairs the broker after.
  registry.onChange((c) =>
    hubSync.deviceChanged(c).catch((e: unknown) =>
      // An outage of the store is expected and reported elsewhere; anything else is a bug.
      hubLog[isZtError(e, 'STORE_UNAVAILABLE') ? 'warn' : 'error'](
        { err: e, ...changeFields(c) },
        'a device change could not be queued for its hub; zerotouch hub reconcile repairs the broker',
      ),
    ),
  );
  enrollments.onChange(
    (c) =>
      void hubSync
        .enrollmentChanged(c)
        .catch((e: unknown) =>
          hubLog.error({ err: e, enrollment: c.id }, 'an enrollment change could not be queued for its hubs'),
        ),
  );
  // A revoked certificate disables the devices that use it, on every kind of hub.
  // The revocation is stored by then: a failure here is logged (the builtin hub checks issuer and
  // serial at connect too), never turned into an error answer for a revocation that happened.
  issuance.onRevoked((tenantId, record) =>
    registry
      .disableCertificate(tenantId, record.sha256Thumbprint)
      .catch((e: unknown) =>
        hubLog.error(
          { err: e, serial: record.serialNumber },
          'devices of a revoked certificate could not be disabled',
        ),
      ),
  );
  issuance.onRevoked(async (tenantId, record) =>
    audit.note({
      tenantId,
      action: 'certificate.revoked',
      target: `certificate/${record.serialNumber}`,
      detail: { subject: record.subject, issuingCa: record.issuingCa, reason: record.revocationReason },
    }),
  );
  issuance.onIssued((tenantId, record) =>
    audit.note({
      tenantId,
      action: record.method === 'est-simplereenroll' ? 'certificate.renewed' : 'certificate.issued',
      target: `certificate/${record.serialNumber}`,
      detail: {
        subject: record.subject,
        issuingCa: record.issuingCa,
        method: record.method,
        requester: record.requester,
        notAfter: record.notAfterUtc,
        sha256: record.sha256Thumbprint,
      },
    }),
  );
  enrollments.onChange((c) =>
    audit.note({
      tenantId: c.tenantId,
      action: 'enrollment.changed',
      target: `${c.kind === 'group' ? 'enrollment-group' : 'enrollment'}/${c.id}`,
      detail: {
        change: !c.before ? 'created' : c.after ? 'updated' : 'deleted',
        before: c.before,
        after: c.after,
      },
    }),
  );
  const builtinHub = new BuiltinHub(
    hubs,
    registry,
    (tenantId, kind, message) => {
      void iotRegistry
        .settings(tenantId)
        .then((s) => outbox.enqueue(tenantId, kind, message, s.eventWebhooks))
        .catch((e: unknown) =>
          o.logger.error({ err: e, kind }, 'a device message could not be stored for its webhooks'),
        );
    },
    issuance,
  );
  registry.onChange(async (c) => {
    if (c.what === 'assigned') return;
    await builtinHub
      .deviceChanged(c)
      .catch((e: unknown) => hubLog.warn({ err: e, ...changeFields(c) }, 'builtin hub check failed'));
  });
  return {
    audit,
    hubSync,
    builtinHub,
    awsKeys: new AwsKeyService(db, o.passphrase),
    outbox,
    iot: {
      registry: iotRegistry,
      templates,
      cas: caRegistrations,
      gateway,
      issuance: new AwsIssuance(issuance, iotRegistry),
    },
    tenants,
    cas,
    hubs,
    enrollments,
    registrations,
    registry,
    policies: new AccessPolicyService(new KyselyAccessPolicyStore(db), o.sas),
    issuance,
    est: new EstService(new KyselyEstStore(db), issuance, tenants, cas, audit),
  };
}
