/**
 * Reading a provisioning template: JSON text or an object, its outline checked against the
 * schema, then what the outline cannot say: every name it uses is declared, each resource has
 * the properties of its type, literal names keep AWS's rules, OverrideSettings fit their resource,
 * and a JITP template takes its parameters from the certificate. Errors name the JSON path.
 */
import { checkSchema } from '../../config/schema-check.ts';
import { ZtError } from '../../errors.ts';
import { attributeNameProblem, attributeValueProblem, resourceNameProblem } from '../registry/aws-names.ts';
import { CERTIFICATE_PARAMETERS } from './certificate-parameters.ts';
import { checkNode, intrinsicOf, type Path, type Scope, templateError } from './intrinsics.ts';
import { MAX_TEMPLATE_CHARS, type Template, type TemplateKind, TemplateSchema } from './types.ts';

/** A template that passed every check, ready to evaluate. */
export interface CheckedTemplate {
  kind: TemplateKind;
  template: Template;
}

const THING_PROPERTIES = [
  'ThingName',
  'AttributePayload',
  'ThingTypeName',
  'ThingGroups',
  'BillingGroup',
  'PackageVersions',
];
const CERTIFICATE_PROPERTIES = [
  'CertificateId',
  'CertificateSigningRequest',
  'CertificatePem',
  'CACertificatePem',
  'Status',
];
const POLICY_PROPERTIES = ['PolicyName', 'PolicyDocument'];
const POLICY_NAME = /^[\w+=,.@-]{1,128}$/;

/** OverrideSettings keys per property, in both spellings AWS uses; MERGE only where AWS allows it. */
export const THING_OVERRIDES: Record<string, 'attributes' | 'thingType' | 'groups'> = {
  AttributePayload: 'attributes',
  ATTRIBUTE_PAYLOAD: 'attributes',
  ThingTypeName: 'thingType',
  THING_TYPE_NAME: 'thingType',
  ThingGroups: 'groups',
  THING_GROUPS: 'groups',
};
const OVERRIDES = ['DO_NOTHING', 'REPLACE', 'FAIL', 'MERGE'];

const isLiteral = (v: unknown) => intrinsicOf(v) === undefined;

/** True when a function appears anywhere in `v`. */
function hasIntrinsic(v: unknown): boolean {
  if (!isLiteral(v)) return true;
  if (Array.isArray(v)) return v.some(hasIntrinsic);
  if (typeof v === 'object' && v !== null) return Object.values(v).some(hasIntrinsic);
  return false;
}

function checkOverrides(path: Path, type: string, o: Record<string, string> | undefined): void {
  if (!o) return;
  for (const [key, value] of Object.entries(o)) {
    const at = [...path, key];
    const v = value.toUpperCase();
    if (!OVERRIDES.includes(v))
      throw templateError(at, `must be one of ${OVERRIDES.join(', ')} (got "${value}")`);
    if (type === 'AWS::IoT::Policy')
      throw templateError(path, 'OverrideSettings are not available for policy resources');
    if (type === 'AWS::IoT::Certificate') {
      if (key !== 'Status') throw templateError(at, 'a certificate has OverrideSettings only for Status');
      if (v === 'MERGE')
        throw templateError(at, 'MERGE is valid only for AttributePayload and ThingGroups of a thing');
      continue;
    }
    const prop = THING_OVERRIDES[key];
    if (!prop)
      throw templateError(
        at,
        `is not a thing property with OverrideSettings; use AttributePayload, ThingTypeName or ThingGroups`,
      );
    if (v === 'MERGE' && prop === 'thingType') {
      throw templateError(at, 'MERGE is valid only for AttributePayload and ThingGroups of a thing');
    }
  }
}

function checkKeys(path: Path, props: Record<string, unknown>, allowed: string[], type: string): void {
  for (const k of Object.keys(props)) {
    if (!allowed.includes(k))
      throw templateError([...path, k], `is not a property of ${type}; use ${allowed.join(', ')}`);
  }
}

function checkThing(path: Path, p: Record<string, unknown>): void {
  checkKeys(path, p, THING_PROPERTIES, 'AWS::IoT::Thing');
  if (p.ThingName === undefined)
    throw templateError([...path, 'ThingName'], 'is required: the name of the thing');
  for (const k of ['ThingName', 'ThingTypeName', 'BillingGroup']) {
    const v = p[k];
    if (typeof v === 'string') {
      const problem = resourceNameProblem(v);
      if (problem) throw templateError([...path, k], `"${v}" cannot be a name: ${problem}`);
    } else if (v !== undefined && isLiteral(v))
      throw templateError([...path, k], 'must be a string or a function that gives one');
  }
  const attrs = p.AttributePayload;
  if (attrs !== undefined && isLiteral(attrs)) {
    if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) {
      throw templateError([...path, 'AttributePayload'], 'must be an object of attribute names and values');
    }
    for (const [name, value] of Object.entries(attrs)) {
      const problem = attributeNameProblem(name);
      if (problem)
        throw templateError(
          [...path, 'AttributePayload', name],
          `"${name}" cannot name an attribute: ${problem}`,
        );
      if (typeof value === 'string') {
        const vp = attributeValueProblem(value);
        if (vp)
          throw templateError(
            [...path, 'AttributePayload', name],
            `"${value}" cannot be an attribute value: ${vp}`,
          );
      } else if (isLiteral(value)) {
        throw templateError(
          [...path, 'AttributePayload', name],
          'must be a string or a function that gives one',
        );
      }
    }
  }
  const groups = p.ThingGroups;
  if (groups !== undefined && isLiteral(groups)) {
    if (!Array.isArray(groups))
      throw templateError([...path, 'ThingGroups'], 'must be a list of thing group names');
    groups.forEach((g, i) => {
      if (typeof g !== 'string') return;
      const problem = resourceNameProblem(g);
      if (problem)
        throw templateError([...path, 'ThingGroups', i], `"${g}" cannot name a thing group: ${problem}`);
    });
  }
}

function checkCertificate(path: Path, p: Record<string, unknown>, kind: TemplateKind): void {
  checkKeys(path, p, CERTIFICATE_PROPERTIES, 'AWS::IoT::Certificate');
  const ways = ['CertificateId', 'CertificateSigningRequest', 'CertificatePem'].filter(
    (k) => p[k] !== undefined,
  );
  if (ways.length !== 1) {
    throw templateError(
      path,
      'give exactly one of CertificateId, CertificateSigningRequest or CertificatePem',
    );
  }
  if (ways[0] !== 'CertificateId') {
    throw templateError(
      [...path, ways[0]!],
      `a ${kind} template names the certificate with CertificateId: {"Ref": "AWS::IoT::Certificate::Id"}`,
    );
  }
  if (typeof p.Status === 'string' && !['ACTIVE', 'INACTIVE'].includes(p.Status.toUpperCase())) {
    throw templateError([...path, 'Status'], `must be ACTIVE or INACTIVE (got "${p.Status}")`);
  }
}

/** A policy document given as text or as an object, parsed; TEMPLATE_INVALID when it is not a JSON object. */
export function policyDocumentOf(v: unknown, path: Path): Record<string, unknown> {
  let doc = v;
  if (typeof v === 'string') {
    try {
      doc = JSON.parse(v);
    } catch (e) {
      throw templateError(
        path,
        `is not JSON: ${(e as Error).message}; give the policy as a JSON object or as its JSON text`,
      );
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw templateError(path, 'must be a policy document: a JSON object with Version and Statement');
  }
  if (!Array.isArray((doc as { Statement?: unknown }).Statement)) {
    throw templateError(
      path,
      'must have a Statement list, e.g. [{"Effect": "Allow", "Action": ["iot:Publish"], "Resource": ["*"]}]',
    );
  }
  return doc as Record<string, unknown>;
}

function checkPolicy(path: Path, p: Record<string, unknown>): void {
  checkKeys(path, p, POLICY_PROPERTIES, 'AWS::IoT::Policy');
  if ((p.PolicyName === undefined) === (p.PolicyDocument === undefined)) {
    throw templateError(path, 'give PolicyName (an existing policy) or PolicyDocument, one of the two');
  }
  if (typeof p.PolicyName === 'string' && !POLICY_NAME.test(p.PolicyName)) {
    throw templateError(
      [...path, 'PolicyName'],
      `"${p.PolicyName}" cannot name a policy: use 1-128 letters, digits and _ + = , . @ -`,
    );
  }
  // A document built by functions is checked when it is evaluated.
  if (p.PolicyDocument !== undefined && !hasIntrinsic(p.PolicyDocument)) {
    policyDocumentOf(p.PolicyDocument, [...path, 'PolicyDocument']);
  }
}

/** Conditions that name each other in a circle cannot be evaluated. */
function checkConditionCycles(conditions: Record<string, unknown>): void {
  const uses = (node: unknown, out: Set<string>) => {
    const call = intrinsicOf(node, true);
    if (call?.fn === 'Condition' && typeof call.arg === 'string') out.add(call.arg);
    if (Array.isArray(node)) node.forEach((x) => uses(x, out));
    else if (typeof node === 'object' && node !== null) Object.values(node).forEach((x) => uses(x, out));
    return out;
  };
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]) => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      throw templateError(
        ['Conditions', name],
        `conditions name each other in a circle: ${[...trail, name].join(' -> ')}`,
      );
    }
    state.set(name, 'visiting');
    for (const next of uses(conditions[name], new Set())) visit(next, [...trail, name]);
    state.set(name, 'done');
  };
  for (const name of Object.keys(conditions)) visit(name, []);
}

/** Reads and checks a template; TEMPLATE_INVALID names what is wrong and where. */
export function parseTemplate(input: string | unknown, kind: TemplateKind = 'JITP'): CheckedTemplate {
  let doc = input;
  if (typeof input === 'string') {
    if (input.length > MAX_TEMPLATE_CHARS) {
      throw new ZtError(
        'TEMPLATE_INVALID',
        `the template is ${input.length} characters long; the limit is ${MAX_TEMPLATE_CHARS}`,
      );
    }
    try {
      doc = JSON.parse(input);
    } catch (e) {
      throw new ZtError('TEMPLATE_INVALID', `the template is not JSON: ${(e as Error).message}`);
    }
  } else if (JSON.stringify(input ?? null).length > MAX_TEMPLATE_CHARS) {
    throw new ZtError(
      'TEMPLATE_INVALID',
      `the template is longer than ${MAX_TEMPLATE_CHARS} characters of JSON`,
    );
  }
  const t = checkSchema<Template>(TemplateSchema, doc, { code: 'TEMPLATE_INVALID' });
  const parameters = t.Parameters ?? {};
  for (const [name, p] of Object.entries(parameters)) {
    if (kind === 'JITP' && !CERTIFICATE_PARAMETERS[name] && p.Default === undefined) {
      throw templateError(
        ['Parameters', name],
        `a JITP template takes its parameters from the certificate (${Object.keys(CERTIFICATE_PARAMETERS).join(', ')}); give "${name}" a Default or remove it`,
      );
    }
  }
  const scope: Scope = {
    parameters: new Set(Object.keys(parameters)),
    mappings: t.Mappings ?? {},
    conditions: new Set(Object.keys(t.Conditions ?? {})),
  };
  for (const [name, cond] of Object.entries(t.Conditions ?? {})) {
    if (!intrinsicOf(cond, true)) {
      throw templateError(
        ['Conditions', name],
        'must be a condition: Fn::Equals, Fn::Not, Fn::And, Fn::Or or {"Condition": "Name"}',
      );
    }
    checkNode(cond, ['Conditions', name], scope, true);
  }
  checkConditionCycles(t.Conditions ?? {});
  const counts: Record<string, number> = {};
  for (const [name, r] of Object.entries(t.Resources)) {
    const path: Path = ['Resources', name];
    counts[r.Type] = (counts[r.Type] ?? 0) + 1;
    if (r.Condition !== undefined && !scope.conditions.has(r.Condition)) {
      throw templateError(
        [...path, 'Condition'],
        `names condition "${r.Condition}", which Conditions does not declare`,
      );
    }
    checkNode(r.Properties, [...path, 'Properties'], scope);
    if (r.Type === 'AWS::IoT::Thing') checkThing([...path, 'Properties'], r.Properties);
    if (r.Type === 'AWS::IoT::Certificate') checkCertificate([...path, 'Properties'], r.Properties, kind);
    if (r.Type === 'AWS::IoT::Policy') checkPolicy([...path, 'Properties'], r.Properties);
    checkOverrides([...path, 'OverrideSettings'], r.Type, r.OverrideSettings);
  }
  if ((counts['AWS::IoT::Thing'] ?? 0) > 1)
    throw templateError(['Resources'], 'declare at most one AWS::IoT::Thing');
  if ((counts['AWS::IoT::Certificate'] ?? 0) !== 1) {
    throw templateError(
      ['Resources'],
      'declare exactly one AWS::IoT::Certificate: {"CertificateId": {"Ref": "AWS::IoT::Certificate::Id"}}',
    );
  }
  return { kind, template: t };
}
