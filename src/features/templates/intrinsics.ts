/**
 * The intrinsic functions of provisioning templates: the documented AWS set (Ref, Fn::Join,
 * Fn::Select, Fn::Split, Fn::FindInMap, Fn::Sub) and, beyond AWS, CloudFormation's conditions
 * (Fn::If, Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition). One table of what each takes serves
 * both the check when a template is saved and the evaluation for a certificate.
 */
import { ZtError } from '../../errors.ts';
import type { Template } from './types.ts';

/** `{"Ref": "AWS::NoValue"}`: the property it stands for is left out. */
export const NO_VALUE: unique symbol = Symbol('AWS::NoValue');
export type Value = string | number | boolean | Value[] | { [k: string]: Value } | typeof NO_VALUE;

/** A location in the template, for messages ("Resources.thing.Properties.ThingGroups[1]"). */
export type Path = Array<string | number>;

/** The dotted form of a path. */
export function pathText(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

/** TEMPLATE_INVALID at `path`, with its JSON pointer in the detail. */
export function templateError(path: Path, message: string): ZtError {
  return new ZtError('TEMPLATE_INVALID', `${pathText(path)}: ${message}`, {
    path: '/' + path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1')).join('/'),
  });
}

const FUNCTIONS = [
  'Ref',
  'Fn::Join',
  'Fn::Select',
  'Fn::Split',
  'Fn::FindInMap',
  'Fn::Sub',
  'Fn::If',
  'Fn::Equals',
  'Fn::Not',
  'Fn::And',
  'Fn::Or',
] as const;
type Fn = (typeof FUNCTIONS)[number] | 'Condition';

/** The function a node calls, when it is `{"Ref": ...}` or `{"Fn::...": ...}` alone. */
export function intrinsicOf(node: unknown, inCondition = false): { fn: Fn; arg: unknown } | undefined {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return undefined;
  const keys = Object.keys(node);
  if (keys.length !== 1) return undefined;
  const k = keys[0]!;
  if ((FUNCTIONS as readonly string[]).includes(k) || (inCondition && k === 'Condition')) {
    return { fn: k as Fn, arg: (node as Record<string, unknown>)[k] };
  }
  if (k.startsWith('Fn::')) return { fn: k as Fn, arg: undefined };
  return undefined;
}

/** What a template's values may name. */
export interface Scope {
  parameters: Set<string>;
  mappings: NonNullable<Template['Mappings']>;
  conditions: Set<string>;
}

const PSEUDO = new Set(['AWS::NoValue']);
const SUB_VAR = /\$\{([^}!][^}]*)\}/g;

function arrayOf(path: Path, fn: string, arg: unknown, min: number, max: number, shape: string): unknown[] {
  if (!Array.isArray(arg) || arg.length < min || arg.length > max) {
    throw templateError(path, `${fn} takes ${shape}`);
  }
  return arg;
}

/**
 * Checks a value of the template as saved: every function is known and given what it takes,
 * and every name it uses (parameter, mapping, condition) is declared.
 */
export function checkNode(node: unknown, path: Path, scope: Scope, inCondition = false): void {
  const call = intrinsicOf(node, inCondition);
  if (!call) {
    if (Array.isArray(node)) node.forEach((x, i) => checkNode(x, [...path, i], scope, inCondition));
    else if (typeof node === 'object' && node !== null) {
      for (const [k, v] of Object.entries(node)) checkNode(v, [...path, k], scope, inCondition);
    }
    return;
  }
  const at = [...path, call.fn];
  const { fn, arg } = call;
  const str = (v: unknown, what: string) => {
    if (typeof v !== 'string') throw templateError(at, `${fn} takes ${what} as a string`);
    return v;
  };
  switch (fn) {
    case 'Ref': {
      const name = str(arg, 'a parameter name');
      if (!scope.parameters.has(name) && !PSEUDO.has(name)) {
        throw templateError(
          at,
          `refers to parameter "${name}", which Parameters does not declare; declare it, e.g. "${name}": {"Type": "String"}`,
        );
      }
      return;
    }
    case 'Condition': {
      const name = str(arg, 'a condition name');
      if (!scope.conditions.has(name))
        throw templateError(at, `names condition "${name}", which Conditions does not declare`);
      return;
    }
    case 'Fn::Join': {
      const [delim, list] = arrayOf(at, fn, arg, 2, 2, '["delimiter", [values]]');
      str(delim, 'the delimiter');
      checkNode(list, [...at, 1], scope, inCondition);
      return;
    }
    case 'Fn::Select': {
      const [index, list] = arrayOf(at, fn, arg, 2, 2, '[index, [values]]');
      if (typeof index === 'string' && !/^\d+$/.test(index))
        throw templateError(at, 'takes a whole-number index');
      if (typeof index !== 'string') checkNode(index, [...at, 0], scope, inCondition);
      checkNode(list, [...at, 1], scope, inCondition);
      return;
    }
    case 'Fn::Split': {
      const [delim, source] = arrayOf(at, fn, arg, 2, 2, '["delimiter", "text"]');
      if (str(delim, 'the delimiter') === '') throw templateError(at, 'takes a delimiter that is not empty');
      checkNode(source, [...at, 1], scope, inCondition);
      return;
    }
    case 'Fn::FindInMap': {
      const [map, ...keys] = arrayOf(at, fn, arg, 3, 3, '["MapName", "TopLevelKey", "SecondLevelKey"]');
      if (typeof map === 'string' && !scope.mappings[map]) {
        throw templateError(at, `names mapping "${map}", which Mappings does not declare`);
      }
      checkNode(map, [...at, 0], scope, inCondition);
      keys.forEach((k, i) => checkNode(k, [...at, i + 1], scope, inCondition));
      return;
    }
    case 'Fn::Sub': {
      const [text, vars] = Array.isArray(arg)
        ? (arrayOf(at, fn, arg, 2, 2, '"text with ${Name}" or ["text", {"Name": value}]') as [
            unknown,
            unknown,
          ])
        : [arg, {}];
      str(text, 'the text');
      if (typeof vars !== 'object' || vars === null || Array.isArray(vars)) {
        throw templateError(at, 'takes its variables as an object');
      }
      for (const [k, v] of Object.entries(vars)) checkNode(v, [...at, 1, k], scope, inCondition);
      for (const m of (text as string).matchAll(SUB_VAR)) {
        const name = m[1]!.trim();
        if (!(name in vars) && !scope.parameters.has(name) && !PSEUDO.has(name)) {
          throw templateError(
            at,
            `uses \${${name}}, which is neither a declared parameter nor one of its variables`,
          );
        }
      }
      return;
    }
    case 'Fn::If': {
      const [cond, a, b] = arrayOf(at, fn, arg, 3, 3, '["ConditionName", valueIfTrue, valueIfFalse]');
      const name = str(cond, 'the condition name');
      if (!scope.conditions.has(name))
        throw templateError(at, `names condition "${name}", which Conditions does not declare`);
      checkNode(a, [...at, 1], scope, inCondition);
      checkNode(b, [...at, 2], scope, inCondition);
      return;
    }
    case 'Fn::Equals': {
      const pair = arrayOf(at, fn, arg, 2, 2, '[value, value]');
      pair.forEach((x, i) => checkNode(x, [...at, i], scope, inCondition));
      return;
    }
    case 'Fn::Not':
    case 'Fn::And':
    case 'Fn::Or': {
      const conds =
        fn === 'Fn::Not'
          ? arrayOf(at, fn, arg, 1, 1, '[condition]')
          : arrayOf(at, fn, arg, 2, 10, '2 to 10 conditions');
      conds.forEach((x, i) => {
        if (!intrinsicOf(x, true))
          throw templateError(
            [...at, i],
            'must be a condition: Fn::Equals, Fn::Not, Fn::And, Fn::Or or {"Condition": "Name"}',
          );
        checkNode(x, [...at, i], scope, true);
      });
      return;
    }
    default:
      throw templateError(at, `is not a function templates know; use ${FUNCTIONS.join(', ')}`);
  }
}

/** What evaluation reads: parameter values, the mappings, and conditions by name. */
export interface Env {
  parameters: Map<string, string | string[]>;
  mappings: NonNullable<Template['Mappings']>;
  condition(name: string, path: Path): boolean;
}

const text = (v: Value, path: Path, what: string): string => {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw templateError(path, `${what} must be a string`);
};
const list = (v: Value, path: Path, what: string): Value[] => {
  if (Array.isArray(v)) return v;
  throw templateError(path, `${what} must be a list`);
};

/** Evaluates a value of the template (already checked) with parameter values. */
export function evaluateNode(node: unknown, path: Path, env: Env): Value {
  const call = intrinsicOf(node);
  if (!call) {
    if (Array.isArray(node)) {
      return node.map((x, i) => evaluateNode(x, [...path, i], env)).filter((x) => x !== NO_VALUE);
    }
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, Value> = {};
      for (const [k, v] of Object.entries(node)) {
        const x = evaluateNode(v, [...path, k], env);
        if (x !== NO_VALUE) out[k] = x;
      }
      return out;
    }
    if (typeof node === 'string' || typeof node === 'number' || typeof node === 'boolean') return node;
    throw templateError(path, 'null is not a value a template may hold');
  }
  const at = [...path, call.fn];
  const arg = call.arg as unknown[];
  switch (call.fn) {
    case 'Ref': {
      const name = call.arg as string;
      if (name === 'AWS::NoValue') return NO_VALUE;
      return env.parameters.get(name)!;
    }
    case 'Fn::Join': {
      const items = list(evaluateNode(arg[1], [...at, 1], env), at, 'the values to join');
      return items.map((x, i) => text(x, [...at, 1, i], 'every value to join')).join(arg[0] as string);
    }
    case 'Fn::Select': {
      const index = Number(text(evaluateNode(arg[0], [...at, 0], env), at, 'the index'));
      const items = list(evaluateNode(arg[1], [...at, 1], env), at, 'the values to select from');
      if (!Number.isInteger(index) || index < 0 || index >= items.length) {
        throw templateError(at, `index ${index} is outside the ${items.length} values it selects from`);
      }
      return items[index]!;
    }
    case 'Fn::Split':
      return text(evaluateNode(arg[1], [...at, 1], env), at, 'the text to split').split(arg[0] as string);
    case 'Fn::FindInMap': {
      const [map, top, second] = arg.map((x, i) =>
        text(evaluateNode(x, [...at, i], env), at, 'a mapping key'),
      );
      const found = env.mappings[map!]?.[top!]?.[second!];
      if (found === undefined)
        throw templateError(at, `mapping "${map}" has no value at "${top}" / "${second}"`);
      return found;
    }
    case 'Fn::Sub': {
      const [tmpl, vars] = Array.isArray(call.arg)
        ? (call.arg as [string, Record<string, unknown>])
        : [call.arg as string, {}];
      const values = new Map<string, string>();
      for (const [k, v] of Object.entries(vars))
        values.set(k, text(evaluateNode(v, [...at, 1, k], env), at, `variable ${k}`));
      return tmpl
        .replace(SUB_VAR, (_m, name: string) => {
          const n = name.trim();
          const v = values.get(n) ?? env.parameters.get(n);
          return Array.isArray(v) ? v.join(',') : (v ?? '');
        })
        .replace(/\$\{!/g, '${');
    }
    case 'Fn::If':
      return env.condition(arg[0] as string, at)
        ? evaluateNode(arg[1], [...at, 1], env)
        : evaluateNode(arg[2], [...at, 2], env);
    default:
      return evaluateCondition(node, path, env);
  }
}

/** Evaluates a condition expression to true or false. */
export function evaluateCondition(node: unknown, path: Path, env: Env): boolean {
  const call = intrinsicOf(node, true);
  if (!call)
    throw templateError(
      path,
      'must be a condition: Fn::Equals, Fn::Not, Fn::And, Fn::Or or {"Condition": "Name"}',
    );
  const at = [...path, call.fn];
  const arg = call.arg as unknown[];
  switch (call.fn) {
    case 'Condition':
      return env.condition(call.arg as string, at);
    case 'Fn::Equals': {
      const [a, b] = arg.map((x, i) => evaluateNode(x, [...at, i], env));
      return JSON.stringify(a) === JSON.stringify(b);
    }
    case 'Fn::Not':
      return !evaluateCondition(arg[0], [...at, 0], env);
    case 'Fn::And':
      return arg.every((x, i) => evaluateCondition(x, [...at, i], env));
    case 'Fn::Or':
      return arg.some((x, i) => evaluateCondition(x, [...at, i], env));
    default:
      throw templateError(
        path,
        `${call.fn} is not a condition; use Fn::Equals, Fn::Not, Fn::And, Fn::Or or {"Condition": "Name"}`,
      );
  }
}
