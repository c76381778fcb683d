/**
 * Policy evaluation for the gateway. A connection's policies are compiled once, when it connects
 * (policy variables replaced by that connection's values, wildcards turned into anchored
 * regular expressions), so a PUBLISH, SUBSCRIBE or delivery costs a few regex tests and no
 * parsing. IAM rules: an explicit Deny wins, then an Allow, otherwise the action is denied.
 */
import type { PolicyDocument } from './policy-document.ts';

export type IotAction = 'iot:Connect' | 'iot:Publish' | 'iot:Subscribe' | 'iot:Receive';

/** The values policy variables take for one connection; a missing one matches nothing. */
export type PolicyVariables = Record<string, string | undefined>;

interface CompiledStatement {
  allow: boolean;
  actions: RegExp[];
  resources: RegExp[];
}

/** The policies of one connection, ready to answer per message. */
export interface CompiledPolicies {
  /** True when an attached policy grants `action` on `resource` and none denies it. */
  allows(action: IotAction, resource: string): boolean;
  /** True when some statement names an action that covers `action` (e.g. iot:* covers iot:Connect). */
  mentions(action: IotAction): boolean;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** `*` and `?` of the policy text are wildcards; everything else, and every variable's value, is literal. */
function wildcardPart(text: string): string {
  return [...text].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : escape(c))).join('');
}

function actionPattern(action: string): RegExp {
  // IAM action names compare case-insensitively.
  return new RegExp(`^${wildcardPart(action)}$`, 'i');
}

/** The resource pattern with this connection's variables in place; undefined when one has no value. */
function resourcePattern(resource: string, vars: PolicyVariables): RegExp | undefined {
  let out = '';
  let last = 0;
  for (const m of resource.matchAll(/\$\{([^}]*)\}/g)) {
    out += wildcardPart(resource.slice(last, m.index));
    const name = m[1]!;
    // IAM's escapes for the characters that are otherwise wildcards.
    const value = name === '*' || name === '?' || name === '$' ? name : vars[name];
    if (value === undefined) return undefined;
    out += escape(value);
    last = m.index! + m[0].length;
  }
  out += wildcardPart(resource.slice(last));
  return new RegExp(`^${out}$`);
}

/** Compiles documents for one connection's variables. */
export function compilePolicies(documents: PolicyDocument[], vars: PolicyVariables): CompiledPolicies {
  const statements: CompiledStatement[] = [];
  for (const d of documents) {
    for (const s of d.statements) {
      const resources = s.resources
        .map((r) => resourcePattern(r, vars))
        .filter((r): r is RegExp => r !== undefined);
      statements.push({ allow: s.effect === 'Allow', actions: s.actions.map(actionPattern), resources });
    }
  }
  const denies = statements.filter((s) => !s.allow);
  const allows = statements.filter((s) => s.allow);
  const hit = (list: CompiledStatement[], action: string, resource: string) =>
    list.some((s) => s.actions.some((a) => a.test(action)) && s.resources.some((r) => r.test(resource)));
  return {
    allows(action, resource) {
      return !hit(denies, action, resource) && hit(allows, action, resource);
    },
    mentions(action) {
      return statements.some((s) => s.actions.some((a) => a.test(action)));
    },
  };
}
