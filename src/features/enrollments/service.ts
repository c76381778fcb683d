/**
 * Individual enrollments and enrollment groups: defaults of the Azure-shaped documents, the
 * checks their schemas cannot say (certificates parse, hubs are linked, policies fit together),
 * certificate info, etags with If-Match.
 */
import { Value } from 'typebox/value';
import { isZtError, ZtError } from '../../errors.ts';
import { loadCertificates } from '../../pki/certificate.ts';
import type { Page } from '../../store/paging.ts';
import type { CaService } from '../cas/service.ts';
import { etagMatches, newEtag } from '../etag.ts';
import { mergePatch } from '../merge-patch.ts';
import type { HubService } from '../hubs/service.ts';
import { idKey } from '../id-key.ts';
import { dpsErrorCode } from '../provisioning/dps-error-codes.ts';
import { certificateInfo } from './certificate-info.ts';
import type { EnrollmentStore, GroupSigners } from './store.ts';
import {
  type BulkResult,
  type EnrollmentGroup,
  type EnrollmentGroupInput,
  EnrollmentGroupInputSchema,
  type EnrollmentKind,
  type IndividualEnrollment,
  type IndividualEnrollmentInput,
  IndividualEnrollmentInputSchema,
  type X509CertificateWithInfo,
} from './types.ts';

const bad = (m: string) => new ZtError('BAD_REQUEST', m);

type Slot = { certificate?: string | null; info?: X509CertificateWithInfo['info'] | null } | null | undefined;

/** Parses an uploaded certificate (PEM or base64 DER) into info; keeps info from a previous read. */
function certSlot(
  slot: Slot,
  where: string,
  previous?: X509CertificateWithInfo,
): X509CertificateWithInfo | undefined {
  if (!slot) return undefined;
  if (slot.certificate?.trim()) {
    const certs = loadCertificates(slot.certificate);
    if (certs.length !== 1) {
      throw bad(
        `${where}.certificate holds ${certs.length} certificates; give exactly one (not a full chain)`,
      );
    }
    return { info: certificateInfo(certs[0]) };
  }
  // The SDKs send back the info they read: that is the same certificate, unchanged.
  const info = slot.info ?? undefined;
  if (info?.sha256Thumbprint && previous?.info?.sha256Thumbprint === info.sha256Thumbprint) return { info };
  throw bad(`${where}.certificate is missing; give the certificate as PEM or base64 DER`);
}

type Shared = Omit<
  IndividualEnrollment,
  'registrationId' | 'deviceId' | 'optionalDeviceInformation' | 'attestation'
>;

/** Fills in DPS defaults and checks what spans fields or needs the scope's hubs. */
function withDefaults(body: IndividualEnrollmentInput | EnrollmentGroupInput, hubs: Set<string>): Shared {
  const out: Shared = {
    capabilities: { iotEdge: body.capabilities?.iotEdge === true },
    provisioningStatus: body.provisioningStatus ?? 'enabled',
    reprovisionPolicy: {
      updateHubAssignment: body.reprovisionPolicy?.updateHubAssignment !== false,
      migrateDeviceData: body.reprovisionPolicy?.migrateDeviceData !== false,
    },
  };
  if (body.initialTwin) {
    out.initialTwin = {
      tags: body.initialTwin.tags ?? {},
      properties: { desired: body.initialTwin.properties?.desired ?? {} },
    };
  }
  const linked = (list: string[], name: string) => {
    for (const h of list) {
      if (!hubs.has(idKey(h))) {
        throw bad(`${name}: ${h} is not a linked hub of this scope; link it first (PUT .../hubs/${h})`);
      }
    }
    return list;
  };
  if (body.iotHubs) out.iotHubs = linked(body.iotHubs, 'iotHubs');
  if (body.iotHubHostName) out.iotHubHostName = linked([body.iotHubHostName], 'iotHubHostName')[0];
  if (body.allocationPolicy) out.allocationPolicy = body.allocationPolicy;
  if (body.mqttAcl) out.mqttAcl = body.mqttAcl;
  if (body.customAllocationDefinition) {
    out.customAllocationDefinition = {
      webhookUrl: body.customAllocationDefinition.webhookUrl,
      apiVersion: body.customAllocationDefinition.apiVersion ?? '2019-03-31',
    };
  }
  if (out.allocationPolicy === 'custom' && !out.customAllocationDefinition) {
    throw bad('allocationPolicy "custom" needs customAllocationDefinition.webhookUrl');
  }
  if (out.allocationPolicy === 'static') {
    const n = (out.iotHubs ?? (out.iotHubHostName ? [out.iotHubHostName] : [])).length;
    if (n !== 1) throw bad(`allocationPolicy "static" needs exactly one hub in iotHubs (got ${n})`);
  }
  if (body.certificateIssuancePolicy) {
    const p = body.certificateIssuancePolicy;
    out.certificateIssuancePolicy = {
      ...(p.validityDays !== undefined ? { validityDays: p.validityDays } : {}),
      ...(p.issuingCa ? { issuingCa: p.issuingCa } : {}),
      ...(p.profile ? { profile: p.profile } : {}),
    };
  }
  return out;
}

/** CRUD for enrollments with DPS semantics. */
/** One row's outcome in an import. */
export interface ImportResult {
  row: number;
  registrationId: string;
  status: 'created' | 'updated' | 'error';
  code?: string;
  error?: string;
}

/** The stored shape of an individual enrollment from its input (`prev`: the stored one it replaces). */
function individualDoc(
  id: string,
  body: IndividualEnrollmentInput,
  prev: IndividualEnrollment | undefined,
  hubs: Set<string>,
): IndividualEnrollment {
  if (body.registrationId !== undefined && idKey(body.registrationId) !== idKey(id)) {
    throw bad(`registrationId in the body (${body.registrationId}) differs from the one in the path (${id})`);
  }
  const cc = body.attestation.x509.clientCertificates;
  const prevCc = prev?.attestation.x509?.clientCertificates;
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
  return {
    registrationId: prev?.registrationId ?? id,
    ...(body.deviceId ? { deviceId: body.deviceId } : {}),
    attestation: {
      type: 'x509',
      x509: { clientCertificates: { primary, ...(secondary ? { secondary } : {}) } },
    },
    ...withDefaults(body, hubs),
    ...(body.optionalDeviceInformation ? { optionalDeviceInformation: body.optionalDeviceInformation } : {}),
  };
}

/** An enrollment written (`after`) or deleted (no `after`). */
export interface EnrollmentChange {
  tenantId: string;
  kind: EnrollmentKind;
  id: string;
  before?: IndividualEnrollment | EnrollmentGroup;
  after?: IndividualEnrollment | EnrollmentGroup;
}

export class EnrollmentService {
  private readonly store: EnrollmentStore;
  private readonly listeners: Array<(c: EnrollmentChange) => void> = [];
  private readonly hubs: Pick<HubService, 'list'>;
  private readonly cas: Pick<CaService, 'find' | 'withCertificates'>;

  constructor(
    store: EnrollmentStore,
    hubs: Pick<HubService, 'list'>,
    cas: Pick<CaService, 'find' | 'withCertificates'>,
  ) {
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
    body: IndividualEnrollmentInput,
    ifMatch?: string,
  ): Promise<IndividualEnrollment> {
    const prev = await this.store.findEnrollment<IndividualEnrollment>(tenantId, 'individual', id);
    const doc = individualDoc(id, body, prev?.doc, await this.hubSet(tenantId));
    return this.write(tenantId, 'individual', id, doc, prev, ifMatch, {
      signer1: null,
      signer2: null,
      caRef1: null,
      caRef2: null,
    });
  }

  /**
   * Imports individual enrollments: each row is checked alone (its error reported, the others
   * kept) and the good rows are written in one transaction. `create` refuses IDs that exist;
   * `upsert` replaces them. A dry run checks everything and writes nothing.
   */
  async importIndividuals(
    tenantId: string,
    items: IndividualEnrollmentInput[],
    o: { mode: 'create' | 'upsert'; dryRun?: boolean },
  ): Promise<ImportResult[]> {
    const hubs = await this.hubSet(tenantId);
    const existing = await this.store.existingIndividuals(
      tenantId,
      items.map((i) => i.registrationId ?? '').filter(Boolean),
    );
    const now = new Date().toISOString();
    const seen = new Set<string>();
    const docs: IndividualEnrollment[] = [];
    const results: ImportResult[] = items.map((item, row) => {
      const id = item.registrationId ?? '';
      try {
        if (!id) throw bad('registrationId is required');
        if (seen.has(idKey(id))) throw bad(`registrationId ${id} appears twice in this import`);
        seen.add(idKey(id));
        const exists = existing.has(idKey(id));
        if (exists && o.mode === 'create')
          throw new ZtError('CONFLICT', `${id} exists; import with mode upsert to replace it`);
        const doc = individualDoc(id, item, undefined, hubs);
        doc.createdDateTimeUtc = now;
        doc.lastUpdatedDateTimeUtc = now;
        doc.etag = newEtag();
        docs.push(doc);
        return { row, registrationId: id, status: exists ? 'updated' : 'created' };
      } catch (e) {
        if (!isZtError(e)) throw e;
        return { row, registrationId: id, status: 'error', code: e.code, error: e.message };
      }
    });
    if (!o.dryRun && docs.length) await this.store.putIndividuals(tenantId, docs, o.mode === 'upsert');
    return results;
  }

  /** Creates or replaces an enrollment group; `ifMatch` makes it conditional. */
  async putGroup(
    tenantId: string,
    id: string,
    body: EnrollmentGroupInput,
    ifMatch?: string,
  ): Promise<EnrollmentGroup> {
    if (body.enrollmentGroupId !== undefined && idKey(body.enrollmentGroupId) !== idKey(id)) {
      throw bad(
        `enrollmentGroupId in the body (${body.enrollmentGroupId}) differs from the one in the path (${id})`,
      );
    }
    const prev = await this.store.findEnrollment<EnrollmentGroup>(tenantId, 'group', id);
    const x509 = body.attestation.x509;
    const prevSc = prev?.doc.attestation.x509?.signingCertificates;
    const sc = x509.signingCertificates;
    const primary = certSlot(sc?.primary, 'attestation.x509.signingCertificates.primary', prevSc?.primary);
    const secondary = certSlot(
      sc?.secondary,
      'attestation.x509.signingCertificates.secondary',
      prevSc?.secondary,
    );
    const ref1 = x509.caReferences?.primary || undefined;
    const ref2 = x509.caReferences?.secondary || undefined;
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
    const priority = body.priority ?? undefined;
    await this.assertNoTie(tenantId, id, priority ?? 0, [primary, secondary], [ref1, ref2]);
    const doc: EnrollmentGroup = {
      enrollmentGroupId: prev?.doc.enrollmentGroupId ?? id,
      ...(priority !== undefined ? { priority } : {}),
      attestation: {
        type: 'x509',
        x509: primary
          ? { signingCertificates: { primary, ...(secondary ? { secondary } : {}) } }
          : { caReferences: { primary: ref1, ...(ref2 ? { secondary: ref2 } : {}) } },
      },
      ...withDefaults(body, await this.hubSet(tenantId)),
    };
    return this.write(tenantId, 'group', id, doc, prev, ifMatch, {
      signer1: primary?.info?.sha256Thumbprint ?? null,
      signer2: secondary?.info?.sha256Thumbprint ?? null,
      caRef1: ref1 ? idKey(ref1) : null,
      caRef2: ref2 ? idKey(ref2) : null,
    });
  }

  /**
   * Refuses a group bound to a CA that another group is bound to with the same priority: which
   * one takes the CA's devices would otherwise depend on their names.
   */
  private async assertNoTie(
    tenantId: string,
    id: string,
    priority: number,
    slots: Array<{ info?: { sha256Thumbprint: string } } | undefined>,
    refs: Array<string | undefined>,
  ): Promise<void> {
    const cas = await this.cas.withCertificates(tenantId);
    const shas = new Set(slots.map((s) => s?.info?.sha256Thumbprint).filter((x): x is string => !!x));
    const names = new Set(refs.filter((r): r is string => !!r).map(idKey));
    // A signing certificate and an uploaded CA may be the same certificate under two names.
    for (const { ca, cert } of cas) {
      if (shas.has(cert.sha256)) names.add(idKey(ca.name));
      if (names.has(idKey(ca.name))) shas.add(cert.sha256);
    }
    const others = await this.store.findGroupsFor(tenantId, [...shas], [...names]);
    const tie = others.find(
      (g) => idKey(g.enrollmentGroupId) !== idKey(id) && (g.priority ?? 0) === priority,
    );
    if (tie)
      throw new ZtError(
        'CONFLICT',
        `enrollment group "${tie.enrollmentGroupId}" is bound to the same CA with priority ${priority}; give this group a different priority (--priority; the highest takes the devices) or bind it to another CA`,
        { rule: 'group-priority-tie', group: tie.enrollmentGroupId },
      );
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
    this.changed({ tenantId, kind, id, before: prev?.doc, after: doc });
    return doc;
  }

  /** The enrollment, or NOT_FOUND. */
  async get(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
  ): Promise<IndividualEnrollment | EnrollmentGroup> {
    return kind === 'individual' ? this.getIndividual(tenantId, id) : this.getGroup(tenantId, id);
  }

  /** Creates an enrollment; CONFLICT when one of that ID exists (PUT replaces, this never does). */
  async create(
    tenantId: string,
    kind: EnrollmentKind,
    body: IndividualEnrollmentInput | EnrollmentGroupInput,
  ): Promise<IndividualEnrollment | EnrollmentGroup> {
    const id =
      kind === 'individual'
        ? (body as IndividualEnrollmentInput).registrationId
        : (body as EnrollmentGroupInput).enrollmentGroupId;
    if (!id) throw bad(`${kind === 'individual' ? 'registrationId' : 'enrollmentGroupId'} is required`);
    const exists = () =>
      new ZtError(
        'CONFLICT',
        `${kind === 'group' ? 'enrollment group' : 'individual enrollment'} "${id}" exists; change it with zerotouch enrollment update (PATCH), or replace it whole (PUT, enrollment create --replace)`,
      );
    if (await this.store.findEnrollment(tenantId, kind, id)) throw exists();
    try {
      return kind === 'individual'
        ? await this.putIndividual(tenantId, id, body as IndividualEnrollmentInput)
        : await this.putGroup(tenantId, id, body as EnrollmentGroupInput);
    } catch (e) {
      // Created by someone else between the check and the write.
      if (isZtError(e, 'PRECONDITION_FAILED')) throw exists();
      throw e;
    }
  }

  /**
   * Changes the fields a JSON merge patch names (null removes one) and keeps the rest; with
   * `ifMatch`, only when the enrollment's etag still matches.
   */
  async patch(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
    patch: Record<string, unknown>,
    ifMatch?: string,
  ): Promise<IndividualEnrollment | EnrollmentGroup> {
    const cur = await this.store.findEnrollment<IndividualEnrollment | EnrollmentGroup>(tenantId, kind, id);
    if (!cur)
      throw new ZtError(
        'NOT_FOUND',
        `no ${kind === 'group' ? 'enrollment group' : 'individual enrollment'} "${id}" in this scope`,
      );
    if (ifMatch && !etagMatches(ifMatch, cur.etag))
      throw new ZtError(
        'PRECONDITION_FAILED',
        `etag ${ifMatch} is stale (now ${cur.etag}); read the enrollment again and retry`,
      );
    const merged = mergePatch(structuredClone(cur.doc) as Record<string, unknown>, patch);
    for (const k of ['etag', 'createdDateTimeUtc', 'lastUpdatedDateTimeUtc']) delete merged[k];
    const schema = kind === 'individual' ? IndividualEnrollmentInputSchema : EnrollmentGroupInputSchema;
    const problem = Value.Errors(schema, merged)[0];
    if (problem)
      throw bad(
        `after the patch, ${problem.instancePath.slice(1).replaceAll('/', '.') || 'the enrollment'} ${problem.message}`,
      );
    // The etag read above: a write in between makes this one fail instead of undoing it.
    return kind === 'individual'
      ? this.putIndividual(tenantId, id, merged as IndividualEnrollmentInput, cur.etag)
      : this.putGroup(tenantId, id, merged as EnrollmentGroupInput, cur.etag);
  }

  /** The enrollment, or undefined. */
  async find(
    tenantId: string,
    kind: EnrollmentKind,
    id: string,
  ): Promise<IndividualEnrollment | EnrollmentGroup | undefined> {
    return (await this.store.findEnrollment<IndividualEnrollment | EnrollmentGroup>(tenantId, kind, id))?.doc;
  }

  /** The individual enrollment, or NOT_FOUND. */
  async getIndividual(tenantId: string, id: string): Promise<IndividualEnrollment> {
    const e = await this.store.findEnrollment<IndividualEnrollment>(tenantId, 'individual', id);
    if (!e) throw new ZtError('NOT_FOUND', `no individual enrollment "${id}" in this scope`);
    return e.doc;
  }

  /** The enrollment group, or NOT_FOUND. */
  async getGroup(tenantId: string, id: string): Promise<EnrollmentGroup> {
    const e = await this.store.findEnrollment<EnrollmentGroup>(tenantId, 'group', id);
    if (!e) throw new ZtError('NOT_FOUND', `no enrollment group "${id}" in this scope`);
    return e.doc;
  }

  /**
   * The Azure bulk operation: up to 10 enrollments created, updated (optionally only on a
   * matching etag) or deleted one by one; each failure is reported with its DPS error code.
   */
  async bulk(
    tenantId: string,
    mode: 'create' | 'update' | 'updateIfMatchETag' | 'delete',
    items: { individual: IndividualEnrollmentInput[] } | { group: EnrollmentGroupInput[] },
  ): Promise<BulkResult> {
    const kind: EnrollmentKind = 'individual' in items ? 'individual' : 'group';
    const idField = kind === 'individual' ? 'registrationId' : 'enrollmentGroupId';
    const list: Array<IndividualEnrollmentInput | EnrollmentGroupInput> =
      'individual' in items ? items.individual : items.group;
    const errors: BulkResult['errors'] = [];
    for (const item of list) {
      const id =
        ('registrationId' in item ? item.registrationId : (item as EnrollmentGroupInput).enrollmentGroupId) ??
        '';
      try {
        if (!id) throw bad(`${idField} is required`);
        const etag = item.etag ?? undefined;
        if (mode === 'delete') await this.delete(tenantId, kind, id, etag);
        else {
          if (mode === 'create' && (await this.store.findEnrollment(tenantId, kind, id))) {
            throw new ZtError('CONFLICT', `${id} already exists`);
          }
          const ifMatch = mode === 'updateIfMatchETag' ? etag : undefined;
          if (kind === 'individual')
            await this.putIndividual(tenantId, id, item as IndividualEnrollmentInput, ifMatch);
          else await this.putGroup(tenantId, id, item as EnrollmentGroupInput, ifMatch);
        }
      } catch (e) {
        if (!isZtError(e)) throw e;
        errors.push({ [idField]: id, errorCode: dpsErrorCode(e), errorStatus: e.message });
      }
    }
    return { isSuccessful: errors.length === 0, errors };
  }

  /**
   * Deletes every enrollment of a kind whose ID starts with `prefix` (at least one character),
   * or with `dryRun` only says which; their devices are no longer admitted.
   */
  async deleteByPrefix(
    tenantId: string,
    kind: EnrollmentKind,
    prefix: string,
    dryRun: boolean,
  ): Promise<string[]> {
    if (!prefix) throw bad('give the prefix of the IDs to delete (at least one character)');
    const docs = await this.store.deleteByPrefix(tenantId, kind, prefix, dryRun);
    const idOf = (d: IndividualEnrollment | EnrollmentGroup) =>
      'registrationId' in d ? d.registrationId : d.enrollmentGroupId;
    if (!dryRun) for (const d of docs) this.changed({ tenantId, kind, id: idOf(d), before: d });
    return docs.map(idOf);
  }

  /** Deletes an enrollment, or NOT_FOUND; `ifMatch` makes it conditional. */
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
    this.changed({ tenantId, kind, id, before: e.doc as IndividualEnrollment | EnrollmentGroup });
  }

  /** Calls `l` after each enrollment write and deletion. */
  onChange(l: (c: EnrollmentChange) => void): void {
    this.listeners.push(l);
  }

  private changed(c: EnrollmentChange): void {
    for (const l of this.listeners) l(c);
  }

  /** A page of enrollments of one kind, ordered by ID. */
  list<T>(tenantId: string, kind: EnrollmentKind, max?: number, continuation?: string): Promise<Page<T>> {
    return this.store.listEnrollments<T>(tenantId, kind, max, continuation);
  }
}
