/**
 * Individual enrollments and enrollment groups: validation and defaults of the Azure-shaped
 * documents, certificate info, etags with If-Match.
 */
import { isZtError, ZtError } from '../../errors.ts';
import { loadCertificates } from '../../pki/certificate.ts';
import type { Page } from '../../store/paging.ts';
import type { CaService } from '../cas/service.ts';
import { etagMatches, newEtag } from '../etag.ts';
import type { HubService } from '../hubs/service.ts';
import { idKey } from '../id-key.ts';
import { dpsErrorCode } from '../provisioning/dps-error-codes.ts';
import { certificateInfo } from './certificate-info.ts';
import { assertRegistrationId } from './registration-id.ts';
import type { EnrollmentStore, GroupSigners } from './store.ts';
import type {
  AllocationPolicy,
  EnrollmentBase,
  EnrollmentGroup,
  EnrollmentKind,
  IndividualEnrollment,
  X509CertificateInfo,
  X509CertificateWithInfo,
} from './types.ts';

const POLICIES: AllocationPolicy[] = ['hashed', 'geoLatency', 'static', 'custom'];
const GROUP_ID_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

const bad = (m: string) => new ZtError('BAD_REQUEST', m);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses an uploaded certificate (PEM or base64 DER) into info; keeps info from a previous read. */
function certSlot(
  slot: unknown,
  where: string,
  previous?: X509CertificateWithInfo,
): X509CertificateWithInfo | undefined {
  if (slot === undefined || slot === null) return undefined;
  if (!isObject(slot)) throw bad(`${where} must be an object with "certificate"`);
  if (typeof slot.certificate === 'string' && slot.certificate.trim()) {
    const certs = loadCertificates(slot.certificate);
    if (certs.length !== 1) {
      throw bad(
        `${where}.certificate holds ${certs.length} certificates; give exactly one (not a full chain)`,
      );
    }
    return { info: certificateInfo(certs[0]) };
  }
  const info = slot.info as X509CertificateInfo | undefined;
  if (info?.sha256Thumbprint && previous?.info?.sha256Thumbprint === info.sha256Thumbprint) return { info };
  throw bad(`${where}.certificate is missing; give the certificate as PEM or base64 DER`);
}

/** Validates the fields shared by both kinds and fills in DPS defaults. */
function normalizeBase(
  body: Record<string, unknown>,
  hubs: Set<string>,
): Omit<EnrollmentBase, 'attestation'> {
  const out: Omit<EnrollmentBase, 'attestation'> = {
    capabilities: { iotEdge: false },
    provisioningStatus: 'enabled',
    reprovisionPolicy: { updateHubAssignment: true, migrateDeviceData: true },
  };
  if (body.provisioningStatus !== undefined) {
    if (body.provisioningStatus !== 'enabled' && body.provisioningStatus !== 'disabled') {
      throw bad('provisioningStatus must be "enabled" or "disabled"');
    }
    out.provisioningStatus = body.provisioningStatus;
  }
  if (body.capabilities !== undefined) {
    if (!isObject(body.capabilities)) throw bad('capabilities must be an object like {"iotEdge": true}');
    out.capabilities = { iotEdge: body.capabilities.iotEdge === true };
  }
  if (body.reprovisionPolicy !== undefined && body.reprovisionPolicy !== null) {
    const r = body.reprovisionPolicy;
    if (!isObject(r))
      throw bad('reprovisionPolicy must be {"updateHubAssignment": bool, "migrateDeviceData": bool}');
    out.reprovisionPolicy = {
      updateHubAssignment: r.updateHubAssignment !== false,
      migrateDeviceData: r.migrateDeviceData !== false,
    };
  }
  if (body.initialTwin !== undefined && body.initialTwin !== null) {
    const t = body.initialTwin;
    if (!isObject(t)) throw bad('initialTwin must be {"tags": {...}, "properties": {"desired": {...}}}');
    if (t.tags !== undefined && t.tags !== null && !isObject(t.tags))
      throw bad('initialTwin.tags must be an object');
    const props = t.properties;
    if (
      props !== undefined &&
      props !== null &&
      !(isObject(props) && (props.desired === undefined || isObject(props.desired)))
    ) {
      throw bad('initialTwin.properties.desired must be an object');
    }
    out.initialTwin = {
      tags: (t.tags as Record<string, unknown>) ?? {},
      properties: {
        desired: ((props as Record<string, unknown> | undefined)?.desired as Record<string, unknown>) ?? {},
      },
    };
  }
  const hubList = (v: unknown, name: string) => {
    if (!Array.isArray(v) || v.some((h) => typeof h !== 'string'))
      throw bad(`${name} must be a list of hub host names`);
    for (const h of v as string[]) {
      if (!hubs.has(idKey(h))) {
        throw bad(`${name}: ${h} is not a linked hub of this scope; link it first (PUT .../hubs/${h})`);
      }
    }
    return v as string[];
  };
  if (body.iotHubs !== undefined && body.iotHubs !== null) out.iotHubs = hubList(body.iotHubs, 'iotHubs');
  if (typeof body.iotHubHostName === 'string' && body.iotHubHostName) {
    out.iotHubHostName = hubList([body.iotHubHostName], 'iotHubHostName')[0];
  }
  if (body.allocationPolicy !== undefined && body.allocationPolicy !== null) {
    if (!POLICIES.includes(body.allocationPolicy as AllocationPolicy)) {
      throw bad(`allocationPolicy must be one of ${POLICIES.join(', ')}`);
    }
    out.allocationPolicy = body.allocationPolicy as AllocationPolicy;
  }
  if (body.customAllocationDefinition !== undefined && body.customAllocationDefinition !== null) {
    const c = body.customAllocationDefinition;
    if (!isObject(c) || typeof c.webhookUrl !== 'string')
      throw bad('customAllocationDefinition needs webhookUrl');
    let url: URL;
    try {
      url = new URL(c.webhookUrl);
    } catch {
      throw bad(`customAllocationDefinition.webhookUrl "${c.webhookUrl}" is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:')
      throw bad('customAllocationDefinition.webhookUrl must be http(s)');
    out.customAllocationDefinition = {
      webhookUrl: c.webhookUrl,
      apiVersion: typeof c.apiVersion === 'string' ? c.apiVersion : '2019-03-31',
    };
  }
  if (out.allocationPolicy === 'custom' && !out.customAllocationDefinition) {
    throw bad('allocationPolicy "custom" needs customAllocationDefinition.webhookUrl');
  }
  if (out.allocationPolicy === 'static') {
    const n = (out.iotHubs ?? (out.iotHubHostName ? [out.iotHubHostName] : [])).length;
    if (n !== 1) throw bad(`allocationPolicy "static" needs exactly one hub in iotHubs (got ${n})`);
  }
  if (body.certificateIssuancePolicy !== undefined && body.certificateIssuancePolicy !== null) {
    const p = body.certificateIssuancePolicy;
    if (!isObject(p)) throw bad('certificateIssuancePolicy must be an object like {"validityDays": 30}');
    const days = p.validityDays;
    if (days !== undefined && (!Number.isInteger(days) || (days as number) < 1 || (days as number) > 3650)) {
      throw bad('certificateIssuancePolicy.validityDays must be a whole number from 1 to 3650');
    }
    for (const k of ['issuingCa', 'profile'] as const) {
      if (p[k] !== undefined && (typeof p[k] !== 'string' || !p[k])) {
        throw bad(`certificateIssuancePolicy.${k} must be a name`);
      }
    }
    out.certificateIssuancePolicy = {
      ...(days !== undefined ? { validityDays: days as number } : {}),
      ...(p.issuingCa ? { issuingCa: p.issuingCa as string } : {}),
      ...(p.profile ? { profile: p.profile as string } : {}),
    };
  }
  return out;
}

function x509Of(body: Record<string, unknown>): Record<string, unknown> {
  const a = body.attestation;
  if (!isObject(a)) throw bad('attestation is required, e.g. {"type": "x509", "x509": {...}}');
  if (a.type !== 'x509') {
    throw bad(
      `attestation type "${String(a.type)}" is not supported; zerotouch provisions with X.509 ("type": "x509")`,
    );
  }
  if (!isObject(a.x509)) throw bad('attestation.x509 is required');
  return a.x509;
}

/** CRUD for enrollments with DPS semantics. */
const BULK_MODES = new Set(['create', 'update', 'updateifmatchetag', 'delete']);
/** Azure's limit per bulk operation. */
const BULK_MAX = 10;

export class EnrollmentService {
  private readonly store: EnrollmentStore;
  private readonly hubs: Pick<HubService, 'list'>;
  private readonly cas: Pick<CaService, 'find'>;

  constructor(store: EnrollmentStore, hubs: Pick<HubService, 'list'>, cas: Pick<CaService, 'find'>) {
    this.store = store;
    this.hubs = hubs;
    this.cas = cas;
  }

  private async hubSet(tenantId: string): Promise<Set<string>> {
    return new Set((await this.hubs.list(tenantId)).map((h) => idKey(h.hostName)));
  }

  /** Creates or replaces an individual enrollment; `ifMatch` makes it conditional. */
  async putIndividual(
    tenantId: string,
    id: string,
    body: unknown,
    ifMatch?: string,
  ): Promise<IndividualEnrollment> {
    if (!isObject(body)) throw bad('the body must be a JSON enrollment object');
    assertRegistrationId(id);
    if (body.registrationId !== undefined && idKey(String(body.registrationId)) !== idKey(id)) {
      throw bad(
        `registrationId in the body (${String(body.registrationId)}) differs from the one in the path (${id})`,
      );
    }
    const prev = await this.store.findEnrollment<IndividualEnrollment>(tenantId, 'individual', id);
    const x509 = x509Of(body);
    const cc = isObject(x509.clientCertificates) ? x509.clientCertificates : undefined;
    const prevCc = prev?.doc.attestation.x509?.clientCertificates;
    const primary = certSlot(cc?.primary, 'attestation.x509.clientCertificates.primary', prevCc?.primary);
    if (!primary) {
      throw bad(
        'an individual X.509 enrollment needs attestation.x509.clientCertificates.primary.certificate (the device certificate)',
      );
    }
    const secondary = certSlot(
      cc?.secondary,
      'attestation.x509.clientCertificates.secondary',
      prevCc?.secondary,
    );
    let deviceId: string | undefined;
    if (typeof body.deviceId === 'string' && body.deviceId) deviceId = body.deviceId;
    const base = normalizeBase(body, await this.hubSet(tenantId));
    const doc: IndividualEnrollment = {
      registrationId: prev?.doc.registrationId ?? id,
      ...(deviceId ? { deviceId } : {}),
      attestation: {
        type: 'x509',
        x509: { clientCertificates: { primary, ...(secondary ? { secondary } : {}) } },
      },
      ...base,
      ...(isObject(body.optionalDeviceInformation)
        ? { optionalDeviceInformation: body.optionalDeviceInformation }
        : {}),
    };
    return this.write(tenantId, 'individual', id, doc, prev, ifMatch, {
      signer1: null,
      signer2: null,
      caRef1: null,
      caRef2: null,
    });
  }

  /** Creates or replaces an enrollment group; `ifMatch` makes it conditional. */
  async putGroup(tenantId: string, id: string, body: unknown, ifMatch?: string): Promise<EnrollmentGroup> {
    if (!isObject(body)) throw bad('the body must be a JSON enrollment group object');
    if (!GROUP_ID_RE.test(id)) {
      throw bad(
        `enrollmentGroupId "${id}" is not valid; use letters, digits, "-", ".", "_" or ":" (up to 128)`,
      );
    }
    if (body.enrollmentGroupId !== undefined && idKey(String(body.enrollmentGroupId)) !== idKey(id)) {
      throw bad(
        `enrollmentGroupId in the body (${String(body.enrollmentGroupId)}) differs from the one in the path (${id})`,
      );
    }
    const prev = await this.store.findEnrollment<EnrollmentGroup>(tenantId, 'group', id);
    const x509 = x509Of(body);
    const prevSc = prev?.doc.attestation.x509?.signingCertificates;
    const sc = isObject(x509.signingCertificates) ? x509.signingCertificates : undefined;
    const primary = certSlot(sc?.primary, 'attestation.x509.signingCertificates.primary', prevSc?.primary);
    const secondary = certSlot(
      sc?.secondary,
      'attestation.x509.signingCertificates.secondary',
      prevSc?.secondary,
    );
    const refs = isObject(x509.caReferences) ? x509.caReferences : undefined;
    const ref1 = typeof refs?.primary === 'string' && refs.primary ? refs.primary : undefined;
    const ref2 = typeof refs?.secondary === 'string' && refs.secondary ? refs.secondary : undefined;
    if (!primary && !ref1) {
      throw bad(
        'an X.509 enrollment group needs attestation.x509.signingCertificates.primary.certificate (the root or intermediate that signs the devices) or attestation.x509.caReferences.primary (the name of an uploaded CA)',
      );
    }
    if (primary && ref1) throw bad('give either signingCertificates or caReferences, not both');
    for (const ref of [ref1, ref2]) {
      if (ref && !(await this.cas.find(tenantId, ref))) {
        throw bad(
          `caReferences names CA "${ref}", which is not uploaded to this scope; upload it first (POST .../cas)`,
        );
      }
    }
    const base = normalizeBase(body, await this.hubSet(tenantId));
    const doc: EnrollmentGroup = {
      enrollmentGroupId: prev?.doc.enrollmentGroupId ?? id,
      attestation: {
        type: 'x509',
        x509: primary
          ? { signingCertificates: { primary, ...(secondary ? { secondary } : {}) } }
          : { caReferences: { primary: ref1, ...(ref2 ? { secondary: ref2 } : {}) } },
      },
      ...base,
    };
    return this.write(tenantId, 'group', id, doc, prev, ifMatch, {
      signer1: primary?.info?.sha256Thumbprint ?? null,
      signer2: secondary?.info?.sha256Thumbprint ?? null,
      caRef1: ref1 ? idKey(ref1) : null,
      caRef2: ref2 ? idKey(ref2) : null,
    });
  }

  private async write<T extends IndividualEnrollment | EnrollmentGroup>(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
    doc: T,
    prev: { doc: T; etag: string } | undefined,
    ifMatch: string | undefined,
    signers: GroupSigners,
  ): Promise<T> {
    const now = new Date().toISOString();
    doc.createdDateTimeUtc = prev?.doc.createdDateTimeUtc ?? now;
    doc.lastUpdatedDateTimeUtc = now;
    doc.etag = newEtag();
    let expect: string | null | undefined;
    if (ifMatch && ifMatch.trim() !== '*') {
      if (!prev)
        throw new ZtError(
          'PRECONDITION_FAILED',
          `${kind} enrollment ${id} does not exist, so If-Match cannot match`,
        );
      if (!etagMatches(ifMatch, prev.etag)) {
        throw new ZtError(
          'PRECONDITION_FAILED',
          `etag ${ifMatch} is stale (now ${prev.etag}); read the enrollment again and retry`,
        );
      }
      expect = prev.etag;
    } else if (ifMatch?.trim() === '*') {
      if (!prev)
        throw new ZtError('PRECONDITION_FAILED', `${kind} enrollment ${id} does not exist (If-Match: *)`);
      expect = prev.etag;
    } else {
      expect = prev ? prev.etag : null;
    }
    if (!(await this.store.putEnrollment(tenantId, kind, id, doc, signers, expect))) {
      throw new ZtError(
        'PRECONDITION_FAILED',
        `${kind} enrollment ${id} changed while this write was in progress; read it again and retry`,
      );
    }
    return doc;
  }

  /** The enrollment, or NOT_FOUND. */
  async get<T extends IndividualEnrollment | EnrollmentGroup>(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
  ): Promise<T> {
    const e = await this.store.findEnrollment<T>(tenantId, kind, id);
    if (!e)
      throw new ZtError(
        'NOT_FOUND',
        `no ${kind === 'group' ? 'enrollment group' : 'individual enrollment'} "${id}" in this scope`,
      );
    return e.doc;
  }

  /**
   * The Azure bulk operation: up to 10 enrollments created, updated (optionally only on a
   * matching etag) or deleted one by one; each failure is reported with its DPS error code.
   */
  async bulk(
    tenantId: string,
    kind: EnrollmentKind,
    modeIn: unknown,
    items: unknown,
  ): Promise<{ isSuccessful: boolean; errors: Array<Record<string, unknown>> }> {
    const mode = String(modeIn ?? '').toLowerCase();
    if (!BULK_MODES.has(mode)) {
      throw new ZtError('BAD_REQUEST', 'mode must be create, update, updateIfMatchETag or delete');
    }
    if (!Array.isArray(items) || items.length === 0 || items.length > BULK_MAX) {
      throw new ZtError(
        'BAD_REQUEST',
        `a bulk operation takes 1 to ${BULK_MAX} ${kind === 'individual' ? 'enrollments' : 'enrollmentGroups'}`,
      );
    }
    const idField = kind === 'individual' ? 'registrationId' : 'enrollmentGroupId';
    const errors: Array<Record<string, unknown>> = [];
    for (const item of items as Array<Record<string, unknown>>) {
      const id = String(item?.[idField] ?? '');
      try {
        if (!id) throw new ZtError('BAD_REQUEST', `${idField} is required`);
        const etag = item.etag as string | undefined;
        if (mode === 'delete') await this.delete(tenantId, kind, id, etag);
        else {
          if (mode === 'create' && (await this.store.findEnrollment(tenantId, kind, id))) {
            throw new ZtError('CONFLICT', `${id} already exists`);
          }
          const ifMatch = mode === 'updateifmatchetag' ? etag : undefined;
          if (kind === 'individual') await this.putIndividual(tenantId, id, item, ifMatch);
          else await this.putGroup(tenantId, id, item, ifMatch);
        }
      } catch (e) {
        if (!isZtError(e)) throw e;
        errors.push({ [idField]: id, errorCode: dpsErrorCode(e), errorStatus: e.message });
      }
    }
    return { isSuccessful: errors.length === 0, errors };
  }

  async delete(tenantId: string, kind: EnrollmentKind, id: string, ifMatch?: string): Promise<void> {
    const e = await this.store.findEnrollment(tenantId, kind, id);
    if (!e)
      throw new ZtError(
        'NOT_FOUND',
        `no ${kind === 'group' ? 'enrollment group' : 'individual enrollment'} "${id}" in this scope`,
      );
    if (ifMatch && !etagMatches(ifMatch, e.etag)) {
      throw new ZtError(
        'PRECONDITION_FAILED',
        `etag ${ifMatch} is stale (now ${e.etag}); read it again and retry`,
      );
    }
    await this.store.deleteEnrollment(tenantId, kind, id);
  }

  list<T>(tenantId: string, kind: EnrollmentKind, max?: number, continuation?: string): Promise<Page<T>> {
    return this.store.listEnrollments<T>(tenantId, kind, max, continuation);
  }
}
