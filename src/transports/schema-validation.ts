/**
 * Request validation from the route schemas: bodies are checked strictly (no type coercion,
 * unknown properties refused where a schema closes the object, never silently dropped); path,
 * query and header values, which arrive as text, are converted to the schema's types. A failure
 * answers BAD_REQUEST naming the part and the JSON path that failed.
 */
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance, FastifySchemaCompiler } from 'fastify';
import { ZtError } from '../errors.ts';

// ajv-formats is CommonJS with its function as the default export.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

function ajv(coerceTypes: boolean | 'array'): Ajv {
  const a = new Ajv({
    coerceTypes,
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
    verbose: true,
  });
  addFormats(a);
  return a;
}

const strictAjv = ajv(false);
const textAjv = ajv('array');

const compile: FastifySchemaCompiler<object> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strictAjv : textAjv).compile(schema);

const PART: Record<string, string> = {
  body: 'body field',
  querystring: 'query parameter',
  params: 'path parameter',
  headers: 'header',
};
const WHOLE: Record<string, string> = {
  body: 'the body',
  querystring: 'the query',
  params: 'the path',
  headers: 'the headers',
};

/** "/a/0/b" -> "a[0].b" */
function dotted(pointer: string): string {
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`))
    .join('');
}

function where(part: string, pointer: string): string {
  return pointer ? `the ${PART[part] ?? part} ${dotted(pointer)}` : (WHOLE[part] ?? part);
}

const list = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join(', ');

/** What one failed check says, in words that name the fix. */
function sentence(part: string, errors: ErrorObject[]): { message: string; path: string } {
  const first = errors[0];
  const path = first.instancePath;
  const same = errors.filter(
    (e) => e.instancePath === path && e.keyword !== 'anyOf' && e.keyword !== 'oneOf',
  );
  const at = where(part, path);
  const p = first.params as Record<string, unknown>;
  switch (first.keyword) {
    case 'required': {
      const missing = `${path}/${String(p.missingProperty)}`;
      return { message: `${where(part, missing)} is required`, path: missing };
    }
    case 'additionalProperties': {
      const known = Object.keys((first.parentSchema as { properties?: object })?.properties ?? {});
      return {
        message: `${at} has an unknown property "${String(p.additionalProperty)}"${known.length ? `; known properties: ${known.join(', ')}` : ''}`,
        path: `${path}/${String(p.additionalProperty)}`,
      };
    }
    case 'type':
    case 'const':
    case 'enum': {
      // A union (e.g. object or null) fails once per branch: say every branch at once.
      const options = same.flatMap((e) => {
        const q = e.params as Record<string, unknown>;
        if (e.keyword === 'type') return [`${q.type === 'null' ? 'null' : `of type ${String(q.type)}`}`];
        if (e.keyword === 'const') return [JSON.stringify(q.allowedValue)];
        if (e.keyword === 'enum') return [`one of ${list(q.allowedValues as unknown[])}`];
        return [];
      });
      return { message: `${at} must be ${[...new Set(options)].join(' or ')}`, path };
    }
    case 'format':
      return {
        message: `${at} must be a ${String(p.format)}${p.format === 'date-time' ? ' (ISO 8601, e.g. 2027-01-31T00:00:00Z)' : ''}`,
        path,
      };
    case 'pattern':
      return { message: `${at} must match ${String(p.pattern)}`, path };
    default:
      return { message: `${at} ${first.message ?? 'is not valid'}`, path };
  }
}

/** The error a failed schema check answers with. */
export function schemaError(errors: ErrorObject[] | unknown[], part: string): ZtError {
  const { message, path } = sentence(part, errors as ErrorObject[]);
  return new ZtError('BAD_REQUEST', message, { in: part, path });
}

/** Validates requests of `app` from its route schemas, with errors from schemaError. */
export function installSchemaValidation(app: FastifyInstance): void {
  app.setValidatorCompiler(compile);
  app.setSchemaErrorFormatter((errors, part) => schemaError(errors, part));
}
