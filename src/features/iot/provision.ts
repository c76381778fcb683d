/**
 * Applying a JITP template to one device certificate, in AWS's order: thing, policies,
 * attachments, then the certificate's status. Every step is idempotent, so a retry after a
 * failure, or a second connection of the same new device, finishes the work instead of
 * duplicating or refusing it. OverrideSettings decide what happens to a thing that exists.
 */
import { ZtError } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import { evaluateTemplate } from '../templates/evaluate.ts';
import type { CheckedTemplate } from '../templates/template.ts';
import type { ProvisioningPlan, ThingPlan } from '../templates/types.ts';
import type { IotRegistry } from './registry.ts';
import type { IotCertificate, Thing } from './types.ts';

function conflict(what: string): ZtError {
  return new ZtError(
    'PROVISIONING_FAILED',
    `${what} already exists and the template's OverrideSettings say FAIL; change the OverrideSettings or remove the existing resource`,
    { rule: 'override-fail' },
  );
}

/** The thing after applying the plan to an existing one, or undefined when nothing changes. */
async function overridden(
  registry: IotRegistry,
  tenantId: string,
  t: Thing,
  plan: ThingPlan,
  ownedByThisCertificate: boolean,
  createMissing: boolean,
): Promise<Thing | undefined> {
  let changed = false;
  const o = plan.overrides;
  const sameAttributes = JSON.stringify(t.attributes) === JSON.stringify(plan.attributes);
  if (!sameAttributes) {
    if (o.attributes === 'FAIL' && !ownedByThisCertificate) throw conflict(`the thing "${t.thingName}"`);
    if (o.attributes === 'REPLACE') t.attributes = { ...plan.attributes };
    if (o.attributes === 'MERGE') t.attributes = { ...t.attributes, ...plan.attributes };
    changed ||= o.attributes === 'REPLACE' || o.attributes === 'MERGE';
  }
  if (plan.thingType !== t.thingTypeName) {
    if (o.thingType === 'FAIL' && !ownedByThisCertificate) throw conflict(`the thing "${t.thingName}"`);
    if (o.thingType === 'REPLACE') {
      if (plan.thingType) {
        await registry.ensureNamed(tenantId, 'thing-type', plan.thingType, createMissing);
        t.thingTypeName = plan.thingType;
      } else delete t.thingTypeName;
      changed = true;
    }
  }
  const sameGroups = [...t.thingGroups].sort().join() === [...plan.groups].sort().join();
  if (!sameGroups) {
    if (o.groups === 'FAIL' && !ownedByThisCertificate) throw conflict(`the thing "${t.thingName}"`);
    if (o.groups === 'REPLACE' || o.groups === 'MERGE') {
      for (const g of plan.groups) await registry.ensureNamed(tenantId, 'thing-group', g, createMissing);
      t.thingGroups =
        o.groups === 'REPLACE' ? [...plan.groups] : [...new Set([...t.thingGroups, ...plan.groups])];
      changed = true;
    }
  }
  return changed ? t : undefined;
}

/** What provisioning made, for the log, the audit record and `template test`. */
export interface ProvisionResult {
  plan: ProvisioningPlan;
  certificate: IotCertificate;
  thingCreated: boolean;
  policiesCreated: string[];
}

/**
 * Provisions the registered (PENDING_ACTIVATION) certificate `record` of `cert` with a JITP
 * template. Throws PROVISIONING_FAILED (the template cannot serve this certificate) or
 * NOT_FOUND (a type, group or policy it names is missing), with the reason for the operator.
 */
export async function provisionCertificate(
  registry: IotRegistry,
  tenantId: string,
  o: {
    template: CheckedTemplate;
    parameters: Record<string, string>;
    cert: Certificate;
    record: IotCertificate;
    by: string;
  },
): Promise<ProvisionResult> {
  const plan = evaluateTemplate(o.template, o.parameters);
  const id = o.record.certificateId;
  if (plan.certificate?.id && plan.certificate.id !== id)
    throw new ZtError(
      'PROVISIONING_FAILED',
      `the template's CertificateId evaluates to ${plan.certificate.id}, not this certificate's ID ${id}; use {"Ref": "AWS::IoT::Certificate::Id"}`,
      { path: `Resources.${plan.certificate.logicalName}.Properties.CertificateId` },
    );
  const settings = await registry.settings(tenantId);
  const createMissing = settings.createMissingTypesAndGroups;
  let thingCreated = false;
  if (plan.thing) {
    const p = plan.thing;
    const fresh = await registry.newThing(
      tenantId,
      p.name,
      {
        attributes: p.attributes,
        ...(p.thingType ? { thingTypeName: p.thingType } : {}),
        thingGroups: p.groups,
        ...(p.billingGroup ? { billingGroup: p.billingGroup } : {}),
      },
      o.by,
      createMissing,
    );
    thingCreated = await registry.insertThing(tenantId, fresh);
    if (!thingCreated) {
      const owned = (await registry.principalsOf(tenantId, p.name)).includes(id);
      await registry.updateThingWith(tenantId, p.name, (t) =>
        overridden(registry, tenantId, t, p, owned, createMissing),
      );
    }
  }
  const policiesCreated: string[] = [];
  for (const p of plan.policies) {
    if (p.document) {
      const policy = await registry.newPolicy(tenantId, p.name, p.document, o.by);
      if (await registry.insertPolicy(tenantId, policy)) policiesCreated.push(p.name);
    } else if (!(await registry.findPolicy(tenantId, p.name))) {
      throw new ZtError(
        'NOT_FOUND',
        `the template names the policy "${p.name}", which does not exist in this scope; create it (zerotouch policy create ${p.name} --document policy.json) or give a PolicyDocument`,
        { missing: 'policy', name: p.name, path: `Resources.${p.logicalName}.Properties.PolicyName` },
      );
    }
    await registry.linkPolicy(tenantId, p.name, id);
  }
  if (plan.thing) await registry.linkThing(tenantId, plan.thing.name, id);
  const status = plan.certificate?.status ?? 'ACTIVE';
  const certificate = await registry.finishCertificate(tenantId, o.record, status, {
    at: new Date().toISOString(),
    outcome: 'provisioned',
    reason: `provisioned by JITP (${o.by})${plan.thing ? `: thing ${plan.thing.name}` : ''}${plan.policies.length ? `, policies ${plan.policies.map((x) => x.name).join(', ')}` : ''}`,
  });
  return { plan, certificate, thingCreated, policiesCreated };
}
