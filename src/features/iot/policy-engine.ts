/**
 * Policy evaluation for the gateway. A connection's policies are compiled once, when it connects
 * (policy variables replaced by that connection's values, wildcards turned into patterns matched
 * in linear-bounded time), so a PUBLISH, SUBSCRIBE or delivery costs a few pattern matches and no
 * parsing. IAM rules: an explicit Deny wins, then an Allow, otherwise the action is denied.
 */
import type { PolicyDocument } from './policy-document.ts';

export type IotAction = 'iot:Connect' | 'iot:Publish' | 'iot:Subscribe' | 'iot:Receive';

/** The values policy variables take for one connection; a missing one matches nothing. */
export type PolicyVariables = Record<string, string | undefined>;

/** A wildcard pattern: characters to match literally, and the policy's `*` and `?`. */
const STAR = 0;
const ONE = 1;
type Token = string | typeof STAR | typeof ONE;

interface Pattern {
  /** Set when the pattern has no wildcard: plain comparison. */
  exact?: string;
  tokens: Token[];
}

interface CompiledStatement {
  allow: boolean;
  actions: Pattern[];
  resources: Pattern[];
}

/** The policies of one connection, ready to answer per message. */
export interface CompiledPolicies {
  /** True when an attached policy grants `action` on `resource` and none denies it. */
  allows(action: IotAction, resource: string): boolean;
  /** True when some statement names an action that covers `action` (e.g. iot:* covers iot:Connect). */
  mentions(action: IotAction): boolean;
}

/** The policy text's `*` and `?` are wildcards; every other character is literal. */
function wildcardTokens(text: string): Token[] {
  return text.split('').map((c) => (c === '*' ? STAR : c === '?' ? ONE : c));
}

function pattern(tokens: Token[]): Pattern {
  return tokens.every((t) => typeof t === 'string') ? { exact: tokens.join(''), tokens } : { tokens };
}

/**
 * Glob matching in O(pattern x text) time at worst, never exponential: a device chooses the
 * topic, so a policy with many `*` must not let a long topic cost more than a scan.
 */
function matches(p: Pattern, text: string): boolean {
  if (p.exact !== undefined) return p.exact === text;
  // Compared in UTF-16 code units, as the tokens were split: no copy of the topic per check.
  const t = p.tokens;
  const chars = text;
  let pi = 0;
  let si = 0;
  let starP = -1;
  let starS = 0;
  while (si < chars.length) {
    const tok = t[pi];
    if (pi < t.length && (tok === ONE || tok === chars[si])) {
      pi++;
      si++;
    } else if (pi < t.length && tok === STAR) {
      starP = pi++;
      starS = si;
    } else if (starP >= 0) {
      pi = starP + 1;
      si = ++starS;
    } else return false;
  }
  while (pi < t.length && t[pi] === STAR) pi++;
  return pi === t.length;
}

function actionPattern(action: string): Pattern {
  // IAM action names compare case-insensitively: both sides are lower-cased.
  return pattern(wildcardTokens(action.toLowerCase()));
}

/** The resource pattern with this connection's variables in place; undefined when one has no value. */
function resourcePattern(resource: string, vars: PolicyVariables): Pattern | undefined {
  const tokens: Token[] = [];
  let last = 0;
  for (const m of resource.matchAll(/\$\{([^}]*)\}/g)) {
    tokens.push(...wildcardTokens(resource.slice(last, m.index)));
    const name = m[1]!;
    // IAM's escapes for the characters that are otherwise wildcards.
    const value = name === '*' || name === '?' || name === '$' ? name : vars[name];
    if (value === undefined) return undefined;
    tokens.push(...value.split(''));
    last = m.index! + m[0].length;
  }
  tokens.push(...wildcardTokens(resource.slice(last)));
  return pattern(tokens);
}

/** Compiles documents for one connection's variables. */
export function compilePolicies(documents: PolicyDocument[], vars: PolicyVariables): CompiledPolicies {
  const statements: CompiledStatement[] = [];
  for (const d of documents) {
    for (const s of d.statements) {
      const resources = s.resources
        .map((r) => resourcePattern(r, vars))
        .filter((r): r is Pattern => r !== undefined);
      statements.push({ allow: s.effect === 'Allow', actions: s.actions.map(actionPattern), resources });
    }
  }
  const denies = statements.filter((s) => !s.allow);
  const allows = statements.filter((s) => s.allow);
  const hit = (list: CompiledStatement[], action: string, resource: string) => {
    const a = action.toLowerCase();
    return list.some(
      (s) => s.actions.some((p) => matches(p, a)) && s.resources.some((r) => matches(r, resource)),
    );
  };
  return {
    allows(action, resource) {
      return !hit(denies, action, resource) && hit(allows, action, resource);
    },
    mentions(action) {
      const a = action.toLowerCase();
      return statements.some((s) => s.actions.some((p) => matches(p, a)));
    },
  };
}
