/**
 * Evaluating a checked template for one set of parameter values (for JITP: the certificate's):
 * every declared parameter needs a value or a default (a missing certificate field fails closed
 * and says which), conditions and functions are resolved, and the plan names what to create and
 * what to do with what exists. Names are held to AWS's rules after evaluation too.
 */
import { createHash } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import {
  attributeNameProblem,
  attributeValueProblem,
  maxAttributes,
  resourceNameProblem,
} from '../registry/aws-names.ts';
import { CERTIFICATE_PARAMETERS } from './certificate-parameters.ts';
import {
  type Env,
  evaluateCondition,
  evaluateNode,
  NO_VALUE,
  type Path,
  templateError,
  type Value,
} from './intrinsics.ts';
import { type CheckedTemplate, policyDocumentOf, THING_OVERRIDES } from './template.ts';
import type { Override, PolicyPlan, ProvisioningPlan, ThingPlan } from './types.ts';

/** PROVISIONING_FAILED at a place of the template. */
function failed(path: Path, message: string, detail: Record<string, unknown> = {}): ZtError {
  const e = templateError(path, message);
  return new ZtError('PROVISIONING_FAILED', e.message, { ...e.detail, ...detail });
}

/** The same error as PROVISIONING_FAILED: a template that checks can still fail for one certificate. */
function asFailure(e: unknown): unknown {
  if (e instanceof ZtError && e.code === 'TEMPLATE_INVALID')
    return new ZtError('PROVISIONING_FAILED', e.message, e.detail);
  return e;
}

function resolveParameters(
  t: CheckedTemplate,
  given: Record<string, string>,
): Map<string, string | string[]> {
  const out = new Map<string, string | string[]>();
  for (const [name, p] of Object.entries(t.template.Parameters ?? {})) {
    const v = given[name] ?? (p.Default !== undefined ? String(p.Default) : undefined);
    if (v === undefined) {
      const source = CERTIFICATE_PARAMETERS[name];
      throw failed(
        ['Parameters', name],
        source
          ? `the certificate has no value for it: its subject has no ${source.attribute} attribute; issue the device a certificate with one, or remove the parameter from the template`
          : `no value was given for it and it has no Default`,
        { parameter: name },
      );
    }
    if (p.Type === 'Number' && !/^-?\d+(\.\d+)?$/.test(v)) {
      throw failed(['Parameters', name], `"${v}" is not a number`, { parameter: name });
    }
    if (p.AllowedValues && !p.AllowedValues.includes(v)) {
      throw failed(
        ['Parameters', name],
        `"${v}" is not one of its AllowedValues (${p.AllowedValues.join(', ')})`,
        { parameter: name },
      );
    }
    out.set(name, p.Type === 'CommaDelimitedList' ? v.split(',').map((s) => s.trim()) : v);
  }
  return out;
}

const asText = (v: Value | undefined, path: Path, what: string): string | undefined => {
  if (v === undefined || v === NO_VALUE) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw failed(path, `${what} must be a string`);
};

function name(v: Value | undefined, path: Path, what: string): string | undefined {
  const s = asText(v, path, what);
  if (s === undefined) return undefined;
  const problem = resourceNameProblem(s);
  if (problem) throw failed(path, `"${s}" cannot be a ${what}: ${problem}`);
  return s;
}

function overrideOf(settings: Record<string, string> | undefined, keys: string[]): Override {
  for (const k of keys) if (settings?.[k]) return settings[k]!.toUpperCase() as Override;
  // Not documented by AWS; zerotouch keeps what exists, so a reconnect changes nothing.
  return 'DO_NOTHING';
}

function thingPlan(
  logicalName: string,
  props: Record<string, Value>,
  settings: Record<string, string> | undefined,
): ThingPlan {
  const at: Path = ['Resources', logicalName, 'Properties'];
  const thingName = name(props.ThingName, [...at, 'ThingName'], 'thing name');
  if (!thingName) throw failed([...at, 'ThingName'], 'evaluates to nothing; a thing needs a name');
  const thingType = name(props.ThingTypeName, [...at, 'ThingTypeName'], 'thing type name');
  const attributes: Record<string, string> = {};
  const payload = props.AttributePayload;
  if (payload !== undefined) {
    if (typeof payload !== 'object' || Array.isArray(payload)) {
      throw failed([...at, 'AttributePayload'], 'must be an object of attribute names and values');
    }
    for (const [k, raw] of Object.entries(payload)) {
      const v = asText(raw, [...at, 'AttributePayload', k], `attribute ${k}`);
      if (v === undefined) continue;
      const np = attributeNameProblem(k);
      if (np) throw failed([...at, 'AttributePayload', k], `"${k}" cannot name an attribute: ${np}`);
      const vp = attributeValueProblem(v);
      if (vp) throw failed([...at, 'AttributePayload', k], `"${v}" cannot be an attribute value: ${vp}`);
      attributes[k] = v;
    }
    const max = maxAttributes(thingType !== undefined);
    if (Object.keys(attributes).length > max) {
      throw failed(
        [...at, 'AttributePayload'],
        `a thing ${thingType ? 'with' : 'without'} a thing type may have ${max} attributes, not ${Object.keys(attributes).length}${thingType ? '' : '; give it a ThingTypeName to allow 50'}`,
      );
    }
  }
  const rawGroups = props.ThingGroups ?? [];
  if (!Array.isArray(rawGroups)) throw failed([...at, 'ThingGroups'], 'must be a list of thing group names');
  const groups = rawGroups
    .map((g, i) => name(g, [...at, 'ThingGroups', i], 'thing group name')!)
    .filter(Boolean);
  const keys = (prop: 'attributes' | 'thingType' | 'groups') =>
    Object.entries(THING_OVERRIDES)
      .filter(([, v]) => v === prop)
      .map(([k]) => k);
  return {
    logicalName,
    name: thingName,
    attributes,
    ...(thingType ? { thingType } : {}),
    groups: [...new Set(groups)],
    ...(props.BillingGroup !== undefined
      ? { billingGroup: name(props.BillingGroup, [...at, 'BillingGroup'], 'billing group name') }
      : {}),
    overrides: {
      attributes: overrideOf(settings, keys('attributes')),
      thingType: overrideOf(settings, keys('thingType')),
      groups: overrideOf(settings, keys('groups')),
    },
  };
}

/** AWS names a policy given only by its document after the document's hash (40 upper-case hex). */
function defaultPolicyName(document: Record<string, unknown>): string {
  return createHash('sha1').update(JSON.stringify(document)).digest('hex').toUpperCase();
}

/** Evaluates a checked template with parameter values into a provisioning plan. */
export function evaluateTemplate(t: CheckedTemplate, given: Record<string, string>): ProvisioningPlan {
  try {
    return evaluate(t, given);
  } catch (e) {
    throw asFailure(e);
  }
}

function evaluate(t: CheckedTemplate, given: Record<string, string>): ProvisioningPlan {
  const parameters = resolveParameters(t, given);
  const conditions = t.template.Conditions ?? {};
  const known = new Map<string, boolean>();
  const env: Env = {
    parameters,
    mappings: t.template.Mappings ?? {},
    condition(name, path) {
      if (!known.has(name)) {
        if (!(name in conditions))
          throw templateError(path, `names condition "${name}", which Conditions does not declare`);
        known.set(name, evaluateCondition(conditions[name], ['Conditions', name], env));
      }
      return known.get(name)!;
    },
  };
  const plan: ProvisioningPlan = {
    parameters: Object.fromEntries([...parameters].map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v])),
    policies: [],
  };
  for (const [logicalName, r] of Object.entries(t.template.Resources)) {
    const path: Path = ['Resources', logicalName];
    if (r.Condition !== undefined && !env.condition(r.Condition, [...path, 'Condition'])) continue;
    const props = evaluateNode(r.Properties, [...path, 'Properties'], env) as Record<string, Value>;
    const at: Path = [...path, 'Properties'];
    if (r.Type === 'AWS::IoT::Thing') plan.thing = thingPlan(logicalName, props, r.OverrideSettings);
    else if (r.Type === 'AWS::IoT::Certificate') {
      const status = (asText(props.Status, [...at, 'Status'], 'Status') ?? 'ACTIVE').toUpperCase();
      if (status !== 'ACTIVE' && status !== 'INACTIVE')
        throw failed([...at, 'Status'], `must be ACTIVE or INACTIVE (got "${status}")`);
      const id = asText(props.CertificateId, [...at, 'CertificateId'], 'CertificateId');
      plan.certificate = {
        logicalName,
        ...(id ? { id: id.toLowerCase() } : {}),
        status,
        statusOverride: overrideOf(r.OverrideSettings, ['Status']),
      };
    } else {
      const policy: PolicyPlan = { logicalName, name: '' };
      if (props.PolicyDocument !== undefined && props.PolicyDocument !== NO_VALUE) {
        policy.document = policyDocumentOf(props.PolicyDocument, [...at, 'PolicyDocument']);
      }
      policy.name =
        asText(props.PolicyName, [...at, 'PolicyName'], 'PolicyName') ??
        defaultPolicyName(policy.document ?? {});
      plan.policies.push(policy);
    }
  }
  return plan;
}
