/**
 * IoT policy documents (IAM grammar as AWS IoT uses it): Version, and Statement entries with
 * Effect, Action and Resource. Parsed strictly when a policy is saved: what zerotouch would not
 * enforce (Condition, NotAction, NotResource) is refused rather than silently ignored.
 */
import { ZtError } from '../../errors.ts';

export interface PolicyStatement {
  effect: 'Allow' | 'Deny';
  actions: string[];
  resources: string[];
}

export interface PolicyDocument {
  statements: PolicyStatement[];
}

/** AWS's policy document quota: 2048 characters, whitespace not counted. */
export const MAX_POLICY_CHARS = 2048;

const ACTION = /^(\*|[A-Za-z0-9-]+:[A-Za-z0-9*?]+)$/;
const VARIABLE = /\$\{([^}]*)\}/g;

function malformed(message: string, path?: string): ZtError {
  return new ZtError('BAD_REQUEST', `the policy document is not valid: ${path ? `${path} ` : ''}${message}`, {
    rule: 'policy-document',
    ...(path ? { path } : {}),
  });
}

function strings(v: unknown, path: string): string[] {
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length === 0 || !list.every((x) => typeof x === 'string' && x.length > 0))
    throw malformed('must be a non-empty string or a list of them', path);
  return list as string[];
}

/** Parses a policy document from JSON text or an object; BAD_REQUEST naming the place when it is not valid. */
export function parsePolicyDocument(input: string | unknown): { document: PolicyDocument; text: string } {
  let value: unknown = input;
  let text: string;
  if (typeof input === 'string') {
    if (input.replace(/\s/g, '').length > MAX_POLICY_CHARS)
      throw malformed(`is longer than ${MAX_POLICY_CHARS} characters (whitespace not counted)`);
    try {
      value = JSON.parse(input);
    } catch (e) {
      throw malformed(`is not JSON (${(e as Error).message})`);
    }
    text = input;
  } else {
    text = JSON.stringify(input);
    if (text.length > MAX_POLICY_CHARS)
      throw malformed(`is longer than ${MAX_POLICY_CHARS} characters (whitespace not counted)`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw malformed('must be a JSON object with Version and Statement');
  const doc = value as Record<string, unknown>;
  for (const key of Object.keys(doc)) {
    if (key !== 'Version' && key !== 'Statement' && key !== 'Id')
      throw malformed(`has "${key}"; a policy has Version and Statement`, `/${key}`);
  }
  if (doc.Version !== undefined && doc.Version !== '2012-10-17')
    throw malformed('must be "2012-10-17"', '/Version');
  const raw = Array.isArray(doc.Statement)
    ? doc.Statement
    : doc.Statement === undefined
      ? []
      : [doc.Statement];
  if (raw.length === 0) throw malformed('must hold at least one statement', '/Statement');
  const statements = raw.map((s, i): PolicyStatement => {
    const at = `/Statement/${i}`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw malformed('must be an object', at);
    const st = s as Record<string, unknown>;
    for (const key of Object.keys(st)) {
      if (key === 'Condition' || key === 'NotAction' || key === 'NotResource' || key === 'Principal')
        throw malformed(
          `uses ${key}, which zerotouch does not enforce; express the rule with Effect, Action and Resource`,
          `${at}/${key}`,
        );
      if (!['Effect', 'Action', 'Resource', 'Sid'].includes(key))
        throw malformed(`has "${key}"; a statement has Effect, Action and Resource`, `${at}/${key}`);
    }
    if (st.Effect !== 'Allow' && st.Effect !== 'Deny')
      throw malformed('must be "Allow" or "Deny"', `${at}/Effect`);
    const actions = strings(st.Action, `${at}/Action`);
    for (const a of actions) {
      if (!ACTION.test(a)) throw malformed(`"${a}" is not an action such as iot:Publish`, `${at}/Action`);
    }
    const resources = strings(st.Resource, `${at}/Resource`);
    for (const r of resources) {
      if (r !== '*' && !r.startsWith('arn:'))
        throw malformed(
          `"${r}" is not "*" or an ARN such as arn:aws:iot:<region>:<account>:topic/<topic>`,
          `${at}/Resource`,
        );
      for (const m of r.matchAll(VARIABLE)) {
        if (!/^[A-Za-z0-9:._[\]-]+$/.test(m[1]!) && m[1] !== '*' && m[1] !== '?' && m[1] !== '$')
          throw malformed(`"\${${m[1]}}" is not a policy variable`, `${at}/Resource`);
      }
    }
    return { effect: st.Effect, actions, resources };
  });
  return { document: { statements }, text };
}
