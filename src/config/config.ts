/**
 * Server configuration: one typed schema, filled from defaults, then the TOML file, then
 * ZEROTOUCH_* environment variables, then command-line flags. Unknown keys and bad values are
 * errors that name the key path and its source.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import Type, { type TSchema } from 'typebox';
import { ZtError } from '../errors.ts';
import { checkConfig } from './schema-check.ts';
import { parseTomlText } from './toml.ts';

export interface ServerConfig {
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  store: { url: string; sqliteSynchronous: 'normal' | 'full'; postgresPreparedStatements: boolean };
  server: { workers: 'auto' | number };
  device: {
    host: string;
    port: number;
    mqttPort: number;
    mqttRedisUrl: string;
    tlsNames: string[];
    tlsCert: string;
    tlsKey: string;
    maxBodyBytes: number;
    region: string;
    maxCertificateBytes: number;
    maxChainCertificates: number;
    maxConnectionsPerSource: number;
    authFailuresPerMinute: number;
  };
  admin: { host: string; port: number; maxBodyBytes: number; console: boolean };
  aws: { host: string; port: number; requestsPerSecond: number };
  dps: { retryAfterSeconds: number; sasMaxLifetimeSeconds: number };
  issuance: { crlBaseUrl: string; keyPassphraseFile: string };
  audit: { retentionDays: number; webhookMaxRetrySeconds: number };
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const;

/** The kinds of value a key takes, each a schema its values are checked against. */
const KIND = {
  string: Type.String(),
  level: Type.Enum([...LEVELS]),
  port: Type.Integer({ minimum: 0, maximum: 65535 }),
  count: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
  bytes: Type.Integer({ minimum: 0, maximum: 2 ** 31 }),
  list: Type.Array(Type.String()),
  bool: Type.Boolean(),
  workers: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })]),
  synchronous: Type.Enum(['normal', 'full']),
} satisfies Record<string, TSchema>;
type Kind = keyof typeof KIND;

/** One configuration key: where it sits in TOML, its env variable, its flag, default and meaning. */
export interface ConfigKey {
  toml: string;
  env: string;
  flag: string;
  kind: Kind;
  /** What its values must be. */
  schema: TSchema;
  default: string | number | boolean | string[];
  doc: string;
  get: (c: ServerConfig) => unknown;
  set: (c: ServerConfig, v: never) => void;
}

function key<V>(
  toml: string,
  kind: Kind,
  def: string | number | boolean | string[],
  doc: string,
  get: (c: ServerConfig) => V,
  set: (c: ServerConfig, v: V) => void,
): ConfigKey {
  const env = 'ZEROTOUCH_' + toml.replace(/\./g, '_').toUpperCase();
  const flag = '--' + toml.replace(/[._]/g, '-');
  return { toml, env, flag, kind, schema: KIND[kind], default: def, doc, get, set: set as ConfigKey['set'] };
}

/** Every configuration key. The config reference in docs/configuration.md lists exactly these. */
export const CONFIG_KEYS: ConfigKey[] = [
  key(
    'data_dir',
    'string',
    './data',
    'Directory for the SQLite database, the development PKI and the admin token file.',
    (c) => c.dataDir,
    (c, v: string) => {
      c.dataDir = v;
    },
  ),
  key(
    'log_level',
    'level',
    'info',
    'Log level: fatal, error, warn, info, debug or trace. Secrets are always redacted.',
    (c) => c.logLevel,
    (c, v: ServerConfig['logLevel']) => {
      c.logLevel = v;
    },
  ),
  key(
    'store.url',
    'string',
    '',
    'Empty for SQLite at <data_dir>/zerotouch.db; "sqlite:<path>" for another file; "postgres://user:pass@host:5432/db" for PostgreSQL.',
    (c) => c.store.url,
    (c, v: string) => {
      c.store.url = v;
    },
  ),
  key(
    'store.sqlite_synchronous',
    'synchronous',
    'normal',
    'SQLite only. "normal": a committed registration survives the server process dying (kill -9, a crash); a power cut may lose the last moments\' transactions. "full": also survives a power cut, at the cost of a disk flush per transaction (see docs/configuration.md for the measured cost).',
    (c) => c.store.sqliteSynchronous,
    (c, v: 'normal' | 'full') => {
      c.store.sqliteSynchronous = v;
    },
  ),
  key(
    'store.postgres_prepared_statements',
    'bool',
    true,
    'PostgreSQL only. true: the queries every registration runs go to the database as named prepared statements, parsed and planned once per connection. false: each is sent unnamed; needed behind a pooler in transaction mode that does not keep prepared statements (PgBouncer before 1.21, or with max_prepared_statements = 0).',
    (c) => c.store.postgresPreparedStatements,
    (c, v: boolean) => {
      c.store.postgresPreparedStatements = v;
    },
  ),
  key(
    'server.workers',
    'workers',
    'auto',
    'Server processes sharing the listeners, each a full node on the one store. "auto": one per core when device.mqtt_redis_url is set, else 1 (MQTT devices on different workers reach each other only through Redis). A number above 1 needs device.mqtt_redis_url.',
    (c) => c.server.workers,
    (c, v: 'auto' | number) => {
      c.server.workers = v;
    },
  ),
  key(
    'device.host',
    'string',
    '0.0.0.0',
    'Address of the device-facing HTTPS listener (DPS device API, EST).',
    (c) => c.device.host,
    (c, v: string) => {
      c.device.host = v;
    },
  ),
  key(
    'device.port',
    'port',
    8443,
    'Port of the device-facing HTTPS listener; 0 picks a free port. Azure SDK devices dial 443.',
    (c) => c.device.port,
    (c, v: number) => {
      c.device.port = v;
    },
  ),
  key(
    'device.tls_names',
    'list',
    [],
    'Extra DNS names or IPs for the development TLS certificate (localhost, 127.0.0.1 and the host name are always in it).',
    (c) => c.device.tlsNames,
    (c, v: string[]) => {
      c.device.tlsNames = v;
    },
  ),
  key(
    'device.tls_cert',
    'string',
    '',
    'PEM server certificate chain to use instead of the development one.',
    (c) => c.device.tlsCert,
    (c, v: string) => {
      c.device.tlsCert = v;
    },
  ),
  key(
    'device.tls_key',
    'string',
    '',
    'Private key for device.tls_cert.',
    (c) => c.device.tlsKey,
    (c, v: string) => {
      c.device.tlsKey = v;
    },
  ),
  key(
    'device.max_body_bytes',
    'bytes',
    65536,
    'Largest request body the device listener accepts; larger requests get 413.',
    (c) => c.device.maxBodyBytes,
    (c, v: number) => {
      c.device.maxBodyBytes = v;
    },
  ),
  key(
    'device.mqtt_port',
    'port',
    8883,
    'Port of the device-facing MQTT-over-TLS listener (DPS over MQTT and the IoT device gateway), with the same TLS certificate and client-certificate rules as device.port; 0 picks a free port.',
    (c) => c.device.mqttPort,
    (c, v: number) => {
      c.device.mqttPort = v;
    },
  ),
  key(
    'device.mqtt_redis_url',
    'string',
    '',
    'Empty: the MQTT gateway keeps its message routing in memory (one node). "redis://host:6379": gateway nodes share messages and broker state through this Redis (aedes mqemitter-redis and aedes-persistence-redis), so a device on one node reaches subscribers on every node.',
    (c) => c.device.mqttRedisUrl,
    (c, v: string) => {
      c.device.mqttRedisUrl = v;
    },
  ),
  key(
    'device.region',
    'string',
    '',
    'Region of this server for the geoLatency allocation policy, used when a request does not name one in an X-Zerotouch-Region header.',
    (c) => c.device.region,
    (c, v: string) => {
      c.device.region = v;
    },
  ),
  key(
    'device.max_certificate_bytes',
    'bytes',
    16384,
    'Largest certificate a device may present in its TLS chain; a larger one is refused before it is parsed.',
    (c) => c.device.maxCertificateBytes,
    (c, v: number) => {
      c.device.maxCertificateBytes = v;
    },
  ),
  key(
    'device.max_chain_certificates',
    'count',
    6,
    'Most certificates a device may present in its TLS chain, leaf included; a longer chain is refused before it is parsed.',
    (c) => c.device.maxChainCertificates,
    (c, v: number) => {
      c.device.maxChainCertificates = v;
    },
  ),
  key(
    'device.max_connections_per_source',
    'count',
    1024,
    'Most open connections one source address (IPv6: one /64) may hold on the device listeners together; more are closed before the TLS handshake. Fleets behind one NAT address (cellular carrier-grade NAT) share it: raise it or set 0. 0: no limit.',
    (c) => c.device.maxConnectionsPerSource,
    (c, v: number) => {
      c.device.maxConnectionsPerSource = v;
    },
  ),
  key(
    'device.auth_failures_per_minute',
    'count',
    300,
    'Failed authentications one source address may cause per minute on the device listeners (with a burst of the same size); beyond that its requests get 429 with Retry-After, and its MQTT connects CONNACK 3, before any other work. 0: no limit.',
    (c) => c.device.authFailuresPerMinute,
    (c, v: number) => {
      c.device.authFailuresPerMinute = v;
    },
  ),
  key(
    'dps.retry_after_seconds',
    'port',
    3,
    'Seconds DPS devices are told to wait (Retry-After) before polling a registration; 3 as in Azure DPS.',
    (c) => c.dps.retryAfterSeconds,
    (c, v: number) => {
      c.dps.retryAfterSeconds = v;
    },
  ),
  key(
    'dps.sas_max_lifetime_seconds',
    'count',
    86400,
    'Longest a SAS token for the Azure-shaped service API may be valid from now (its se); tokens signed for longer are refused. The Azure SDKs sign for an hour.',
    (c) => c.dps.sasMaxLifetimeSeconds,
    (c, v: number) => {
      c.dps.sasMaxLifetimeSeconds = v;
    },
  ),
  key(
    'issuance.crl_base_url',
    'string',
    '',
    'Base URL written into issued certificates as their CRL distribution point (<base>/<idScope>/<ca>.crl). Empty: https://<first device.tls_names or localhost>:<device.port>/crl, which the device listener serves.',
    (c) => c.issuance.crlBaseUrl,
    (c, v: string) => {
      c.issuance.crlBaseUrl = v;
    },
  ),
  key(
    'issuance.key_passphrase_file',
    'string',
    '',
    'File holding the passphrase that encrypts issuing-CA private keys at rest. Empty: <data_dir>/secrets/key-passphrase, created (mode 0600) on first start. Every server sharing a store needs the same passphrase.',
    (c) => c.issuance.keyPassphraseFile,
    (c, v: string) => {
      c.issuance.keyPassphraseFile = v;
    },
  ),
  key(
    'admin.host',
    'string',
    '127.0.0.1',
    'Address of the admin HTTP API. Keep it on loopback or behind a TLS proxy.',
    (c) => c.admin.host,
    (c, v: string) => {
      c.admin.host = v;
    },
  ),
  key(
    'admin.port',
    'port',
    8080,
    'Port of the admin HTTP API; 0 picks a free port.',
    (c) => c.admin.port,
    (c, v: number) => {
      c.admin.port = v;
    },
  ),
  key(
    'aws.host',
    'string',
    '0.0.0.0',
    'Address of the AWS IoT control-plane face (HTTPS, SigV4; aws iot ... --endpoint-url, @aws-sdk/client-iot).',
    (c) => c.aws.host,
    (c, v: string) => {
      c.aws.host = v;
    },
  ),
  key(
    'aws.port',
    'port',
    8444,
    "Port of the AWS IoT control-plane face, with the device listener's TLS certificate; 0 picks a free port.",
    (c) => c.aws.port,
    (c, v: number) => {
      c.aws.port = v;
    },
  ),
  key(
    'aws.requests_per_second',
    'count',
    100,
    'Requests per second each AWS access key may make (bursts of twice that); more get ThrottlingException (429). 0: no limit.',
    (c) => c.aws.requestsPerSecond,
    (c, v: number) => {
      c.aws.requestsPerSecond = v;
    },
  ),
  key(
    'audit.retention_days',
    'count',
    365,
    'Days the audit trail keeps a record (admin changes, device refusals, issuances, revocations, registrations); older ones are removed every hour. 0 keeps everything.',
    (c) => c.audit.retentionDays,
    (c, v: number) => {
      c.audit.retentionDays = v;
    },
  ),
  key(
    'audit.webhook_max_retry_seconds',
    'count',
    3600,
    'Longest wait between two delivery attempts of a webhook message (events, webhook and mosquitto hubs): the wait starts at 2 s and doubles up to this. Messages are kept until delivered.',
    (c) => c.audit.webhookMaxRetrySeconds,
    (c, v: number) => {
      c.audit.webhookMaxRetrySeconds = v;
    },
  ),
  key(
    'admin.console',
    'bool',
    true,
    'Serve the web console at / on the admin listener (it signs in with an API token and uses only the admin API); false: the admin listener answers the API only.',
    (c) => c.admin.console,
    (c, v: boolean) => {
      c.admin.console = v;
    },
  ),
  key(
    'admin.max_body_bytes',
    'bytes',
    1048576,
    'Largest request body the admin API accepts; larger requests get 413.',
    (c) => c.admin.maxBodyBytes,
    (c, v: number) => {
      c.admin.maxBodyBytes = v;
    },
  ),
];

function defaults(): ServerConfig {
  const c = {
    store: {},
    server: {},
    device: {},
    admin: {},
    aws: {},
    dps: {},
    issuance: {},
    audit: {},
  } as ServerConfig;
  for (const k of CONFIG_KEYS) k.set(c, (Array.isArray(k.default) ? [...k.default] : k.default) as never);
  return c;
}

/** Checks one value against its key's schema; `fromText` is true for env and flags, whose values are text. */
function coerce(k: ConfigKey, raw: unknown, source: string, fromText = false): unknown {
  let v = raw;
  if (fromText && typeof raw === 'string') {
    if (k.kind === 'workers' && /^\s*\d+\s*$/.test(raw)) v = Number(raw);
    if (k.kind === 'port' || k.kind === 'count' || k.kind === 'bytes')
      v = raw.trim() === '' ? raw : Number(raw);
    if (k.kind === 'list')
      v = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    if (k.kind === 'bool' && /^(true|false)$/i.test(raw.trim())) v = raw.trim().toLowerCase() === 'true';
    if (Number.isNaN(v)) v = raw;
  }
  return checkConfig(k.schema, v, source, k.toml);
}

function flatten(obj: Record<string, unknown>, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const [k, v] of Object.entries(obj)) {
    const path = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v))
      for (const [p, x] of flatten(v as Record<string, unknown>, path)) out.set(p, x);
    else out.set(path, v);
  }
  return out;
}

export interface LoadOptions {
  /** TOML file path; ZEROTOUCH_CONFIG when absent; no file when neither is set. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values keyed by TOML path (the CLI maps --device-port to device.port). */
  flags?: Record<string, unknown>;
}

/** Applies TOML text (from `source`, a file name for messages) over the configuration `c`. */
export function applyToml(c: ServerConfig, text: string, source: string): ServerConfig {
  const parsed = parseTomlText(text, `config file ${source}`);
  for (const [path, value] of flatten(parsed)) {
    const k = CONFIG_KEYS.find((x) => x.toml === path);
    if (!k) {
      throw new ZtError(
        'CONFIG_INVALID',
        `config file ${source}: unknown key "${path}"; known keys: ${CONFIG_KEYS.map((x) => x.toml).join(', ')}`,
      );
    }
    k.set(c, coerce(k, value, `config file ${source}`) as never);
  }
  return c;
}

/** Loads the configuration from defaults, file, environment and flags, in that order of precedence. */
export function loadConfig(opts: LoadOptions = {}): ServerConfig {
  const env = opts.env ?? process.env;
  const c = defaults();
  const file = opts.file ?? env.ZEROTOUCH_CONFIG;
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      throw new ZtError('CONFIG_INVALID', `config file ${file} cannot be read: ${(e as Error).message}`);
    }
    applyToml(c, text, file);
  }
  for (const k of CONFIG_KEYS) {
    const v = env[k.env];
    if (v !== undefined && v !== '') k.set(c, coerce(k, v, `environment ${k.env}`, true) as never);
  }
  for (const [path, v] of Object.entries(opts.flags ?? {})) {
    if (v === undefined) continue;
    const k = CONFIG_KEYS.find((x) => x.toml === path);
    if (!k) throw new ZtError('CONFIG_INVALID', `unknown option for ${path}`);
    k.set(c, coerce(k, v, `flag ${k.flag}`, typeof v === 'string') as never);
  }
  c.dataDir = resolve(c.dataDir);
  return c;
}

/** The built-in defaults (what no file, variable or flag changes). */
export function defaultConfig(): ServerConfig {
  return defaults();
}
