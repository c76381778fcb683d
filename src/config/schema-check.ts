/**
 * Configuration values checked against TypeBox schemas, with messages that name the key path and
 * say what to write: a schema node's `x-message` says what it must be (else one is derived from
 * the schema), `x-required` what a missing one is.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { TSchema } from 'typebox';
import { type ErrorCode, ZtError } from '../errors.ts';

const ajv = new Ajv({
  allErrors: true,
  verbose: true,
  strict: false,
  coerceTypes: false,
  useDefaults: false,
});
const compiled = new WeakMap<object, ValidateFunction>();

type Node = {
  'x-message'?: string;
  'x-required'?: string;
  type?: string;
  enum?: unknown[];
  const?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  items?: Node;
  anyOf?: Node[];
  properties?: Record<string, Node>;
};

/** What a value of `s` looks like, in words. */
export function expectation(s: Node): string {
  if (s.enum) return `one of ${s.enum.map((x) => JSON.stringify(x)).join(', ')}`;
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.anyOf) return s.anyOf.map(expectation).join(' or ');
  switch (s.type) {
    case 'integer':
    case 'number': {
      const unit = s.type === 'integer' ? 'a whole number' : 'a number';
      if (s.minimum !== undefined && s.maximum !== undefined)
        return `${unit} from ${s.minimum} to ${s.maximum}`;
      if (s.minimum !== undefined) return `${unit} of at least ${s.minimum}`;
      return unit;
    }
    case 'string':
      return s.minLength ? 'a non-empty string' : 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return s.items ? `a list of ${expectation(s.items).replace(/^an? /, '')}s` : 'a list';
    case 'object':
      return 'a table';
    default:
      return 'something else';
  }
}

const keyPath = (prefix: string, pointer: string) =>
  [
    prefix,
    ...pointer
      .split('/')
      .slice(1)
      .map((p, i, all) => (/^\d+$/.test(p) && i > 0 ? `[${p}]` : p)),
  ]
    .filter(Boolean)
    .join('.')
    .replace(/\.\[/g, '[');

/**
 * The most useful failure: a wrong value before a missing one; a union as a whole, unless the
 * value took the shape of one of its tables and failed inside it.
 */
function pick(errors: ErrorObject[]): ErrorObject {
  const union = errors.find((x) => x.keyword === 'anyOf' || x.keyword === 'oneOf');
  const inside = (e: ErrorObject) => !!union && e.instancePath.startsWith(`${union.instancePath}/`);
  const wrong = errors.filter((x) => x.keyword !== 'required' && x !== union);
  if (union) {
    const deeper = errors.filter((x) => inside(x) && x.keyword !== 'required');
    const deeperMissing = errors.filter((x) => inside(x) && x.keyword === 'required');
    if (union.data && typeof union.data === 'object') return deeper[0] ?? deeperMissing[0] ?? union;
    return union;
  }
  return wrong[0] ?? errors[0];
}

/** The message for a failed check, and the JSON pointer it is about. */
function describe(errors: ErrorObject[], prefix: string): { message: string; pointer: string } {
  const e = pick(errors);
  const parent = (e.parentSchema ?? {}) as Node;
  const p = e.params as Record<string, unknown>;
  if (e.keyword === 'required') {
    const missing = String(p.missingProperty);
    const hint = parent.properties?.[missing]?.['x-required'];
    const pointer = `${e.instancePath}/${missing}`;
    return { message: `${keyPath(prefix, pointer)}: is required${hint ? `: ${hint}` : ''}`, pointer };
  }
  if (e.keyword === 'additionalProperties') {
    const where = keyPath(prefix, e.instancePath);
    const known = Object.keys(parent.properties ?? {}).join(', ');
    const pointer = `${e.instancePath}/${String(p.additionalProperty)}`;
    return {
      message: `${keyPath(prefix, pointer)}: is not a key of ${where ? `[${where}]` : 'this file'} (${known})`,
      pointer,
    };
  }
  const what = parent['x-message'] ?? `must be ${expectation(parent)}`;
  return {
    message: `${keyPath(prefix, e.instancePath)}: ${what} (got ${JSON.stringify(e.data)})`,
    pointer: e.instancePath,
  };
}

/**
 * Checks `value` against `schema`; throws `code` with "<source>: <key path>: <what to write>"
 * and the JSON pointer in `detail.path`. `prefix` is the key path of `value` itself.
 */
export function checkSchema<T>(
  schema: TSchema,
  value: unknown,
  o: { code: ErrorCode; source?: string; prefix?: string },
): T {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    compiled.set(schema, validate);
  }
  if (!validate(value)) {
    const { message, pointer } = describe(validate.errors ?? [], o.prefix ?? '');
    throw new ZtError(o.code, o.source ? `${o.source}: ${message}` : message, { path: pointer });
  }
  return value as T;
}

/** Checks a configuration value (CONFIG_INVALID); `prefix` is its key path ("" for a whole file). */
export function checkConfig<T>(schema: TSchema, value: unknown, source: string, prefix = ''): T {
  return checkSchema<T>(schema, value, { code: 'CONFIG_INVALID', source, prefix });
}
