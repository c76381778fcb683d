/**
 * The IoT registry of a scope: settings and ARNs, things, thing types and groups, device
 * certificates with their status, policies with versions, and the attachments between them.
 * JITP, JITR, the admin API and (next) the AWS control-plane face all call this one service.
 */
import { unmasked } from '../masked-secret.ts';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import { type Certificate, certificatePem } from '../../pki/certificate.ts';
import { formatName } from '../../pki/names.ts';
import type { Page } from '../../store/paging.ts';
import {
  attributeNameProblem,
  attributeValueProblem,
  maxAttributes,
  resourceNameProblem,
} from '../registry/aws-names.ts';
import { type PolicyDocument, parsePolicyDocument } from './policy-document.ts';
import type { IotStore } from './store.ts';
import type {
  CertificateEvent,
  CertificateMode,
  CertificateStatus,
  IotCertificate,
  IotPolicy,
  IotSettings,
  IotSettingsPatch,
  NamedKind,
  NamedResource,
  Thing,
  ThingInput,
} from './types.ts';

/** How long a node serves a scope's settings from memory; another node's change shows within it. */
const SETTINGS_TTL_MS = 5000;
/** AWS keeps at most five versions of a policy. */
const MAX_POLICY_VERSIONS = 5;
/** AWS attaches at most ten policies to a certificate. */
const MAX_POLICIES_PER_TARGET = 10;

const ARN_KIND: Record<NamedKind, string> = {
  'thing-type': 'thingtype',
  'thing-group': 'thinggroup',
  'billing-group': 'billinggroup',
};
const KIND_WORD: Record<NamedKind, string> = {
  'thing-type': 'thing type',
  'thing-group': 'thing group',
  'billing-group': 'billing group',
};

/** Refuses a name that breaks AWS's rules, saying which and why. */
export function checkAwsName(what: string, name: string): void {
  const why = resourceNameProblem(name);
  if (why)
    throw new ZtError('BAD_REQUEST', `the ${what} name "${name}" is not valid: ${why}`, { rule: 'aws-name' });
}

/** Refuses attributes AWS would refuse. */
export function checkAttributes(attributes: Record<string, string>, hasThingType: boolean): void {
  const names = Object.keys(attributes);
  const max = maxAttributes(hasThingType);
  if (names.length > max)
    throw new ZtError(
      'BAD_REQUEST',
      `a thing ${hasThingType ? 'with' : 'without'} a thing type has at most ${max} attributes, not ${names.length}${hasThingType ? '' : '; give it a thing type for up to 50'}`,
    );
  for (const n of names) {
    const bad = attributeNameProblem(n);
    if (bad) throw new ZtError('BAD_REQUEST', `the attribute name "${n}" is not valid: ${bad}`);
    const badValue = attributeValueProblem(attributes[n]!);
    if (badValue) throw new ZtError('BAD_REQUEST', `the value of attribute "${n}" is not valid: ${badValue}`);
  }
}

/** Default account id of a scope: stable, 12 digits, from its id. */
function defaultAccount(tenantId: string): string {
  const n = createHash('sha256').update(tenantId).digest().readBigUInt64BE() % 10n ** 12n;
  return n.toString().padStart(12, '0');
}

/** Manages the IoT registry of scopes. */
export class IotRegistry {
  private readonly store: IotStore;
  /** Parsed policy documents by their text: policies are read on every connection, parsed once. */
  private readonly parsedDocuments = new Map<string, PolicyDocument>();
  /** Bumped on every policy or attachment change, so connected sessions recompile. */
  private policyGeneration = 0;
  /** Settings are read on every connection and change rarely: kept for a few seconds. */
  private readonly endpointCache = new Map<string, { at: number; tenantId: string | undefined }>();
  private readonly settingsCache = new Map<
    string,
    { at: number; row: { settings: IotSettings; registrationCode: string } }
  >();

  constructor(store: IotStore) {
    this.store = store;
  }

  /** A number that changes whenever a policy, its default version or an attachment changes. */
  get generation(): number {
    return this.policyGeneration;
  }

  private readonly changeListeners: Array<() => void> = [];

  /** Calls `fn` after each change of policies or attachments made through this node. */
  onPolicyChange(fn: () => void): void {
    this.changeListeners.push(fn);
  }

  /** Another node changed policies or attachments: sessions here recompile theirs. */
  policiesChangedElsewhere(): void {
    this.policyGeneration++;
  }

  private changed(): void {
    this.policyGeneration++;
    for (const fn of this.changeListeners) fn();
  }

  // settings and ARNs

  /** The scope's settings (defaults until an operator changes them). */
  async settings(tenantId: string): Promise<IotSettings> {
    return (await this.settingsRow(tenantId)).settings;
  }

  private async settingsRow(tenantId: string): Promise<{ settings: IotSettings; registrationCode: string }> {
    const cached = this.settingsCache.get(tenantId);
    if (cached && Date.now() - cached.at < SETTINGS_TTL_MS) return cached.row;
    const row = await this.readSettingsRow(tenantId);
    if (this.settingsCache.size > 10_000) this.settingsCache.clear();
    this.settingsCache.set(tenantId, { at: Date.now(), row });
    return row;
  }

  private async readSettingsRow(
    tenantId: string,
  ): Promise<{ settings: IotSettings; registrationCode: string }> {
    const found = await this.store.settings(tenantId);
    if (found) return found;
    const settings: IotSettings = {
      region: 'us-east-1',
      accountId: defaultAccount(tenantId),
      requireConnectPolicy: false,
      createMissingTypesAndGroups: false,
      eventWebhooks: [],
    };
    await this.store.putSettings(tenantId, settings, randomBytes(32).toString('hex'));
    // Read back: a concurrent first read may have written its code first.
    return (await this.store.settings(tenantId))!;
  }

  /** Changes the scope's settings; CONFLICT when another scope has the endpoint. */
  async updateSettings(tenantId: string, patch: IotSettingsPatch): Promise<IotSettings> {
    const row = await this.readSettingsRow(tenantId);
    const next: IotSettings = { ...row.settings };
    if (patch.region !== undefined) next.region = patch.region;
    if (patch.accountId !== undefined) next.accountId = patch.accountId;
    if (patch.endpoint === null) delete next.endpoint;
    else if (patch.endpoint !== undefined) next.endpoint = patch.endpoint.toLowerCase();
    if (patch.requireConnectPolicy !== undefined) next.requireConnectPolicy = patch.requireConnectPolicy;
    if (patch.createMissingTypesAndGroups !== undefined)
      next.createMissingTypesAndGroups = patch.createMissingTypesAndGroups;
    if (patch.eventWebhooks !== undefined)
      // A secret sent back masked (as answers show it) keeps the one stored for that URL.
      next.eventWebhooks = patch.eventWebhooks.map((w) => {
        const secret = unmasked(w.secret, row.settings.eventWebhooks.find((o) => o.url === w.url)?.secret);
        return secret === undefined ? { url: w.url } : { url: w.url, secret };
      });
    if (next.endpoint) {
      const owner = await this.store.tenantByEndpoint(next.endpoint);
      if (owner && owner !== tenantId)
        throw new ZtError(
          'CONFLICT',
          `another scope already has the endpoint ${next.endpoint}; choose another host name`,
        );
    }
    await this.store.putSettings(tenantId, next, row.registrationCode);
    this.settingsCache.delete(tenantId);
    this.endpointCache.clear();
    return next;
  }

  /** The scope's registration code: the CN a CA's verification certificate must carry. */
  async registrationCode(tenantId: string): Promise<string> {
    return (await this.settingsRow(tenantId)).registrationCode;
  }

  /** The scope an SNI host name addresses, if any (known answers, "none" too, kept a few seconds). */
  async tenantByEndpoint(host: string): Promise<string | undefined> {
    const key = host.toLowerCase();
    const cached = this.endpointCache.get(key);
    if (cached && Date.now() - cached.at < SETTINGS_TTL_MS) return cached.tenantId;
    const tenantId = await this.store.tenantByEndpoint(key);
    if (this.endpointCache.size > 10_000) this.endpointCache.clear();
    this.endpointCache.set(key, { at: Date.now(), tenantId });
    return tenantId;
  }

  /** `arn:aws:iot:<region>:<account>:<resource>` of the scope. */
  async arn(tenantId: string, resource: string): Promise<string> {
    const s = await this.settings(tenantId);
    return `arn:aws:iot:${s.region}:${s.accountId}:${resource}`;
  }

  // thing types, thing groups, billing groups

  /** Creates a thing type, thing group or billing group; CONFLICT when it exists. */
  async createNamed(
    tenantId: string,
    kind: NamedKind,
    name: string,
    description?: string,
  ): Promise<NamedResource> {
    checkAwsName(KIND_WORD[kind], name);
    const r: NamedResource = {
      kind,
      name,
      arn: await this.arn(tenantId, `${ARN_KIND[kind]}/${name}`),
      ...(description ? { description } : {}),
      createdAt: new Date().toISOString(),
    };
    if (!(await this.store.insertNamed(tenantId, kind, name, r)))
      throw new ZtError('CONFLICT', `the ${KIND_WORD[kind]} "${name}" already exists`);
    return r;
  }

  /** The named resource, or NOT_FOUND. */
  async getNamed(tenantId: string, kind: NamedKind, name: string): Promise<NamedResource> {
    const r = await this.store.findNamed<NamedResource>(tenantId, kind, name);
    if (!r) throw new ZtError('NOT_FOUND', `no ${KIND_WORD[kind]} named "${name}" in this scope`);
    return r;
  }

  listNamed(tenantId: string, kind: NamedKind): Promise<NamedResource[]> {
    return this.store.listNamed<NamedResource>(tenantId, kind);
  }

  async deleteNamed(tenantId: string, kind: NamedKind, name: string): Promise<void> {
    if (!(await this.store.deleteNamed(tenantId, kind, name)))
      throw new ZtError('NOT_FOUND', `no ${KIND_WORD[kind]} named "${name}" in this scope`);
  }

  /**
   * Makes sure a thing type or group a thing names exists: NOT_FOUND as in AWS, or created on
   * first use when the scope's settings allow it.
   */
  async ensureNamed(tenantId: string, kind: NamedKind, name: string, create: boolean): Promise<void> {
    if (await this.store.findNamed(tenantId, kind, name)) return;
    if (!create)
      throw new ZtError(
        'NOT_FOUND',
        `the ${KIND_WORD[kind]} "${name}" does not exist in this scope; create it first (zerotouch thing ${kind} create ${name}), or let first use create it (zerotouch iot settings --create-missing-types-and-groups)`,
        { missing: kind, name },
      );
    checkAwsName(KIND_WORD[kind], name);
    await this.store.insertNamed(tenantId, kind, name, {
      kind,
      name,
      arn: await this.arn(tenantId, `${ARN_KIND[kind]}/${name}`),
      createdAt: new Date().toISOString(),
    });
  }

  // things

  /** Builds and checks a thing record; the types and groups it names must exist (or be created). */
  async newThing(
    tenantId: string,
    name: string,
    input: ThingInput,
    createdBy: string,
    createMissing = false,
  ): Promise<Thing> {
    checkAwsName('thing', name);
    const attributes = input.attributes ?? {};
    checkAttributes(attributes, input.thingTypeName !== undefined);
    if (input.thingTypeName)
      await this.ensureNamed(tenantId, 'thing-type', input.thingTypeName, createMissing);
    for (const g of input.thingGroups ?? [])
      await this.ensureNamed(tenantId, 'thing-group', g, createMissing);
    if (input.billingGroup)
      await this.ensureNamed(tenantId, 'billing-group', input.billingGroup, createMissing);
    const now = new Date().toISOString();
    return {
      thingName: name,
      thingArn: await this.arn(tenantId, `thing/${name}`),
      thingId: randomUUID(),
      ...(input.thingTypeName ? { thingTypeName: input.thingTypeName } : {}),
      attributes,
      thingGroups: [...new Set(input.thingGroups ?? [])],
      ...(input.billingGroup ? { billingGroup: input.billingGroup } : {}),
      version: 1,
      createdBy,
      createdAt: now,
      lastModifiedAt: now,
    };
  }

  /** Creates a thing; CONFLICT when one of that name exists. */
  async createThing(tenantId: string, name: string, input: ThingInput, createdBy: string): Promise<Thing> {
    const settings = await this.settings(tenantId);
    const t = await this.newThing(tenantId, name, input, createdBy, settings.createMissingTypesAndGroups);
    if (!(await this.store.insertThing(tenantId, t)))
      throw new ZtError('CONFLICT', `a thing named "${name}" already exists in this scope`);
    return t;
  }

  /** Inserts a checked thing; false when one of that name exists. */
  insertThing(tenantId: string, t: Thing): Promise<boolean> {
    return this.store.insertThing(tenantId, t);
  }

  findThing(tenantId: string, name: string): Promise<Thing | undefined> {
    return this.store.findThing(tenantId, name);
  }

  /** The thing, or NOT_FOUND. */
  async getThing(tenantId: string, name: string): Promise<Thing> {
    const t = await this.store.findThing(tenantId, name);
    if (!t) throw new ZtError('NOT_FOUND', `no thing named "${name}" in this scope`);
    return t;
  }

  /**
   * Writes a new state of a thing computed from its current one; retried when another write
   * came in between (two provisionings of one device may update the same thing).
   */
  async updateThingWith(
    tenantId: string,
    name: string,
    change: (t: Thing) => Promise<Thing | undefined>,
  ): Promise<Thing> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const current = await this.getThing(tenantId, name);
      const next = await change(structuredClone(current));
      if (!next) return current;
      checkAttributes(next.attributes, next.thingTypeName !== undefined);
      next.version = current.version + 1;
      next.lastModifiedAt = new Date().toISOString();
      if (await this.store.updateThing(tenantId, next, current.version)) return next;
    }
    throw new ZtError('CONFLICT', `the thing "${name}" is being changed by others; try again`);
  }

  /** Updates a thing's type, attributes (merged; an empty value removes one), groups and billing group. */
  async updateThing(
    tenantId: string,
    name: string,
    input: ThingInput & { removeThingType?: boolean },
  ): Promise<Thing> {
    const settings = await this.settings(tenantId);
    return this.updateThingWith(tenantId, name, async (t) => {
      if (input.removeThingType) delete t.thingTypeName;
      if (input.thingTypeName) {
        await this.ensureNamed(
          tenantId,
          'thing-type',
          input.thingTypeName,
          settings.createMissingTypesAndGroups,
        );
        t.thingTypeName = input.thingTypeName;
      }
      for (const [k, v] of Object.entries(input.attributes ?? {})) {
        if (v === '') delete t.attributes[k];
        else t.attributes[k] = v;
      }
      if (input.thingGroups) {
        for (const g of input.thingGroups)
          await this.ensureNamed(tenantId, 'thing-group', g, settings.createMissingTypesAndGroups);
        t.thingGroups = [...new Set(input.thingGroups)];
      }
      if (input.billingGroup) {
        await this.ensureNamed(
          tenantId,
          'billing-group',
          input.billingGroup,
          settings.createMissingTypesAndGroups,
        );
        t.billingGroup = input.billingGroup;
      }
      return t;
    });
  }

  /** Deletes a thing; CONFLICT while certificates are attached to it. */
  async deleteThing(tenantId: string, name: string): Promise<void> {
    const principals = await this.store.principalsOf(tenantId, name);
    if (principals.length > 0)
      throw new ZtError(
        'CONFLICT',
        `the thing "${name}" has ${principals.length} certificate(s) attached; detach them first (zerotouch thing detach-cert)`,
      );
    if (!(await this.store.deleteThing(tenantId, name)))
      throw new ZtError('NOT_FOUND', `no thing named "${name}" in this scope`);
  }

  listThings(tenantId: string, max?: number, continuation?: string): Promise<Page<Thing>> {
    return this.store.listThings(tenantId, max, continuation);
  }

  /**
   * Things of a type and/or with an attribute (equal to, or starting with, a value), in name
   * order; reads the scope's things page by page (AWS ListThings filters).
   */
  async findThings(
    tenantId: string,
    f: { thingTypeName?: string; attributeName?: string; attributeValue?: string; prefix?: boolean },
  ): Promise<Thing[]> {
    const matches = (t: Thing) => {
      if (f.thingTypeName !== undefined && t.thingTypeName !== f.thingTypeName) return false;
      if (f.attributeName === undefined) return true;
      const v = t.attributes[f.attributeName];
      if (v === undefined) return false;
      if (f.attributeValue === undefined) return true;
      return f.prefix ? v.startsWith(f.attributeValue) : v === f.attributeValue;
    };
    const out: Thing[] = [];
    let cont: string | undefined;
    do {
      const p = await this.store.listThings(tenantId, 1000, cont);
      out.push(...p.items.filter(matches));
      cont = p.continuation;
    } while (cont);
    return out;
  }

  /** Adds a thing to an existing thing group (AddThingToThingGroup). */
  async addThingToGroup(tenantId: string, thingName: string, group: string): Promise<Thing> {
    await this.getNamed(tenantId, 'thing-group', group);
    return this.updateThingWith(tenantId, thingName, async (t) => {
      if (t.thingGroups.includes(group)) return undefined;
      t.thingGroups = [...t.thingGroups, group];
      return t;
    });
  }

  // certificates

  /** A certificate record for `cert`, not yet stored. */
  async newCertificate(
    tenantId: string,
    cert: Certificate,
    o: {
      status: CertificateStatus;
      mode: CertificateMode;
      caName?: string;
      caCertificateId?: string;
      by: string;
    },
  ): Promise<IotCertificate> {
    const id = cert.sha256.toLowerCase();
    const now = new Date().toISOString();
    return {
      certificateId: id,
      certificateArn: await this.arn(tenantId, `cert/${id}`),
      status: o.status,
      certificateMode: o.mode,
      ...(o.caName ? { caName: o.caName } : {}),
      ...(o.caCertificateId ? { caCertificateId: o.caCertificateId } : {}),
      certificatePem: certificatePem(cert),
      subject: formatName(cert.subject),
      validity: { notBefore: cert.notBefore.toISOString(), notAfter: cert.notAfter.toISOString() },
      registeredBy: o.by,
      createdAt: now,
      lastModifiedAt: now,
    };
  }

  /** Stores a certificate record unless one exists; returns what is stored and whether it was new. */
  async insertCertificate(
    tenantId: string,
    c: IotCertificate,
    cert: Certificate,
  ): Promise<{ certificate: IotCertificate; created: boolean }> {
    const created = await this.store.insertCertificate(tenantId, c, cert.tbsSha256);
    return {
      certificate: created ? c : (await this.store.findCertificate(tenantId, c.certificateId))!,
      created,
    };
  }

  /** The certificate with the signed content of `cert`, however its signature is encoded. */
  findCertificateOf(tenantId: string, cert: Certificate): Promise<IotCertificate | undefined> {
    return this.store.findCertificateByTbs(tenantId, cert.tbsSha256);
  }

  /** The certificate, or NOT_FOUND. */
  async getCertificate(tenantId: string, id: string): Promise<IotCertificate> {
    const c = await this.store.findCertificate(tenantId, id.toLowerCase());
    if (!c) throw new ZtError('NOT_FOUND', `no certificate with ID ${id} in this scope`);
    return c;
  }

  /** Sets a certificate's status. */
  async setCertificateStatus(
    tenantId: string,
    id: string,
    status: CertificateStatus,
  ): Promise<IotCertificate> {
    const c = await this.getCertificate(tenantId, id);
    if (c.status === 'REVOKED' && status !== 'REVOKED')
      throw new ZtError(
        'CONFLICT',
        `certificate ${c.certificateId} is REVOKED; a revoked certificate cannot be made ${status}`,
      );
    c.status = status;
    c.lastModifiedAt = new Date().toISOString();
    await this.store.putCertificate(tenantId, c);
    this.changed();
    return c;
  }

  /**
   * Links a policy to a certificate both known to exist (provisioning just made or found them);
   * the API's attachPolicy checks them first.
   */
  async linkPolicy(tenantId: string, name: string, certificateId: string): Promise<void> {
    await this.store.attachPolicy(tenantId, name, certificateId);
    this.changed();
  }

  /** Links a certificate to a thing both known to exist. */
  async linkThing(tenantId: string, thingName: string, certificateId: string): Promise<void> {
    await this.store.attachPrincipal(tenantId, thingName, certificateId);
    this.changed();
  }

  /** Writes a certificate's new status and last event in one step (after provisioning). */
  async finishCertificate(
    tenantId: string,
    c: IotCertificate,
    status: CertificateStatus,
    event: CertificateEvent,
  ): Promise<IotCertificate> {
    const next = { ...c, status, lastEvent: event, lastModifiedAt: new Date().toISOString() };
    await this.store.putCertificate(tenantId, next);
    this.changed();
    return next;
  }

  /** Records what last happened to a certificate at the gateway (the operator reads it). */
  async recordCertificateEvent(tenantId: string, id: string, event: CertificateEvent): Promise<void> {
    const c = await this.store.findCertificate(tenantId, id);
    if (!c) return;
    c.lastEvent = event;
    await this.store.putCertificate(tenantId, c);
  }

  /** Deletes a certificate that is not ACTIVE and has nothing attached. */
  async deleteCertificate(tenantId: string, id: string): Promise<void> {
    const c = await this.getCertificate(tenantId, id);
    if (c.status === 'ACTIVE')
      throw new ZtError('CONFLICT', `certificate ${c.certificateId} is ACTIVE; make it INACTIVE first`);
    const policies = await this.store.policiesOf(tenantId, c.certificateId);
    const things = await this.store.thingsOf(tenantId, c.certificateId);
    if (policies.length || things.length)
      throw new ZtError(
        'CONFLICT',
        `certificate ${c.certificateId} still has ${policies.length} policy(ies) and ${things.length} thing(s) attached; detach them first`,
      );
    await this.store.deleteCertificate(tenantId, c.certificateId);
  }

  listCertificates(
    tenantId: string,
    filter: { caName?: string; status?: CertificateStatus },
    max?: number,
    continuation?: string,
  ): Promise<Page<IotCertificate>> {
    return this.store.listCertificates(tenantId, filter, max, continuation);
  }

  // policies

  /** Creates a policy from a document; CONFLICT when the name exists, BAD_REQUEST when the document is not valid. */
  async createPolicy(
    tenantId: string,
    name: string,
    document: string | unknown,
    createdBy: string,
  ): Promise<IotPolicy> {
    const p = await this.newPolicy(tenantId, name, document, createdBy);
    if (!(await this.store.insertPolicy(tenantId, p)))
      throw new ZtError('CONFLICT', `a policy named "${name}" already exists in this scope`);
    return p;
  }

  /** A checked policy record, not yet stored. */
  async newPolicy(
    tenantId: string,
    name: string,
    document: string | unknown,
    createdBy: string,
  ): Promise<IotPolicy> {
    if (!/^[\w+=,.@-]{1,128}$/.test(name))
      throw new ZtError(
        'BAD_REQUEST',
        `the policy name "${name}" is not valid: use 1-128 letters, digits and _ + = , . @ -`,
      );
    const { text } = parsePolicyDocument(document);
    const now = new Date().toISOString();
    return {
      policyName: name,
      policyArn: await this.arn(tenantId, `policy/${name}`),
      defaultVersionId: '1',
      versions: [{ versionId: '1', document: text, isDefault: true, createdAt: now }],
      createdBy,
      createdAt: now,
      lastModifiedAt: now,
    };
  }

  /** Inserts a checked policy unless one of that name exists; true when it was new. */
  insertPolicy(tenantId: string, p: IotPolicy): Promise<boolean> {
    return this.store.insertPolicy(tenantId, p);
  }

  findPolicy(tenantId: string, name: string): Promise<IotPolicy | undefined> {
    return this.store.findPolicy(tenantId, name);
  }

  /** The policy, or NOT_FOUND. */
  async getPolicy(tenantId: string, name: string): Promise<IotPolicy> {
    const p = await this.store.findPolicy(tenantId, name);
    if (!p) throw new ZtError('NOT_FOUND', `no policy named "${name}" in this scope`);
    return p;
  }

  listPolicies(tenantId: string): Promise<IotPolicy[]> {
    return this.store.listPolicies(tenantId);
  }

  /** Adds a version (at most five), optionally the new default. */
  async createPolicyVersion(
    tenantId: string,
    name: string,
    document: string | unknown,
    setAsDefault: boolean,
  ): Promise<IotPolicy> {
    const p = await this.getPolicy(tenantId, name);
    if (p.versions.length >= MAX_POLICY_VERSIONS)
      throw new ZtError(
        'CONFLICT',
        `the policy "${name}" has ${MAX_POLICY_VERSIONS} versions, the most it may have; delete one that is not the default first`,
      );
    const { text } = parsePolicyDocument(document);
    const versionId = String(Math.max(...p.versions.map((v) => Number(v.versionId))) + 1);
    const now = new Date().toISOString();
    p.versions.push({ versionId, document: text, isDefault: false, createdAt: now });
    if (setAsDefault) this.makeDefault(p, versionId);
    p.lastModifiedAt = now;
    await this.store.putPolicy(tenantId, p);
    this.changed();
    return p;
  }

  private makeDefault(p: IotPolicy, versionId: string): void {
    if (!p.versions.some((v) => v.versionId === versionId))
      throw new ZtError('NOT_FOUND', `the policy "${p.policyName}" has no version ${versionId}`);
    for (const v of p.versions) v.isDefault = v.versionId === versionId;
    p.defaultVersionId = versionId;
  }

  /** Makes a version the default. */
  async setDefaultPolicyVersion(tenantId: string, name: string, versionId: string): Promise<IotPolicy> {
    const p = await this.getPolicy(tenantId, name);
    this.makeDefault(p, versionId);
    p.lastModifiedAt = new Date().toISOString();
    await this.store.putPolicy(tenantId, p);
    this.changed();
    return p;
  }

  /** Deletes a version that is not the default. */
  async deletePolicyVersion(tenantId: string, name: string, versionId: string): Promise<IotPolicy> {
    const p = await this.getPolicy(tenantId, name);
    const v = p.versions.find((x) => x.versionId === versionId);
    if (!v) throw new ZtError('NOT_FOUND', `the policy "${name}" has no version ${versionId}`);
    if (v.isDefault)
      throw new ZtError(
        'CONFLICT',
        `version ${versionId} is the default of "${name}"; make another the default first`,
      );
    p.versions = p.versions.filter((x) => x !== v);
    await this.store.putPolicy(tenantId, p);
    return p;
  }

  /** Deletes a policy that is attached to nothing. */
  async deletePolicy(tenantId: string, name: string): Promise<void> {
    const targets = await this.store.targetsOf(tenantId, name);
    if (targets.length)
      throw new ZtError(
        'CONFLICT',
        `the policy "${name}" is attached to ${targets.length} certificate(s); detach it first`,
      );
    if (!(await this.store.deletePolicy(tenantId, name)))
      throw new ZtError('NOT_FOUND', `no policy named "${name}" in this scope`);
    this.changed();
  }

  /** Attaches a policy to a certificate (by ID). */
  async attachPolicy(tenantId: string, name: string, certificateId: string): Promise<void> {
    await this.getPolicy(tenantId, name);
    const c = await this.getCertificate(tenantId, certificateId);
    const attached = await this.store.policiesOf(tenantId, c.certificateId);
    if (!attached.includes(name) && attached.length >= MAX_POLICIES_PER_TARGET)
      throw new ZtError(
        'CONFLICT',
        `certificate ${c.certificateId} already has ${MAX_POLICIES_PER_TARGET} policies, the most it may have`,
      );
    await this.store.attachPolicy(tenantId, name, c.certificateId);
    this.changed();
  }

  async detachPolicy(tenantId: string, name: string, certificateId: string): Promise<void> {
    if (!(await this.store.detachPolicy(tenantId, name, certificateId.toLowerCase())))
      throw new ZtError('NOT_FOUND', `the policy "${name}" is not attached to certificate ${certificateId}`);
    this.changed();
  }

  /** Names of the policies attached to a certificate. */
  attachedPolicies(tenantId: string, certificateId: string): Promise<string[]> {
    return this.store.policiesOf(tenantId, certificateId.toLowerCase());
  }

  policyTargets(tenantId: string, name: string): Promise<string[]> {
    return this.store.targetsOf(tenantId, name);
  }

  /** The default-version documents of the policies attached to a certificate, parsed once per text. */
  async documentsFor(
    tenantId: string,
    certificateId: string,
  ): Promise<Array<{ name: string; document: PolicyDocument }>> {
    const out: Array<{ name: string; document: PolicyDocument }> = [];
    for (const name of await this.store.policiesOf(tenantId, certificateId)) {
      const p = await this.store.findPolicy(tenantId, name);
      const text = p?.versions.find((v) => v.isDefault)?.document;
      if (!text) continue;
      let doc = this.parsedDocuments.get(text);
      if (!doc) {
        if (this.parsedDocuments.size > 10_000) this.parsedDocuments.clear();
        doc = parsePolicyDocument(text).document;
        this.parsedDocuments.set(text, doc);
      }
      out.push({ name, document: doc });
    }
    return out;
  }

  // thing principals

  /** Attaches a certificate to a thing. */
  async attachThingPrincipal(tenantId: string, thingName: string, certificateId: string): Promise<void> {
    await this.getThing(tenantId, thingName);
    const c = await this.getCertificate(tenantId, certificateId);
    await this.store.attachPrincipal(tenantId, thingName, c.certificateId);
    this.changed();
  }

  async detachThingPrincipal(tenantId: string, thingName: string, certificateId: string): Promise<void> {
    if (!(await this.store.detachPrincipal(tenantId, thingName, certificateId.toLowerCase())))
      throw new ZtError(
        'NOT_FOUND',
        `certificate ${certificateId} is not attached to the thing "${thingName}"`,
      );
    this.changed();
  }

  /** Things a certificate is attached to. */
  thingsOf(tenantId: string, certificateId: string): Promise<string[]> {
    return this.store.thingsOf(tenantId, certificateId.toLowerCase());
  }

  /** Certificates attached to a thing. */
  principalsOf(tenantId: string, thingName: string): Promise<string[]> {
    return this.store.principalsOf(tenantId, thingName);
  }
}
