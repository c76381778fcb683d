/**
 * The data plane's decisions, independent of MQTT: which scope and CA a TLS client chain
 * belongs to (SNI, else the DEFAULT-mode CA that signed it), whether its certificate may
 * connect, JITP and JITR for a certificate seen for the first time, and the compiled policies
 * every PUBLISH, SUBSCRIBE and delivery is held to. Refusals carry two texts: what a device may
 * know, and the whole reason for the operator, which also lands in the certificate's record.
 */
import type { AuditTrail } from '../audit/service.ts';
import { createHmac } from 'node:crypto';
import type { Logger } from 'pino';
import { isZtError, operatorText, ZtError } from '../../errors.ts';
import { type Certificate, nameHash } from '../../pki/certificate.ts';
import { validateChain } from '../../pki/chain.ts';
import { OID } from '../../pki/oids.ts';
import type { CaService } from '../cas/service.ts';
import type { CaCertificate } from '../cas/types.ts';
import { KeyedLock } from '../provisioning/keyed-lock.ts';
import { certificateParameters } from '../templates/certificate-parameters.ts';
import { readJsonAnswer } from '../webhook-answer.ts';
import { evaluateTemplate } from '../templates/evaluate.ts';
import type { ProvisioningPlan } from '../templates/types.ts';
import type { CaRegistrations } from './ca-registration.ts';
import {
  certificateRegistered,
  connected,
  disconnected,
  type EventSink,
  type IotEvent,
  newSessionId,
} from './events.ts';
import {
  type CompiledPolicies,
  compilePolicies,
  type IotAction,
  type PolicyVariables,
} from './policy-engine.ts';
import { provisionCertificate } from './provision.ts';
import type { IotRegistry } from './registry.ts';
import type { CaRegistration, IotCertificate, NamedKind, Thing } from './types.ts';

/** Where the gateway counts what happens (Prometheus in the server; nothing in tests that do not ask). */
export interface GatewayMetrics {
  /** A JITP provisioning ended: AWS's ProvisionThing.Success, .ClientError or .ServerError. */
  provisioned(result: 'Success' | 'ClientError' | 'ServerError'): void;
  /** A connection attempt ended; refusals say why in a few words (e.g. "certificate INACTIVE"). */
  connection(outcome: 'connected' | 'refused', reason?: string): void;
  /** A publish, subscription or delivery was not allowed. */
  denied(action: 'iot:Publish' | 'iot:Subscribe' | 'iot:Receive'): void;
}

const NO_METRICS: GatewayMetrics = { provisioned() {}, connection() {}, denied() {} };

/** A connected data-plane client: its scope, certificate, thing, and compiled policies. */
export interface GatewaySession {
  tenantId: string;
  clientId: string;
  certificateId: string;
  principal: string;
  thingName?: string;
  accountId: string;
  region: string;
  sessionId: string;
  sourceIp?: string;
  /** Compiled for `generation`; recompiled when policies or attachments change. */
  policies: CompiledPolicies;
  generation: number;
  variables: PolicyVariables;
}

/** A refusal of a connection: `deviceReason` is all a device may learn. */
export class GatewayRefusal extends Error {
  readonly deviceReason: string;
  readonly operatorReason: string;
  /** MQTT CONNACK code: 5 not authorised, 4 bad credentials, 3 unavailable. */
  readonly returnCode: 3 | 4 | 5;
  constructor(deviceReason: string, operatorReason: string, returnCode: 3 | 4 | 5 = 5) {
    super(operatorReason);
    this.deviceReason = deviceReason;
    this.operatorReason = operatorReason;
    this.returnCode = returnCode;
  }
}

/** The scope and CA a chain belongs to, found once per TLS connection. */
export interface Resolved {
  tenantId: string;
  ca?: { record: CaCertificate; registration: CaRegistration; cert: Certificate };
}

/** What `diagnose` finds about a certificate in a scope. */
export interface GatewayDiagnosis {
  ok: boolean;
  outcome: 'connects' | 'provisions' | 'registers-pending' | 'refused';
  certificateId: string;
  ca?: {
    name: string;
    certificateId: string;
    status: string;
    certificateMode: string;
    autoRegistration: string;
    firstConnection: string;
  };
  certificate?: { status: string; lastEvent?: IotCertificate['lastEvent'] };
  policies?: string[];
  plan?: ProvisioningPlan;
  reasons: string[];
}

/** Where a chain belongs, or why it belongs nowhere. */
export type Resolution = Resolved | GatewayRefusal;

/** What a connecting client presents. */
export interface ConnectAttempt {
  chain: Certificate[];
  sni?: string;
  clientId: string;
  sourceIp?: string;
}

/** Timeout of the pre-provisioning hook (AWS gives its Lambda 5 s). */
const HOOK_TIMEOUT_MS = 5000;

const SUBJECT_VARIABLES: Record<string, string> = {
  CommonName: OID.commonName,
  Country: OID.countryName,
  Organization: OID.organizationName,
  OrganizationalUnit: OID.organizationalUnitName,
  State: OID.stateOrProvinceName,
  Locality: OID.localityName,
  SerialNumber: OID.serialNumber,
  DistinguishedNameQualifier: OID.dnQualifier,
};

/**
 * The policy variables of a connection: its client id, the certificate's subject and issuer
 * fields and serial, and the thing's name, type and attributes when the client id names a thing
 * attached to the certificate (`thing`), as AWS resolves them.
 */
export function policyVariables(
  leaf: Certificate,
  clientId: string,
  thing: Thing | undefined,
): PolicyVariables {
  const variables: PolicyVariables = {
    'iot:ClientId': clientId,
    'iot:Connection.Thing.IsAttached': String(thing !== undefined),
    'iot:Connection.Thing.ThingName': thing?.thingName,
    'iot:Connection.Thing.ThingTypeName': thing?.thingTypeName,
    'iot:Certificate.SerialNumber': leaf.serialNumber,
  };
  for (const [k, v] of Object.entries(thing?.attributes ?? {}))
    variables[`iot:Connection.Thing.Attributes[${k}]`] = v;
  for (const [name, oid] of Object.entries(SUBJECT_VARIABLES)) {
    variables[`iot:Certificate.Subject.${name}`] = leaf.subject.attributes.find((x) => x.oid === oid)?.value;
    variables[`iot:Certificate.Issuer.${name}`] = leaf.issuer.attributes.find((x) => x.oid === oid)?.value;
  }
  return variables;
}

/** The device gateway's authentication, provisioning and authorisation. */
export class DeviceGateway {
  private readonly registry: IotRegistry;
  private readonly cas: CaService;
  private readonly registrations: CaRegistrations;
  private readonly log: Logger;
  private readonly fetchFn: typeof fetch;
  private readonly lock = new KeyedLock();
  /** Connected sessions of this node, recompiled as soon as policies change. */
  private readonly live = new Set<GatewaySession>();
  private sinks: EventSink[] = [];
  readonly metrics: GatewayMetrics;
  private readonly audit: Pick<AuditTrail, 'note'> | undefined;

  constructor(o: {
    registry: IotRegistry;
    cas: CaService;
    registrations: CaRegistrations;
    logger: Logger;
    fetch?: typeof fetch;
    metrics?: GatewayMetrics;
    /** The audit trail: refusals of certificates the scope knows. */
    audit?: Pick<AuditTrail, 'note'>;
  }) {
    this.metrics = o.metrics ?? NO_METRICS;
    this.audit = o.audit;
    this.registry = o.registry;
    this.registry.onPolicyChange(() => this.recompileAll());
    this.cas = o.cas;
    this.registrations = o.registrations;
    this.log = o.logger;
    this.fetchFn = o.fetch ?? fetch;
  }

  /** Calls `fn` when this node changes policies or attachments (to tell other nodes). */
  onPolicyChange(fn: () => void): void {
    this.registry.onPolicyChange(fn);
  }

  /** Another node changed policies or attachments: connected sessions recompile theirs. */
  policiesChangedElsewhere(): void {
    this.registry.policiesChangedElsewhere();
    this.recompileAll();
  }

  /** Recompiles every connected session whose policies are older than the registry's. */
  private recompileAll(): void {
    for (const s of this.live) {
      if (s.generation !== this.registry.generation) void this.recompile(s).catch(() => undefined);
    }
  }

  private async recompile(s: GatewaySession): Promise<void> {
    const generation = this.registry.generation;
    const docs = await this.registry.documentsFor(s.tenantId, s.certificateId);
    // Compiles may finish out of order: only a newer one replaces what the session has.
    if (generation > s.generation) {
      s.policies = compilePolicies(
        docs.map((d) => d.document),
        s.variables,
      );
      s.generation = generation;
    }
  }

  /** Adds a place events go (the broker of a gateway node; the webhook outbox). */
  addSink(sink: EventSink): void {
    this.sinks.push(sink);
  }

  private refused(reason: string): void {
    this.metrics.connection('refused', reason);
  }

  private emit(tenantId: string, e: IotEvent): void {
    for (const s of this.sinks) {
      try {
        s.publish(tenantId, e.topic, e.payload);
      } catch (err) {
        this.log.error({ err, topic: e.topic }, 'an event could not be handed on');
      }
    }
  }

  /** The scope a TLS client belongs to (its broker), or the refusal it will get. */
  async resolve(a: Omit<ConnectAttempt, 'clientId'>): Promise<Resolution> {
    if (a.chain.length === 0)
      return new GatewayRefusal(
        'a client certificate is required',
        'the client sent no certificate in the TLS handshake',
        4,
      );
    try {
      return await this.resolveChain(a);
    } catch (e) {
      if (e instanceof GatewayRefusal) return e;
      throw e;
    }
  }

  /** The scope and registered CA of a chain: SNI picks the scope; without it, a DEFAULT-mode CA does. */
  private async resolveChain(a: Omit<ConnectAttempt, 'clientId'>, onlyTenant?: string): Promise<Resolved> {
    const leaf = a.chain[0]!;
    const sniTenant = onlyTenant ?? (a.sni ? await this.registry.tenantByEndpoint(a.sni) : undefined);
    const tried: string[] = [];
    // The signing CA is registered (as AWS asks); a chain may also carry intermediates up to it.
    for (const c of a.chain) {
      for (const r of await this.cas.registeredBySubject(nameHash(c.issuer))) {
        const registration = r.ca.awsRegistration;
        if (!registration) continue;
        if (sniTenant ? r.tenantId !== sniTenant : registration.certificateMode !== 'DEFAULT') continue;
        try {
          validateChain(leaf, a.chain.slice(1), [r.cert], { requiredEku: OID.clientAuth });
          return { tenantId: r.tenantId, ca: { record: r.ca, registration, cert: r.cert } };
        } catch (e) {
          tried.push(`${r.ca.name}: ${operatorText(e)}`);
        }
      }
    }
    if (sniTenant) return { tenantId: sniTenant };
    throw new GatewayRefusal(
      'certificate not accepted',
      tried.length
        ? `the client certificate did not validate against any registered CA: ${tried.join('; ')}`
        : `the client certificate (issuer "${leaf.issuer.attributes.map((x) => `${x.type}=${x.value}`).join(', ')}") is not signed by a CA registered for JITP/JITR in DEFAULT mode${a.sni ? `, and no scope has the endpoint ${a.sni}` : ' and the client sent no SNI'}; register the signing CA (zerotouch iot ca register) or connect with the scope's endpoint as SNI`,
    );
  }

  /**
   * Authenticates a connecting client, provisioning its certificate first when it is new and its
   * CA allows it. Returns the session, or throws a GatewayRefusal.
   */
  async connect(a: ConnectAttempt, resolution?: Resolution): Promise<GatewaySession> {
    const resolved = resolution ?? (await this.resolve(a));
    if (resolved instanceof GatewayRefusal) {
      this.refused(resolved.returnCode === 4 ? 'no client certificate' : 'no registered CA or certificate');
      throw resolved;
    }
    const leaf = a.chain[0]!;
    const { tenantId } = resolved;
    const key = `${tenantId}/${leaf.tbsSha256}`;
    const record = await this.lock.run(key, () => this.admit(resolved, a));
    return this.session(tenantId, record, a);
  }

  /** The certificate record once it may connect; provisions or registers it when new. */
  private async admit(r: Resolved, a: ConnectAttempt): Promise<IotCertificate> {
    const leaf = a.chain[0]!;
    const { tenantId } = r;
    let record = await this.registry.findCertificateOf(tenantId, leaf);
    if (!r.ca) {
      // SNI named the scope and no registered CA signed the certificate: it must be registered without a CA.
      if (!record)
        throw new GatewayRefusal(
          'certificate not accepted',
          `certificate ${leaf.sha256.toLowerCase()} is not registered in this scope and no CA registered here signed it; register the certificate or its CA`,
        );
      const now = Date.now();
      if (leaf.notAfter.getTime() < now || leaf.notBefore.getTime() > now)
        return this.refuse(
          tenantId,
          record,
          'certificate not valid now',
          `certificate ${record.certificateId} is outside its validity period`,
        );
    }
    const ca = r.ca;
    if (record && record.status === 'ACTIVE') return record;
    if (record && record.status !== 'PENDING_ACTIVATION') {
      return this.refuse(
        tenantId,
        record,
        'certificate not active',
        `certificate ${record.certificateId} is ${record.status}; only ACTIVE certificates connect (zerotouch iot-cert activate ${record.certificateId})`,
      );
    }
    if (!ca) {
      return this.refuse(
        tenantId,
        record!,
        'certificate not active',
        `certificate ${record!.certificateId} is PENDING_ACTIVATION; activate it`,
      );
    }
    const reg = ca.registration;
    if (!record) {
      if (reg.status !== 'ACTIVE')
        throw this.refusal(
          `the CA "${ca.record.name}" is INACTIVE, so new certificates it signed are not registered; activate it (zerotouch iot ca update ${ca.record.name} --status ACTIVE)`,
          'CA INACTIVE',
        );
      if (reg.autoRegistration !== 'ENABLE')
        throw this.refusal(
          `certificate ${leaf.sha256.toLowerCase()} is not registered and the CA "${ca.record.name}" does not auto-register certificates; register it, or enable auto-registration on the CA`,
          'certificate not registered',
        );
      const template = await this.registrations.templateOf(tenantId, reg).catch((e: unknown) => {
        throw this.refusal(
          `the CA "${ca.record.name}" has a registration config that cannot be used: ${operatorText(e)}`,
          'registration config unusable',
        );
      });
      const fresh = await this.registry.newCertificate(tenantId, leaf, {
        status: 'PENDING_ACTIVATION',
        mode: reg.certificateMode,
        caName: ca.record.name,
        caCertificateId: reg.certificateId,
        by: template ? 'jitp' : 'jitr',
      });
      record = (await this.registry.insertCertificate(tenantId, fresh, leaf)).certificate;
      this.log.info(
        { tenantId, certificateId: record.certificateId, ca: ca.record.name },
        'certificate registered as PENDING_ACTIVATION',
      );
    }
    // PENDING_ACTIVATION: provision with the template, or (JITR) tell subscribers and refuse.
    const template = await this.registrations.templateOf(tenantId, reg).catch(() => undefined);
    if (!template || reg.status !== 'ACTIVE' || reg.autoRegistration !== 'ENABLE') {
      const settings = await this.registry.settings(tenantId);
      this.emit(
        tenantId,
        certificateRegistered({
          certificateId: record.certificateId,
          caCertificateId: reg.certificateId,
          accountId: settings.accountId,
          registeredAt: record.createdAt,
          sourceIp: a.sourceIp,
        }),
      );
      await this.registry.recordCertificateEvent(tenantId, record.certificateId, {
        at: new Date().toISOString(),
        outcome: 'registered',
        reason: 'registered as PENDING_ACTIVATION (JITR); waiting for an operator to activate it',
      });
      this.refused('certificate PENDING_ACTIVATION (JITR)');
      throw new GatewayRefusal(
        'certificate pending activation',
        `certificate ${record.certificateId} is PENDING_ACTIVATION (JITR): $aws/events/certificates/registered/${reg.certificateId} was published; activate it and attach a policy, then the device's next connection succeeds`,
      );
    }
    const provisioned = await this.provision(tenantId, ca, template.template, record, leaf, a);
    if (reg.firstConnection === 'aws-compatible') {
      this.refused('provisioned; aws-compatible first connection closed');
      throw new GatewayRefusal(
        'certificate provisioned; reconnect',
        `certificate ${provisioned.certificateId} was provisioned; the CA is in aws-compatible mode, so this first connection is closed and the next one connects`,
        3,
      );
    }
    return provisioned;
  }

  private refusal(operatorReason: string, category: string): GatewayRefusal {
    this.refused(category);
    return new GatewayRefusal('certificate not accepted', operatorReason);
  }

  /** Records a refusal of a certificate the scope knows in the audit trail. */
  private audited(tenantId: string, record: IotCertificate, code: string, reason: string): void {
    this.audit?.note({
      tenantId,
      action: 'device.refused',
      target: `iot-certificate/${record.certificateId}`,
      outcome: 'refused',
      code,
      actor: { kind: 'device', id: record.certificateId },
      detail: { face: 'mqtt', reason },
    });
  }

  private async refuse(
    tenantId: string,
    record: IotCertificate,
    device: string,
    operator: string,
  ): Promise<never> {
    this.refused(device === 'certificate not active' ? `certificate ${record.status}` : device);
    this.audited(
      tenantId,
      record,
      device === 'certificate not active' ? `certificate ${record.status}` : device,
      operator,
    );
    await this.registry.recordCertificateEvent(tenantId, record.certificateId, {
      at: new Date().toISOString(),
      outcome: 'refused',
      reason: operator,
    });
    throw new GatewayRefusal(device, operator);
  }

  /** Asks the CA's pre-provisioning hook: allow (with extra parameters) or deny with a reason. */
  private async hook(
    reg: CaRegistration,
    record: IotCertificate,
    parameters: Record<string, string>,
    a: ConnectAttempt,
  ): Promise<Record<string, string>> {
    const h = reg.preProvisioningHook;
    if (!h) return {};
    const body = JSON.stringify({
      payloadVersion: '2020-04-01',
      certificateId: record.certificateId,
      caCertificateId: reg.certificateId,
      certificatePem: record.certificatePem,
      clientId: a.clientId,
      parameters,
    });
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (h.secret)
      headers['x-zerotouch-signature'] =
        `sha256=${createHmac('sha256', h.secret).update(body).digest('hex')}`;
    let answer: { allowProvisioning?: unknown; parameterOverrides?: unknown; reason?: unknown };
    try {
      const res = await this.fetchFn(h.url, {
        method: 'POST',
        headers,
        body,
        signal: AbortSignal.timeout(HOOK_TIMEOUT_MS),
      });
      if (!res.ok) throw new Error(`it answered HTTP ${res.status}`);
      answer = (await readJsonAnswer(res)) as typeof answer;
    } catch (e) {
      throw new ZtError(
        'WEBHOOK_FAILED',
        `the pre-provisioning hook ${h.url} failed: ${(e as Error).message}; provisioning is denied (as AWS denies when its hook fails)`,
      );
    }
    if (answer?.allowProvisioning !== true)
      throw new ZtError(
        'PROVISIONING_FAILED',
        `the pre-provisioning hook denied provisioning${typeof answer?.reason === 'string' ? `: ${answer.reason.slice(0, 500)}` : ''}`,
        { rule: 'hook-denied' },
      );
    const overrides = answer.parameterOverrides;
    if (overrides === undefined) return {};
    if (
      typeof overrides !== 'object' ||
      overrides === null ||
      Array.isArray(overrides) ||
      !Object.values(overrides).every((v) => typeof v === 'string')
    )
      throw new ZtError(
        'WEBHOOK_FAILED',
        'the pre-provisioning hook answered parameterOverrides that are not an object of strings',
      );
    return overrides as Record<string, string>;
  }

  private async provision(
    tenantId: string,
    ca: NonNullable<Resolved['ca']>,
    template: Parameters<typeof provisionCertificate>[2]['template'],
    record: IotCertificate,
    leaf: Certificate,
    a: ConnectAttempt,
  ): Promise<IotCertificate> {
    const parameters = certificateParameters(leaf);
    try {
      const extra = await this.hook(ca.registration, record, parameters, a);
      const result = await provisionCertificate(this.registry, tenantId, {
        template,
        parameters: { ...parameters, ...extra },
        cert: leaf,
        record,
        by: `jitp:${ca.record.name}`,
      });
      this.metrics.provisioned('Success');
      this.log.info(
        {
          tenantId,
          certificateId: record.certificateId,
          thing: result.plan.thing?.name,
          thingCreated: result.thingCreated,
          policies: result.plan.policies.map((p) => p.name),
          audit: 'ProvisionThing',
        },
        'certificate provisioned (JITP)',
      );
      if (result.certificate.status !== 'ACTIVE')
        throw new GatewayRefusal(
          'certificate not active',
          `the template set certificate ${record.certificateId} to ${result.certificate.status}; it does not connect until an operator activates it`,
        );
      return result.certificate;
    } catch (e) {
      if (e instanceof GatewayRefusal) throw e;
      const client = isZtError(e) && e.status < 500;
      this.metrics.provisioned(client ? 'ClientError' : 'ServerError');
      this.refused(client ? 'provisioning failed' : 'provisioning unavailable');
      const reason = operatorText(e);
      this.audited(tenantId, record, client ? 'provisioning failed' : 'provisioning unavailable', reason);
      const detail = isZtError(e) ? e.detail : undefined;
      await this.registry
        .recordCertificateEvent(tenantId, record.certificateId, {
          at: new Date().toISOString(),
          outcome: 'provisioning-failed',
          reason,
          ...(typeof detail?.parameter === 'string' ? { missingParameter: detail.parameter } : {}),
          ...(typeof detail?.path === 'string' ? { templatePath: detail.path } : {}),
        })
        .catch(() => undefined);
      if (!client) this.log.error({ err: e, tenantId, certificateId: record.certificateId }, 'JITP failed');
      throw new GatewayRefusal(
        client ? 'certificate could not be provisioned' : 'provisioning is unavailable; retry later',
        `JITP of certificate ${record.certificateId} failed: ${reason}`,
        client ? 5 : 3,
      );
    }
  }

  /** Builds the session of an admitted certificate: thing, policy variables, compiled policies, iot:Connect. */
  private async session(
    tenantId: string,
    record: IotCertificate,
    a: ConnectAttempt,
  ): Promise<GatewaySession> {
    const settings = await this.registry.settings(tenantId);
    const things = await this.registry.thingsOf(tenantId, record.certificateId);
    // AWS resolves the thing variables when the client id is the name of a thing attached to the certificate.
    const thingName = things.includes(a.clientId) ? a.clientId : undefined;
    const thing = thingName ? await this.registry.findThing(tenantId, thingName) : undefined;
    const leaf = a.chain[0]!;
    const variables = policyVariables(leaf, a.clientId, thing);
    const generation = this.registry.generation;
    const policies = compilePolicies(
      (await this.registry.documentsFor(tenantId, record.certificateId)).map((d) => d.document),
      variables,
    );
    const s: GatewaySession = {
      tenantId,
      clientId: a.clientId,
      certificateId: record.certificateId,
      principal: record.certificateId,
      ...(thingName ? { thingName } : {}),
      accountId: settings.accountId,
      region: settings.region,
      sessionId: newSessionId(),
      ...(a.sourceIp ? { sourceIp: a.sourceIp } : {}),
      policies,
      generation,
      variables,
    };
    const clientArn = this.resourceArn(s, 'client', a.clientId);
    const mustAsk = settings.requireConnectPolicy || policies.mentions('iot:Connect');
    if (mustAsk && !policies.allows('iot:Connect', clientArn)) {
      return this.refuse(
        tenantId,
        record,
        'not authorised',
        `no policy attached to certificate ${record.certificateId} allows iot:Connect on ${clientArn}${settings.requireConnectPolicy ? ' (the scope requires iot:Connect)' : ''}`,
      );
    }
    this.metrics.connection('connected');
    this.live.add(s);
    this.emit(
      tenantId,
      connected({
        clientId: a.clientId,
        principal: record.certificateId,
        accountId: settings.accountId,
        sessionId: s.sessionId,
        ip: a.sourceIp,
      }),
    );
    return s;
  }

  /**
   * Explains, creating nothing, what would happen if this chain connected to the scope: which
   * registered CA signed it, the certificate's status, what JITP would make (and what it lacks),
   * and whether its policies let it connect.
   */
  async diagnose(tenantId: string, chain: Certificate[], clientId = 'diagnose'): Promise<GatewayDiagnosis> {
    const leaf = chain[0];
    if (!leaf)
      return { ok: false, outcome: 'refused', certificateId: '', reasons: ['no certificate was given'] };
    const certificateId = leaf.sha256.toLowerCase();
    const d: GatewayDiagnosis = { ok: false, outcome: 'refused', certificateId, reasons: [] };
    let resolved: Resolved;
    try {
      resolved = await this.resolveChain({ chain }, tenantId);
    } catch (e) {
      d.reasons.push(operatorText(e));
      return d;
    }
    const record = await this.registry.findCertificateOf(tenantId, leaf);
    const ca = resolved.ca;
    if (ca) {
      d.ca = {
        name: ca.record.name,
        certificateId: ca.registration.certificateId,
        status: ca.registration.status,
        certificateMode: ca.registration.certificateMode,
        autoRegistration: ca.registration.autoRegistration,
        firstConnection: ca.registration.firstConnection,
      };
      if (ca.registration.certificateMode === 'SNI_ONLY')
        d.reasons.push(
          'the CA is registered in SNI_ONLY mode: the device must send the scope endpoint as SNI',
        );
    } else {
      d.reasons.push('no CA registered for JITP/JITR in this scope signed the certificate');
    }
    if (record)
      d.certificate = { status: record.status, ...(record.lastEvent ? { lastEvent: record.lastEvent } : {}) };
    if (record?.status === 'ACTIVE') {
      const docs = await this.registry.documentsFor(tenantId, record.certificateId);
      const settings = await this.registry.settings(tenantId);
      d.policies = docs.map((x) => x.name);
      const compiled = compilePolicies(
        docs.map((x) => x.document),
        { 'iot:ClientId': clientId },
      );
      const arn = `arn:aws:iot:${settings.region}:${settings.accountId}:client/${clientId}`;
      const mustAsk = settings.requireConnectPolicy || compiled.mentions('iot:Connect');
      if (mustAsk && !compiled.allows('iot:Connect', arn)) {
        d.reasons.push(`no attached policy allows iot:Connect on ${arn}`);
        return d;
      }
      if (docs.length === 0)
        d.reasons.push('no policy is attached: it connects but may not publish or subscribe');
      d.ok = true;
      d.outcome = 'connects';
      return d;
    }
    if (record && record.status !== 'PENDING_ACTIVATION') {
      d.reasons.push(`the certificate is ${record.status}; only ACTIVE certificates connect`);
      return d;
    }
    if (!ca) {
      if (!record) d.reasons.push('the certificate is not registered in this scope');
      else d.reasons.push('the certificate is PENDING_ACTIVATION; activate it');
      return d;
    }
    if (ca.registration.status !== 'ACTIVE' && !record) {
      d.reasons.push(`the CA "${ca.record.name}" is INACTIVE: new certificates it signed are not registered`);
      return d;
    }
    if (ca.registration.autoRegistration !== 'ENABLE') {
      d.reasons.push(
        `the CA "${ca.record.name}" does not auto-register certificates; register this one, or enable auto-registration`,
      );
      return d;
    }
    let template: Awaited<ReturnType<CaRegistrations['templateOf']>>;
    try {
      template = await this.registrations.templateOf(tenantId, ca.registration);
    } catch (e) {
      d.reasons.push(`the CA's registration config cannot be used: ${operatorText(e)}`);
      return d;
    }
    if (!template) {
      d.outcome = 'registers-pending';
      d.reasons.push(
        'the CA has no template: JITR registers the certificate as PENDING_ACTIVATION, publishes $aws/events/certificates/registered/' +
          ca.registration.certificateId +
          ', and refuses the connection until an operator activates it',
      );
      return d;
    }
    try {
      const plan = evaluateTemplate(template.template, certificateParameters(leaf));
      d.plan = plan;
      const settings = await this.registry.settings(tenantId);
      const missing: string[] = [];
      if (!settings.createMissingTypesAndGroups && plan.thing) {
        const names: Array<[NamedKind, string | undefined]> = [
          ['thing-type', plan.thing.thingType],
          ['billing-group', plan.thing.billingGroup],
          ...plan.thing.groups.map((g): [NamedKind, string] => ['thing-group', g]),
        ];
        for (const [kind, name] of names) {
          if (name && !(await this.registry.listNamed(tenantId, kind)).some((n) => n.name === name))
            missing.push(`${kind} ${name}`);
        }
      }
      for (const p of plan.policies) {
        if (!p.document && !(await this.registry.findPolicy(tenantId, p.name)))
          missing.push(`policy ${p.name}`);
      }
      if (missing.length) {
        d.reasons.push(`JITP would fail: these do not exist in the scope: ${missing.join(', ')}`);
        return d;
      }
    } catch (e) {
      d.reasons.push(`JITP would fail: ${operatorText(e)}`);
      return d;
    }
    d.ok = true;
    d.outcome = 'provisions';
    if (ca.registration.firstConnection === 'aws-compatible')
      d.reasons.push(
        'the CA is in aws-compatible mode: the first connection is closed after provisioning; the next one connects',
      );
    return d;
  }

  /** The ARN a data-plane action is checked against. */
  resourceArn(s: GatewaySession, kind: 'client' | 'topic' | 'topicfilter', name: string): string {
    return `arn:aws:iot:${s.region}:${s.accountId}:${kind}/${name}`;
  }

  /**
   * The answer without a promise when the session's policies are current (the per-message path);
   * undefined when they must be recompiled first (use `allows`).
   */
  allowsCurrent(
    s: GatewaySession,
    action: Exclude<IotAction, 'iot:Connect'>,
    topic: string,
  ): boolean | undefined {
    if (s.generation !== this.registry.generation) return undefined;
    return s.policies.allows(
      action,
      this.resourceArn(s, action === 'iot:Subscribe' ? 'topicfilter' : 'topic', topic),
    );
  }

  /** True when the session's policies allow `action` on the topic (or filter); recompiles after policy changes. */
  async allows(
    s: GatewaySession,
    action: Exclude<IotAction, 'iot:Connect'>,
    topic: string,
  ): Promise<boolean> {
    if (s.generation !== this.registry.generation) await this.recompile(s);
    return s.policies.allows(
      action,
      this.resourceArn(s, action === 'iot:Subscribe' ? 'topicfilter' : 'topic', topic),
    );
  }

  /**
   * The same check without waiting, for deliveries (aedes asks synchronously). Sessions are
   * recompiled as soon as policies change; a delivery in the few milliseconds before that is
   * withheld rather than judged by the old policies.
   */
  allowsNow(s: GatewaySession, action: 'iot:Receive', topic: string): boolean {
    if (s.generation !== this.registry.generation) {
      // Changed policies are being recompiled (started when they changed); until then, fail closed.
      void this.recompile(s).catch(() => undefined);
      return false;
    }
    return s.policies.allows(action, this.resourceArn(s, 'topic', topic));
  }

  /** Tells subscribers a client went away. */
  disconnected(s: GatewaySession, clientInitiated: boolean, reason: string): void {
    this.live.delete(s);
    this.emit(
      s.tenantId,
      disconnected({
        clientId: s.clientId,
        principal: s.principal,
        sessionId: s.sessionId,
        clientInitiated,
        reason,
      }),
    );
  }
}
