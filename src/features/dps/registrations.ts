/**
 * Device registration with DPS semantics: authenticate the presented chain, match the enrollment,
 * answer "assigning" at once and finish the assignment (allocation, registry, registration record)
 * in the background; devices poll the operation. One device's registrations run one at a time.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { isZtError, ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import { type CertificationRequest, parseCsr, verifyCsr } from '../../pki/csr.ts';
import type { TenantService } from '../tenants/service.ts';
import { allocate } from './allocation.ts';
import { certificateInfo } from './enrollments.ts';
import { type Diagnosis, diagnose } from './diagnose.ts';
import { dpsErrorCode } from './error-codes.ts';
import { KeyedLock } from './keyed-lock.ts';
import { type Match, matchEnrollment, type RevocationCheck } from './matching.ts';
import { RateLimiter } from './rate-limit.ts';
import { applyAssignment } from './registry.ts';
import { type DpsStore, idKey } from './store.ts';
import type { DeviceRegistrationState, RegistrationOperation } from './types.ts';

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

/** api-versions whose registrations may carry a csr (reference azure-dps.md 1.12). */
function allowsCsr(apiVersion: string | undefined): boolean {
  return !!apiVersion && apiVersion >= '2025-07-01';
}

/** Operations kept in memory for polling; the latest per device is also in the store. */
interface LiveOperation {
  tenantId: string;
  registrationId: string;
  leafSha256: string;
  done: Promise<void>;
  result?: RegistrationOperation;
  expires: number;
}

const OPERATION_TTL_MS = 15 * 60 * 1000;

/** An operation ID in the DPS shape: `<digit>.<16 hex>.<uuid>`. */
function newOperationId(): string {
  return `5.${randomBytes(8).toString('hex')}.${randomUUID()}`;
}

/** Runs DPS registrations and answers their polls. */
export class RegistrationService {
  private readonly store: DpsStore;
  private readonly tenants: TenantService;
  private readonly opts: RegistrationOptions;
  private readonly locks = new KeyedLock();
  private readonly operations = new Map<string, LiveOperation>();
  // DPS allows 5 polls per 10 s per device; registrations get a small burst for retries.
  private readonly pollLimit = new RateLimiter({ capacity: 5, refillSeconds: 2 });
  private readonly registerLimit = new RateLimiter({ capacity: 10, refillSeconds: 6 });

  constructor(store: DpsStore, tenants: TenantService, opts: RegistrationOptions) {
    this.store = store;
    this.tenants = tenants;
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

  /** Starts a registration (PUT .../register); answers with the operation in "assigning". */
  async register(
    idScope: string,
    urlRegistrationId: string,
    body: unknown,
    ctx: RegisterContext,
  ): Promise<RegistrationOperation> {
    const tenant = await this.tenants.getTenant(idScope);
    const b = (body ?? {}) as Record<string, unknown>;
    if (typeof b !== 'object' || Array.isArray(b))
      throw new ZtError('BAD_REQUEST', 'the body must be a JSON object');
    if (b.registrationId !== undefined && idKey(String(b.registrationId)) !== idKey(urlRegistrationId)) {
      throw new ZtError(
        'REGISTRATION_ID_MISMATCH',
        `registrationId in the body (${String(b.registrationId)}) differs from the URL (${urlRegistrationId})`,
      );
    }
    if (
      b.payload !== undefined &&
      b.payload !== null &&
      (typeof b.payload !== 'object' || Array.isArray(b.payload))
    ) {
      throw new ZtError(
        'BAD_REQUEST',
        'payload must be a JSON object (DPS passes it to the custom allocation webhook)',
      );
    }
    let csr: CertificationRequest | undefined;
    if (b.csr !== undefined && b.csr !== null) {
      if (!allowsCsr(ctx.apiVersion)) {
        throw new ZtError(
          'BAD_REQUEST',
          `csr needs api-version 2025-07-01-preview or later (got ${ctx.apiVersion ?? 'none'})`,
        );
      }
      if (typeof b.csr !== 'string')
        throw new ZtError('BAD_REQUEST', 'csr must be a base64 DER PKCS#10 string');
      csr = parseCsr(b.csr);
      verifyCsr(csr);
      if (!csr.commonName || idKey(csr.commonName) !== idKey(urlRegistrationId)) {
        throw new ZtError(
          'BAD_REQUEST',
          `the csr subject CN (${csr.commonName ?? 'none'}) must be the registration ID (${urlRegistrationId})`,
        );
      }
    }
    this.checkIdentity(urlRegistrationId, ctx.chain);
    this.throttle(this.registerLimit, `${tenant.id}/${idKey(urlRegistrationId)}`, 'registrations');

    let match: Match;
    try {
      match = await matchEnrollment(this.store, tenant.id, ctx.chain, new Date(), this.opts.issuer);
      if (csr && (!match.enrollment.certificateIssuancePolicy || !this.opts.issuer)) {
        throw new ZtError('BAD_REQUEST', 'Device sent CSR but it is not configured in the service.');
      }
    } catch (e) {
      this.opts.logger.info(
        {
          idScope,
          registrationId: urlRegistrationId,
          code: isZtError(e) ? e.code : undefined,
          reason: (e as Error).message,
        },
        'registration rejected',
      );
      if (isZtError(e, 'ENROLLMENT_DISABLED')) await this.recordFailure(tenant.id, urlRegistrationId, e);
      throw e;
    }

    const operationId = newOperationId();
    const live: LiveOperation = {
      tenantId: tenant.id,
      registrationId: match.registrationId,
      leafSha256: match.leaf.sha256,
      done: Promise.resolve(),
      expires: Date.now() + OPERATION_TTL_MS,
    };
    this.sweep();
    this.operations.set(operationId, live);
    live.done = this.locks
      .run(`${tenant.id}/${idKey(match.registrationId)}`, () =>
        this.assign(operationId, live, match, b.payload, ctx, tenant.idScope, csr),
      )
      .catch((e: unknown) => {
        // The store failed while recording: tell the device, which will register again.
        this.opts.logger.error(
          { err: e, registrationId: match.registrationId },
          'registration could not be recorded',
        );
        const state: DeviceRegistrationState = {
          registrationId: match.registrationId,
          status: 'failed',
          errorCode: 500001,
          errorMessage: 'the registration could not be recorded; register again',
        };
        live.result = { operationId, status: 'failed', registrationState: state };
      });
    return {
      operationId,
      status: 'assigning',
      registrationState: { registrationId: match.registrationId, status: 'assigning' },
    };
  }

  private async recordFailure(tenantId: string, registrationId: string, e: ZtError): Promise<void> {
    const prev = await this.store.findRegistration(tenantId, registrationId);
    const now = new Date().toISOString();
    await this.store.putRegistration(tenantId, prev?.operationId ?? newOperationId(), {
      ...(prev?.state ?? {}),
      registrationId: prev?.state.registrationId ?? registrationId,
      status: 'failed',
      errorCode: dpsErrorCode(e),
      errorMessage: e.message,
      createdDateTimeUtc: prev?.state.createdDateTimeUtc ?? now,
      lastUpdatedDateTimeUtc: now,
      etag: Buffer.from(`"${randomUUID()}"`).toString('base64'),
    });
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
      const allocation = keep
        ? { hub: previous.hub, initialTwin: undefined, payload: undefined }
        : await allocate(
            {
              kind: match.kind,
              enrollment: match.enrollment,
              registrationId: match.registrationId,
              linkedHubs: await this.store.listHubs(tenantId),
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
      }
      const substatus = await applyAssignment(this.store, {
        tenantId,
        match,
        deviceId,
        hub: allocation.hub,
        initialTwin: allocation.initialTwin ?? match.enrollment.initialTwin,
        previous,
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
          { registrationId: match.registrationId, code: err.code, reason: err.message },
          'assignment failed',
        );
      state = { ...base, status: 'failed', errorCode: dpsErrorCode(err), errorMessage: err.message };
    }
    state.lastUpdatedDateTimeUtc = new Date().toISOString();
    state.etag = Buffer.from(`"${randomUUID()}"`).toString('base64');
    await this.store.putRegistration(tenantId, operationId, state);
    live.result = { operationId, status: state.status, registrationState: state };
  }

  /** Answers a poll (GET .../operations/{id}). */
  async operation(
    idScope: string,
    urlRegistrationId: string,
    operationId: string,
    chain: Certificate[],
  ): Promise<RegistrationOperation> {
    const tenant = await this.tenants.getTenant(idScope);
    this.checkIdentity(urlRegistrationId, chain);
    this.throttle(this.pollLimit, `${tenant.id}/${idKey(urlRegistrationId)}`, 'status polls');
    const live = this.operations.get(operationId);
    if (live && live.tenantId === tenant.id && idKey(live.registrationId) === idKey(urlRegistrationId)) {
      if (chain[0] && chain[0].sha256 !== live.leafSha256) {
        throw new ZtError(
          'UNAUTHENTICATED',
          'this operation was started with another certificate; poll with the same one',
        );
      }
      if (live.result) return live.result;
      return {
        operationId,
        status: 'assigning',
        registrationState: { registrationId: live.registrationId, status: 'assigning' },
      };
    }
    const stored = await this.store.findRegistration(tenant.id, urlRegistrationId);
    if (stored && stored.operationId === operationId && stored.status !== 'assigning') {
      return { operationId, status: stored.status, registrationState: stored.state };
    }
    throw new ZtError(
      'NOT_FOUND',
      `operation ${operationId} of ${urlRegistrationId} is not known (it may have expired or the server restarted); register again`,
    );
  }

  /** Answers a status lookup (POST .../registrations/{id}) with the latest registration state. */
  /** Diagnoses the presented chain for its own registration ID (the device-side check). */
  async diagnose(idScope: string, urlRegistrationId: string, chain: Certificate[]): Promise<Diagnosis> {
    const tenant = await this.tenants.getTenant(idScope);
    this.checkIdentity(urlRegistrationId, chain);
    this.throttle(this.pollLimit, `${tenant.id}/${idKey(urlRegistrationId)}`, 'diagnose calls');
    return diagnose(this.store, tenant.id, chain, this.opts.issuer);
  }

  async status(
    idScope: string,
    urlRegistrationId: string,
    chain: Certificate[],
  ): Promise<DeviceRegistrationState> {
    const tenant = await this.tenants.getTenant(idScope);
    this.checkIdentity(urlRegistrationId, chain);
    await matchEnrollment(this.store, tenant.id, chain, new Date(), this.opts.issuer);
    const stored = await this.store.findRegistration(tenant.id, urlRegistrationId);
    if (!stored)
      throw new ZtError(
        'NOT_FOUND',
        `${urlRegistrationId} has not registered yet; register first (PUT .../register)`,
      );
    return stored.state;
  }

  /** Waits for in-flight assignments (graceful shutdown and tests). */
  async drain(): Promise<void> {
    await Promise.all([...this.operations.values()].map((o) => o.done.catch(() => undefined)));
  }

  private sweep(): void {
    if (this.operations.size < 10_000) return;
    const now = Date.now();
    for (const [id, op] of this.operations) if (op.expires < now && op.result) this.operations.delete(id);
  }
}
