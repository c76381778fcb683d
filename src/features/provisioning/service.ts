/**
 * Device registration with DPS semantics: authenticate the presented chain, match the enrollment,
 * answer "assigning" at once and finish the assignment (allocation, registry, registration record)
 * in the background; devices poll the operation. One device's registrations run one at a time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { isZtError, operatorText, ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import { type CertificationRequest, parseCsr, verifyCsr } from '../../pki/csr.ts';
import type { Page } from '../../store/paging.ts';
import { allocate } from '../allocation/allocate.ts';
import type { AuditTrail } from '../audit/service.ts';
import { certificateInfo } from '../enrollments/certificate-info.ts';
import type { EnrollmentMatcher, Match, RevocationCheck } from '../enrollments/matching.ts';
import { etagMatches } from '../etag.ts';
import type { HubService } from '../hubs/service.ts';
import { idKey } from '../id-key.ts';
import type { RegistryService } from '../registry/service.ts';
import type { TenantService } from '../tenants/service.ts';
import { diagnose } from './diagnose.ts';
import { dpsErrorCode } from './dps-error-codes.ts';
import { LEASE_TTL_MS, whileLeased, withDeviceLease } from './device-lease.ts';
import { KeyedLock } from './keyed-lock.ts';
import { newOperationId, operationCreatedAt } from './operation-id.ts';
import { RateLimiter } from './rate-limit.ts';
import { readRegisterBody } from './register-body.ts';
import type { RegistrationFilter, RegistrationStore } from './store.ts';
import type { DeviceRegistrationState, Diagnosis, RegistrationOperation } from './types.ts';

export interface RegisterContext {
  /** Presented client chain, leaf first. */
  chain: Certificate[];
  apiVersion?: string;
  /** Region of the request for geoLatency allocation. */
  region?: string;
}

export interface RegistrationOptions {
  logger: Logger;
  /** Seconds devices are told to wait between polls. */
  retryAfterSeconds: number;
  /** Region assumed for requests that do not name one (geoLatency). */
  defaultRegion?: string;
  fetch?: typeof fetch;
  /** Issues certificates for registrations that carry a csr, and refuses revoked certificates. */
  issuer?: CsrIssuer & RevocationCheck;
}

/** What the registration needs of the issuance engine for the csr flow. */
export interface CsrIssuer {
  issue(i: {
    tenant: { id: string; idScope: string };
    ca?: string;
    profile: string;
    csr: CertificationRequest;
    requester: string;
    method: 'dps-csr';
    validityDays?: number;
  }): Promise<{ certificate: Certificate; caChain: Certificate[] }>;
}

/** Operations kept in memory for polling; the latest per device is also in the store. */
interface LiveOperation {
  tenantId: string;
  /** The ID scope as the registering request's URL gave it: polls naming the same skip the tenant lookup. */
  scopeText: string;
  registrationId: string;
  /** The registering leaf's signed content (tbsSha256): polls must present the same certificate. */
  leafTbs: string;
  done: Promise<void>;
  result?: RegistrationOperation;
}

// A finished operation's answer stays in memory this long for polls on this node; after that
// (and on every other node) polls read the registration record.
const RESULT_TTL_MS = 2 * 60 * 1000;
// How long a poll for an operation this node does not hold may be answered "assigning" while no
// record of it is written: the longest lease wait plus the assignment, with room to spare.
const ASSIGNING_DEADLINE_MS = 2 * 60 * 1000;
// Within this long of its start, an operation is "assigning" even while its device's lease is
// free: it may be between waiting for another registration's lease and taking it. Later, a free
// lease means that no node runs it (the one that did has stopped).
const LEASE_GRACE_MS = 10_000;
// An ID scope's tenant is looked up once per this long, not per request. It decides nothing about
// trust: the CAs, enrollments and revocations a device is matched against are read every time,
// so a device of a tenant deleted meanwhile matches nothing (tenant ids are never reused).
const SCOPE_TTL_MS = 10_000;
const MAX_KNOWN_SCOPES = 10_000;

/** The failure fields of a registration state: the device's message, and the operator's when it says more. */
function failure(e: ZtError): Pick<DeviceRegistrationState, 'errorCode' | 'errorMessage' | 'errorDetail'> {
  const detail = operatorText(e);
  return {
    errorCode: dpsErrorCode(e),
    errorMessage: e.message,
    ...(detail !== e.message ? { errorDetail: detail } : {}),
  };
}

/** A registration state as a device may see it: without the operator's detail. */
function forDevice(state: DeviceRegistrationState): DeviceRegistrationState {
  if (state.errorDetail === undefined) return state;
  const { errorDetail: _, ...rest } = state;
  return rest;
}

function notRecorded(registrationId: string): ZtError {
  return new ZtError('NOT_FOUND', `${registrationId} has no registration record in this scope`);
}

function requireChain(chain: Certificate[]): void {
  if (chain.length === 0) {
    throw new ZtError(
      'CHAIN_EMPTY',
      'no client certificate was presented; poll with the certificate the registration was made with',
    );
  }
}

/** What an operation ID is bound to: the tenant, the registration ID and the registering certificate. */
function operationBinding(tenantId: string, registrationId: string, leafTbs: string): string {
  return `${tenantId}\n${idKey(registrationId)}\n${leafTbs}`;
}

/** A device request's scope: the tenant when it exists, and the key its rate limits count under. */
interface DeviceScope {
  id: string | undefined;
  key: string;
  tenant?: { id: string; idScope: string };
}

/** What the registration service needs of other features: the narrow part of each. */
export interface RegistrationDeps {
  store: RegistrationStore;
  tenants: Pick<TenantService, 'getTenant'>;
  matcher: Pick<EnrollmentMatcher, 'match'>;
  hubs: Pick<HubService, 'list'>;
  registry: Pick<RegistryService, 'assign'>;
  /** The audit trail: refusals, assignments and failures, each with its reason. */
  audit?: Pick<AuditTrail, 'note'>;
}

/** Runs DPS registrations, answers their polls, and keeps the registration records. */
export class RegistrationService {
  private readonly store: RegistrationStore;
  private readonly deps: RegistrationDeps;
  private readonly tenants: RegistrationDeps['tenants'];
  private readonly opts: RegistrationOptions;
  private readonly locks = new KeyedLock();
  /** Operations started here: running, or finished within RESULT_TTL_MS (in `finished`). */
  private readonly operations = new Map<string, LiveOperation>();
  private readonly finished = new ExpiryQueue();
  private operationKey?: Promise<Buffer>;
  /** ID scope text -> tenant, as the store answered it lately (unknown scopes are not kept). */
  private readonly scopes = new Map<string, { scope: DeviceScope; until: number }>();
  // DPS allows 5 polls per 10 s per device; registrations get a small burst for retries.
  private readonly pollLimit = new RateLimiter({ capacity: 5, refillSeconds: 2 });
  private readonly registerLimit = new RateLimiter({ capacity: 10, refillSeconds: 6 });

  constructor(deps: RegistrationDeps, opts: RegistrationOptions) {
    this.deps = deps;
    this.store = deps.store;
    this.tenants = deps.tenants;
    this.opts = opts;
  }

  get retryAfterSeconds(): number {
    return this.opts.retryAfterSeconds;
  }

  /** Checks that the certificate CN is the registration ID in the URL (case-insensitively). */
  private checkIdentity(urlRegistrationId: string, chain: Certificate[]): void {
    const cn = chain[0]?.commonName;
    if (chain.length > 0 && cn !== undefined && idKey(cn) !== idKey(urlRegistrationId)) {
      throw new ZtError(
        'REGISTRATION_ID_MISMATCH',
        `the registration ID in the URL (${urlRegistrationId}) is not the certificate CN (${cn}); register as ${cn}`,
      );
    }
  }

  private throttle(limiter: RateLimiter, key: string, what: string): void {
    const wait = limiter.take(key);
    if (wait > 0) {
      throw new ZtError('THROTTLED', `too many ${what} for this device; retry after ${wait} s`, {
        retryAfter: wait,
      });
    }
  }

  /**
   * The scope of a device request. An unknown ID scope is not an error of its own: it goes
   * through matching as a scope with no CAs and no enrollments, so it answers exactly as a scope
   * that does not trust the device.
   */
  private async deviceScope(idScope: string): Promise<DeviceScope> {
    const known = this.scopes.get(idScope);
    if (known && known.until > Date.now()) return known.scope;
    try {
      const t = await this.tenants.getTenant(idScope);
      const scope = { id: t.id, key: t.id, tenant: { id: t.id, idScope: t.idScope } };
      if (this.scopes.size >= MAX_KNOWN_SCOPES) this.scopes.clear();
      this.scopes.set(idScope, { scope, until: Date.now() + SCOPE_TTL_MS });
      return scope;
    } catch (e) {
      if (isZtError(e, 'NOT_FOUND')) return { id: undefined, key: `?${idScope.toLowerCase()}` };
      throw e;
    }
  }

  /** matchEnrollment, with the operator told when the scope itself does not exist. */
  private async match(
    idScope: string,
    scope: { id: string | undefined },
    chain: Certificate[],
  ): Promise<Match> {
    try {
      return await this.deps.matcher.match(scope.id, chain, new Date(), this.opts.issuer);
    } catch (e) {
      if (scope.id !== undefined || !isZtError(e)) throw e;
      throw new ZtError(
        e.code,
        e.message,
        e.detail,
        `no tenant has ID scope "${idScope}"; ${operatorText(e)}`,
      );
    }
  }

  /** Starts a registration (PUT .../register); answers with the operation in "assigning". */
  async register(
    idScope: string,
    urlRegistrationId: string,
    body: unknown,
    ctx: RegisterContext,
  ): Promise<RegistrationOperation> {
    const { payload, csr: csrText } = readRegisterBody(body, urlRegistrationId, ctx.apiVersion);
    this.checkIdentity(urlRegistrationId, ctx.chain);
    const scope = await this.deviceScope(idScope);
    this.throttle(this.registerLimit, `${scope.key}/${idKey(urlRegistrationId)}`, 'registrations');

    // The csr is read only once the chain has matched an enrollment: nothing a stranger sends
    // costs more than the chain check.
    let match: Match;
    let csr: CertificationRequest | undefined;
    try {
      match = await this.match(idScope, scope, ctx.chain);
      if (csrText !== undefined && (!match.enrollment.certificateIssuancePolicy || !this.opts.issuer)) {
        throw new ZtError('BAD_REQUEST', 'Device sent CSR but it is not configured in the service.');
      }
    } catch (e) {
      this.opts.logger.info(
        {
          idScope,
          registrationId: urlRegistrationId,
          code: isZtError(e) ? e.code : undefined,
          reason: operatorText(e),
        },
        'registration rejected',
      );
      if (isZtError(e, 'ENROLLMENT_DISABLED') && scope.id)
        await this.recordFailure(scope.id, urlRegistrationId, e);
      // A scope that does not exist has no trail to write to: the log has those.
      if (scope.id)
        this.deps.audit?.note({
          tenantId: scope.id,
          action: 'device.refused',
          target: `registration/${urlRegistrationId}`,
          outcome: 'refused',
          code: isZtError(e) ? e.code : 'INTERNAL',
          actor: { kind: 'device', id: urlRegistrationId },
          detail: { face: 'dps', reason: operatorText(e), certificate: ctx.chain[0]?.sha256 },
        });
      throw e;
    }
    if (csrText !== undefined) {
      csr = parseCsr(csrText);
      verifyCsr(csr);
      if (!csr.commonName || idKey(csr.commonName) !== idKey(urlRegistrationId)) {
        throw new ZtError(
          'BAD_REQUEST',
          `the csr subject CN (${csr.commonName ?? 'none'}) must be the registration ID (${urlRegistrationId})`,
        );
      }
    }

    // Matching succeeds only in a scope that exists.
    const tenant = scope.tenant!;
    const operationId = newOperationId(
      await this.opKey(),
      operationBinding(tenant.id, match.registrationId, match.leaf.tbsSha256),
    );
    const device = `${tenant.id}/${idKey(match.registrationId)}`;
    // One registration of a device at a time, across every node: the device's lease. Taken
    // before answering, it tells any node that polls that this operation is running; when
    // another registration of the device holds it, this one waits for it in the background
    // (behind the others of this process first, so they do not all poll the store).
    const leased = await this.store.tryLease(device, operationId, LEASE_TTL_MS);
    const live: LiveOperation = {
      tenantId: tenant.id,
      scopeText: idScope,
      registrationId: match.registrationId,
      leafTbs: match.leaf.tbsSha256,
      done: Promise.resolve(),
    };
    this.forgetFinished();
    this.operations.set(operationId, live);
    const run = () => this.assign(operationId, live, match, payload, ctx, tenant.idScope, csr);
    live.done = (
      leased
        ? whileLeased(this.store, device, operationId, run)
        : this.locks.run(device, () => withDeviceLease(this.store, device, operationId, run))
    )
      .catch((e: unknown) => {
        // The store failed while recording, or the device's lease stayed taken: tell the device,
        // which will register again.
        const unavailable = isZtError(e, 'STORE_UNAVAILABLE');
        const log = { err: e, registrationId: match.registrationId };
        if (unavailable)
          this.opts.logger.warn(log, 'registration could not be recorded: the store is unavailable');
        else if (isZtError(e)) this.opts.logger.warn(log, 'registration could not run');
        else this.opts.logger.error(log, 'registration could not be recorded');
        const state: DeviceRegistrationState = {
          registrationId: match.registrationId,
          status: 'failed',
          ...(unavailable
            ? {
                errorCode: 503001,
                errorMessage:
                  'the registration could not be recorded because the store is unavailable; register again in a few seconds',
              }
            : isZtError(e)
              ? failure(e)
              : {
                  errorCode: 500001,
                  errorMessage: 'the registration could not be recorded; register again',
                }),
        };
        live.result = { operationId, status: 'failed', registrationState: state };
      })
      .finally(() => this.finished.add(operationId, Date.now() + RESULT_TTL_MS));
    return {
      operationId,
      status: 'assigning',
      registrationState: { registrationId: match.registrationId, status: 'assigning' },
    };
  }

  private async recordFailure(tenantId: string, registrationId: string, e: ZtError): Promise<void> {
    const prev = await this.store.findRegistration(tenantId, registrationId);
    const now = new Date().toISOString();
    await this.store.putRegistration(
      tenantId,
      prev?.operationId ?? `5.${randomBytes(8).toString('hex')}.${randomUUID()}`,
      {
        ...(prev?.state ?? {}),
        registrationId: prev?.state.registrationId ?? registrationId,
        status: 'failed',
        ...failure(e),
        createdDateTimeUtc: prev?.state.createdDateTimeUtc ?? now,
        lastUpdatedDateTimeUtc: now,
        etag: Buffer.from(`"${randomUUID()}"`).toString('base64'),
      },
    );
  }

  /** Allocation and registry work of one operation; failures become a "failed" operation. */
  private async assign(
    operationId: string,
    live: LiveOperation,
    match: Match,
    payload: unknown,
    ctx: RegisterContext,
    idScope: string,
    csr?: CertificationRequest,
  ): Promise<void> {
    const { tenantId } = live;
    const prev = await this.store.findRegistration(tenantId, match.registrationId);
    const now = new Date().toISOString();
    const base: DeviceRegistrationState = {
      x509: match.kind === 'group' ? { enrollmentGroupId: match.enrollment.enrollmentGroupId } : {},
      registrationId: match.registrationId,
      createdDateTimeUtc: prev?.state.createdDateTimeUtc ?? now,
      status: 'assigning',
    };
    let state: DeviceRegistrationState;
    try {
      const previous =
        prev?.state.status === 'assigned' && prev.state.assignedHub && prev.state.deviceId
          ? { hub: prev.state.assignedHub, deviceId: prev.state.deviceId, substatus: prev.state.substatus }
          : undefined;
      const deviceId =
        match.kind === 'individual'
          ? (match.enrollment.deviceId ?? match.registrationId)
          : match.registrationId;
      // Without updateHubAssignment a reprovisioned device stays where it is.
      const keep = previous && !match.enrollment.reprovisionPolicy.updateHubAssignment;
      const linkedHubs = keep ? [] : await this.deps.hubs.list(tenantId);
      const allocation = keep
        ? { hub: previous.hub, initialTwin: undefined, payload: undefined }
        : await allocate(
            {
              kind: match.kind,
              enrollment: match.enrollment,
              registrationId: match.registrationId,
              linkedHubs,
              region: ctx.region ?? this.opts.defaultRegion,
              payload,
              currentHub: previous?.hub,
              currentDeviceId: previous?.deviceId,
              x509: { certificateInfo: certificateInfo(match.leaf) },
            },
            this.opts.fetch,
          );
      // Issue before touching the registry, so a refused csr leaves the device where it was.
      let issuedCertificateChain: string[] | undefined;
      let issuedLeaf: Certificate | undefined;
      if (csr && this.opts.issuer) {
        const policy = match.enrollment.certificateIssuancePolicy!;
        const issued = await this.opts.issuer.issue({
          tenant: { id: tenantId, idScope },
          ca: policy.issuingCa,
          profile: policy.profile ?? 'device',
          csr,
          requester: `dps:${match.registrationId}`,
          method: 'dps-csr',
          validityDays: policy.validityDays,
        });
        issuedCertificateChain = [issued.certificate, ...issued.caChain].map((c) => c.der.toString('base64'));
        issuedLeaf = issued.certificate;
      }
      const substatus = await this.deps.registry.assign({
        tenantId,
        match,
        deviceId,
        hub: allocation.hub,
        initialTwin: allocation.initialTwin ?? match.enrollment.initialTwin,
        previous,
        linkedHub: linkedHubs.find((h) => idKey(h.hostName) === idKey(allocation.hub)),
        ...(issuedLeaf ? { issued: issuedLeaf } : {}),
      });
      state = {
        ...base,
        assignedHub: allocation.hub,
        deviceId,
        status: 'assigned',
        substatus,
        ...(allocation.payload !== undefined ? { payload: allocation.payload } : {}),
        ...(issuedCertificateChain ? { issuedCertificateChain } : {}),
      };
      this.opts.logger.info(
        {
          registrationId: match.registrationId,
          hub: allocation.hub,
          deviceId,
          substatus,
          enrollment: match.kind,
        },
        'device assigned',
      );
    } catch (e) {
      const err = isZtError(e)
        ? e
        : new ZtError('INTERNAL', 'assignment failed inside zerotouch; see the server log');
      if (!isZtError(e))
        this.opts.logger.error({ err: e, registrationId: match.registrationId }, 'assignment failed');
      else
        this.opts.logger.info(
          { registrationId: match.registrationId, code: err.code, reason: operatorText(err) },
          'assignment failed',
        );
      state = { ...base, status: 'failed', ...failure(err) };
    }
    state.lastUpdatedDateTimeUtc = new Date().toISOString();
    state.etag = Buffer.from(`"${randomUUID()}"`).toString('base64');
    await this.store.putRegistration(tenantId, operationId, state);
    this.deps.audit?.note({
      tenantId,
      action: state.status === 'assigned' ? 'registration.assigned' : 'registration.failed',
      target: `registration/${match.registrationId}`,
      outcome: state.status === 'assigned' ? 'ok' : 'failed',
      ...(state.status === 'assigned' ? {} : { code: String(state.errorCode) }),
      actor: { kind: 'device', id: match.registrationId },
      detail: {
        operationId,
        ...(state.assignedHub ? { assignedHub: state.assignedHub, deviceId: state.deviceId } : {}),
        ...(state.substatus ? { substatus: state.substatus } : {}),
        ...(state.errorMessage ? { reason: state.errorMessage } : {}),
        enrollment: match.kind === 'group' ? `group/${match.enrollment.enrollmentGroupId}` : 'individual',
        certificate: match.leaf.sha256,
      },
    });
    live.result = { operationId, status: state.status, registrationState: state };
  }

  /** Answers a poll (GET .../operations/{id}). */
  async operation(
    idScope: string,
    urlRegistrationId: string,
    operationId: string,
    chain: Certificate[],
  ): Promise<RegistrationOperation> {
    requireChain(chain);
    this.checkIdentity(urlRegistrationId, chain);
    this.forgetFinished();
    const live = this.operations.get(operationId);
    const ours = live && idKey(live.registrationId) === idKey(urlRegistrationId) ? live : undefined;
    // An operation running here, polled with the scope text it was started with, was matched
    // when it started: no tenant lookup.
    let scope: DeviceScope | undefined;
    if (ours?.scopeText !== idScope) scope = await this.deviceScope(idScope);
    const scopeKey = scope ? scope.key : ours!.tenantId;
    this.throttle(this.pollLimit, `${scopeKey}/${idKey(urlRegistrationId)}`, 'status polls');
    if (ours && (!scope || scope.id === ours.tenantId)) {
      if (chain[0]!.tbsSha256 !== ours.leafTbs) {
        throw new ZtError(
          'UNAUTHENTICATED',
          'this operation was started with another certificate; poll with the same one',
        );
      }
      if (ours.result) return { ...ours.result, registrationState: forDevice(ours.result.registrationState) };
      return {
        operationId,
        status: 'assigning',
        registrationState: { registrationId: ours.registrationId, status: 'assigning' },
      };
    }
    scope ??= await this.deviceScope(idScope);
    // Only a device that still matches its enrollment reads the stored outcome.
    const match = await this.match(idScope, scope, chain);
    const stored = await this.store.findRegistration(scope.id!, urlRegistrationId);
    if (stored && stored.operationId === operationId && stored.status !== 'assigning') {
      return { operationId, status: stored.status, registrationState: forDevice(stored.state) };
    }
    // An operation another node started (or this node before a restart) that has no record yet:
    // still assigning, until the deadline. Its ID proves it is genuine and whose it is.
    const createdAt = operationCreatedAt(
      await this.opKey(),
      operationId,
      operationBinding(scope.id!, match.registrationId, chain[0]!.tbsSha256),
    );
    // A later registration of the device finished after this one began (they run one at a time):
    // its record is the device's state now.
    if (
      createdAt !== undefined &&
      stored &&
      stored.status !== 'assigning' &&
      Date.parse(stored.updatedAt) >= createdAt
    ) {
      return { operationId, status: stored.status, registrationState: forDevice(stored.state) };
    }
    const age = createdAt === undefined ? Infinity : Date.now() - createdAt;
    if (
      age < ASSIGNING_DEADLINE_MS &&
      (age < LEASE_GRACE_MS || (await this.store.leaseHeld(`${scope.id}/${idKey(match.registrationId)}`)))
    ) {
      return {
        operationId,
        status: 'assigning',
        registrationState: { registrationId: match.registrationId, status: 'assigning' },
      };
    }
    throw new ZtError(
      'NOT_FOUND',
      createdAt === undefined
        ? `operation ${operationId} of ${urlRegistrationId} is not known; register again`
        : `operation ${operationId} of ${urlRegistrationId} is no longer running and left no record (the server running it stopped); register again`,
    );
  }

  /** Diagnoses the presented chain for its own registration ID (the device-side check). */
  async diagnose(idScope: string, urlRegistrationId: string, chain: Certificate[]): Promise<Diagnosis> {
    this.checkIdentity(urlRegistrationId, chain);
    const scope = await this.deviceScope(idScope);
    this.throttle(this.pollLimit, `${scope.key}/${idKey(urlRegistrationId)}`, 'diagnose calls');
    return diagnose(this.deps.matcher, scope.id, chain, this.opts.issuer, 'device');
  }

  /** Answers a status lookup (POST .../registrations/{id}) with the latest registration state. */
  async status(
    idScope: string,
    urlRegistrationId: string,
    chain: Certificate[],
  ): Promise<DeviceRegistrationState> {
    this.checkIdentity(urlRegistrationId, chain);
    const scope = await this.deviceScope(idScope);
    await this.match(idScope, scope, chain);
    const stored = await this.store.findRegistration(scope.id!, urlRegistrationId);
    if (!stored)
      throw new ZtError(
        'NOT_FOUND',
        `${urlRegistrationId} has not registered yet; register first (PUT .../register)`,
      );
    return forDevice(stored.state);
  }

  // ------------------------------------------------------------ operator side

  /** Diagnoses a chain in a tenant for an operator: the whole reason when it is refused. */
  diagnoseChain(tenantId: string, chain: Certificate[]): Promise<Diagnosis> {
    return diagnose(this.deps.matcher, tenantId, chain, this.opts.issuer, 'operator');
  }

  /** The registration record of a registration ID, or NOT_FOUND. */
  async record(tenantId: string, registrationId: string): Promise<DeviceRegistrationState> {
    const r = await this.store.findRegistration(tenantId, registrationId);
    if (!r) throw notRecorded(registrationId);
    return r.state;
  }

  /** A page of registration records, optionally filtered (a string filter is an enrollment group). */
  records(
    tenantId: string,
    max?: number,
    continuation?: string,
    filter?: string | RegistrationFilter,
  ): Promise<Page<DeviceRegistrationState>> {
    return this.store.listRegistrations(tenantId, max, continuation, filter);
  }

  /** Deletes a registration record (the device registers afresh); `ifMatch` makes it conditional. */
  async deleteRecord(tenantId: string, registrationId: string, ifMatch?: string): Promise<void> {
    const r = await this.store.findRegistration(tenantId, registrationId);
    if (!r) throw notRecorded(registrationId);
    if (ifMatch && !etagMatches(ifMatch, r.etag)) {
      throw new ZtError(
        'PRECONDITION_FAILED',
        `etag ${ifMatch} is stale (now ${r.etag}); read the registration record again and retry`,
      );
    }
    if (!(await this.store.deleteRegistration(tenantId, registrationId, r.etag))) {
      throw new ZtError(
        'PRECONDITION_FAILED',
        `the registration record of ${registrationId} changed while it was being deleted; read it again and retry`,
      );
    }
  }

  /** Waits for in-flight assignments (graceful shutdown and tests). */
  async drain(): Promise<void> {
    await Promise.all([...this.operations.values()].map((o) => o.done.catch(() => undefined)));
  }

  /** The store-shared key of operation IDs (read once). */
  private opKey(): Promise<Buffer> {
    this.operationKey ??= this.store.sharedSecret('dps-operation-ids').catch((e: unknown) => {
      this.operationKey = undefined;
      throw e;
    });
    return this.operationKey;
  }

  /** Drops finished operations older than RESULT_TTL_MS: constant work per call, whatever the load. */
  private forgetFinished(): void {
    for (const id of this.finished.expired(Date.now())) this.operations.delete(id);
  }
}

/** Keys in the order they expire (one fixed TTL, so insertion order is expiry order). */
class ExpiryQueue {
  private items: Array<[at: number, key: string]> = [];
  private head = 0;

  add(key: string, at: number): void {
    this.items.push([at, key]);
  }

  /** Takes the keys expired by `now` off the queue. */
  *expired(now: number): Generator<string> {
    while (this.head < this.items.length && this.items[this.head]![0] <= now)
      yield this.items[this.head++]![1];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}
