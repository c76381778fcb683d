/**
 * The agent's configuration: the aziot super-config (`/etc/aziot/config.toml`) for the parts the
 * agent implements, plus `config.d/*.toml` drop-ins merged in name order, checked against its
 * schema (config-schema.ts) and then the rules across keys. Unknown top-level keys are kept and
 * reported, not fatal; every error names the key path and says what to write instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkConfig } from '../config/schema-check.ts';
import { parseTomlText } from '../config/toml.ts';
import { ZtError } from '../errors.ts';
import { type AgentConfigFile, AgentConfigFileSchema, type AutoRenewTable } from './config-schema.ts';
import { parsePolicy, type RenewPolicy } from './renew-policy.ts';

export interface AutoRenew {
  rotateKey: boolean;
  threshold: RenewPolicy;
  retry: RenewPolicy;
}

export type KeyRef = { kind: 'file'; path: string } | { kind: 'pkcs11'; uri: string };

export type IdentityCert =
  | { kind: 'file'; path: string }
  | {
      kind: 'est';
      commonName: string;
      url?: string;
      autoRenew?: AutoRenew;
    };

export interface EstSettings {
  trustedCerts: string[];
  username?: string;
  password?: string;
  identityCert?: string;
  identityPk?: KeyRef;
  bootstrapCert?: string;
  bootstrapPk?: KeyRef;
  defaultUrl?: string;
  identityAutoRenew: AutoRenew;
}

export type ReprovisioningMode = 'Dynamic' | 'AlwaysOnStartup' | 'OnErrorOnly';

export interface AgentConfig {
  /** Files read, in order (the main file, then drop-ins). */
  files: string[];
  hostname?: string;
  dps: {
    globalEndpoint: string;
    idScope: string;
    payloadFile?: string;
    registrationId?: string;
    identityCert: IdentityCert;
    identityPk: KeyRef;
  };
  est?: EstSettings;
  autoReprovisioningMode: ReprovisioningMode;
  /** From https_proxy in the file, else HTTPS_PROXY/https_proxy from the environment. */
  httpsProxy?: string;
  noProxy: string[];
  trustBundleCert?: string;
  cloudTimeoutSec: number;
  /** PKCS#11 module for keys the agent generates in a token ([aziot_keys] pkcs11_lib_path). */
  pkcs11LibPath?: string;
  /** Where the agent keeps credentials, the assignment cache and its log. */
  stateDir: string;
  /** How the agent talks to DPS ([zerotouch] dps_transport): HTTPS as aziot, or MQTT on `dpsMqttPort`. */
  dpsTransport: 'https' | 'mqtt' | 'mqtt-ws';
  dpsMqttPort: number;
  /** Key paths the agent does not implement (kept in the file, reported by config apply). */
  unknownKeys: string[];
  /** How the agent read settings meant for IoT Edge (shown by `agent check`). */
  notes: string[];
}

type Table = Record<string, unknown>;

const isTable = (v: unknown): v is Table =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

function bad(path: string, message: string): never {
  throw new ZtError('CONFIG_INVALID', `${path}: ${message}`);
}

/** Deep-merges drop-in tables over the main file (later files win per key). */
function merge(into: Table, from: Table): Table {
  for (const [k, v] of Object.entries(from)) {
    into[k] = isTable(v) && isTable(into[k]) ? merge({ ...(into[k] as Table) }, v) : v;
  }
  return into;
}

/** Reads the main file and its config.d drop-ins (next to it, or `dropInDir`). */
export function readConfigFiles(file: string, dropInDir?: string): { doc: Table; files: string[] } {
  if (!existsSync(file)) {
    throw new ZtError(
      'CONFIG_INVALID',
      `${file} does not exist; write it (see docs/agent.md) or pass -c <file>`,
    );
  }
  const files = [file];
  const dir = dropInDir ?? join(dirname(file), 'config.d');
  if (existsSync(dir)) {
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.toml'))
      .sort())
      files.push(join(dir, f));
  }
  let doc: Table = {};
  for (const f of files) {
    doc = merge(doc, parseTomlText(readFileSync(f, 'utf8'), f) as Table);
  }
  return { doc, files };
}

/** A file:// URI or an absolute path (the schema checked its shape), as a path. */
function fileUri(path: string, v: string): string {
  if (!v.startsWith('file://')) return v;
  try {
    return fileURLToPath(v);
  } catch {
    return bad(path, `"${v}" is not a valid file URI; write file:///absolute/path`);
  }
}

function keyRef(path: string, v: string): KeyRef {
  if (v.startsWith('pkcs11:')) return { kind: 'pkcs11', uri: v };
  return { kind: 'file', path: fileUri(path, v) };
}

/** Renewal settings from an identity_auto_renew table, with aziot's defaults (80%, 4%, rotate). */
export function autoRenew(path: string, t: AutoRenewTable = {}): AutoRenew {
  return {
    rotateKey: t.rotate_key ?? true,
    threshold: parsePolicy(`${path}.threshold`, t.threshold ?? '80%'),
    retry: parsePolicy(`${path}.retry`, t.retry ?? '4%'),
  };
}

const trimUrl = (u: string) => u.replace(/\/+$/, '');

/** The keys the agent implements at the top level; the rest is reported, not refused. */
const KNOWN = new Set(Object.keys(AgentConfigFileSchema.properties));

/** The proxy URL (from the file or the environment) if it is one the agent can use. */
function checkedProxy(proxy: string | undefined): string | undefined {
  if (!proxy) return undefined;
  let u: URL;
  try {
    u = new URL(proxy);
  } catch {
    return bad('https_proxy', 'is not a URL; write http://[user:password@]host:port');
  }
  if (u.protocol !== 'http:')
    bad('https_proxy', `the proxy URL must be http://[user:password@]host:port (got ${u.protocol})`);
  return proxy;
}

/** Validates the merged document (against its schema, then the rules across keys) into the agent's configuration. */
export function parseAgentConfig(
  doc: Table,
  files: string[],
  env: NodeJS.ProcessEnv = process.env,
): AgentConfig {
  const f = checkConfig<AgentConfigFile>(AgentConfigFileSchema, doc, '');
  const unknownKeys = Object.keys(doc).filter((k) => !KNOWN.has(k));
  const prov = f.provisioning;
  const att = prov.attestation;

  let identityCert: IdentityCert;
  const ic = att.identity_cert;
  if (typeof ic === 'string') {
    identityCert = { kind: 'file', path: fileUri('provisioning.attestation.identity_cert', ic) };
    if (isTable(att.auto_renew)) {
      bad(
        'provisioning.attestation.identity_cert',
        'a preloaded file certificate cannot be renewed; use method = "est" to renew',
      );
    }
  } else {
    const cn = ic.common_name ?? ic.subject?.CN ?? att.registration_id;
    identityCert = {
      kind: 'est',
      commonName: cn ?? bad('provisioning.attestation.identity_cert.common_name', 'is required'),
      url: ic.url === undefined ? undefined : trimUrl(ic.url),
      autoRenew:
        ic.auto_renew === undefined
          ? undefined
          : autoRenew('provisioning.attestation.identity_cert.auto_renew', ic.auto_renew),
    };
  }
  const identityPk =
    identityCert.kind === 'est' && att.identity_pk === undefined
      ? ({ kind: 'file', path: '' } as KeyRef)
      : keyRef(
          'provisioning.attestation.identity_pk',
          att.identity_pk ??
            bad('provisioning.attestation.identity_pk', 'is required: a file URI or a pkcs11: URI'),
        );

  let est: EstSettings | undefined;
  for (const k of Object.keys(doc.cert_issuance ?? {}))
    if (k !== 'est') unknownKeys.push(`cert_issuance.${k}`);
  const e = f.cert_issuance?.est;
  if (e) {
    const auth = e.auth ?? {};
    const at = (k: string) => `cert_issuance.est.auth.${k}`;
    est = {
      trustedCerts: (e.trusted_certs ?? []).map((c, i) =>
        fileUri(`cert_issuance.est.trusted_certs[${i}]`, c),
      ),
      username: auth.username,
      password: auth.password,
      identityCert:
        auth.identity_cert === undefined ? undefined : fileUri(at('identity_cert'), auth.identity_cert),
      identityPk: auth.identity_pk === undefined ? undefined : keyRef(at('identity_pk'), auth.identity_pk),
      bootstrapCert:
        auth.bootstrap_identity_cert === undefined
          ? undefined
          : fileUri(at('bootstrap_identity_cert'), auth.bootstrap_identity_cert),
      bootstrapPk:
        auth.bootstrap_identity_pk === undefined
          ? undefined
          : keyRef(at('bootstrap_identity_pk'), auth.bootstrap_identity_pk),
      defaultUrl: e.urls?.default === undefined ? undefined : trimUrl(e.urls.default),
      identityAutoRenew: autoRenew('cert_issuance.est.identity_auto_renew', e.identity_auto_renew),
    };
    if (!!est.username !== !!est.password) bad('cert_issuance.est.auth', 'username and password go together');
    if (!!est.bootstrapCert !== !!est.bootstrapPk) {
      bad('cert_issuance.est.auth', 'bootstrap_identity_cert and bootstrap_identity_pk go together');
    }
    if (!est.username && !est.bootstrapCert && !est.identityCert) {
      bad(
        'cert_issuance.est.auth',
        'needs username and password, or bootstrap_identity_cert and bootstrap_identity_pk, or identity_cert and identity_pk',
      );
    }
  }
  if (identityCert.kind === 'est') {
    if (!est)
      bad(
        'cert_issuance.est',
        'is required when identity_cert.method = "est": trusted_certs, auth and urls.default',
      );
    if (!identityCert.url && !est.defaultUrl)
      bad(
        'cert_issuance.est.urls.default',
        'is required (or identity_cert.url): the EST base URL, e.g. "https://est.example.com/.well-known/est"',
      );
  }

  const proxy = checkedProxy(f.https_proxy ?? env.HTTPS_PROXY ?? env.https_proxy);
  const noProxyRaw = f.no_proxy ?? env.NO_PROXY ?? env.no_proxy ?? '';
  const noProxy = (Array.isArray(noProxyRaw) ? noProxyRaw : noProxyRaw.split(','))
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

  const notes: string[] = [];
  const dpsTransport = f.zerotouch?.dps_transport ?? upstreamTransport(doc, notes) ?? 'https';
  if (dpsTransport !== 'https' && identityPk.kind === 'pkcs11')
    bad(
      'zerotouch.dps_transport',
      `"${dpsTransport}" needs the identity key in a file; a PKCS#11 identity_pk works with dps_transport = "https"`,
    );

  return {
    files,
    hostname: f.hostname,
    dps: {
      globalEndpoint: trimUrl(prov.global_endpoint),
      idScope: prov.id_scope,
      payloadFile: prov.payload ? fileUri('provisioning.payload.uri', prov.payload.uri) : undefined,
      registrationId: att.registration_id,
      identityCert,
      identityPk,
    },
    est,
    autoReprovisioningMode: f.auto_reprovisioning_mode ?? 'Dynamic',
    httpsProxy: proxy,
    noProxy,
    trustBundleCert:
      f.trust_bundle_cert === undefined ? undefined : fileUri('trust_bundle_cert', f.trust_bundle_cert),
    cloudTimeoutSec: f.cloud_timeout_sec ?? 70,
    pkcs11LibPath: f.aziot_keys?.pkcs11_lib_path,
    stateDir: f.agent_state?.dir ?? '/var/lib/zerotouch-agent',
    dpsTransport,
    dpsMqttPort: f.zerotouch?.dps_mqtt_port ?? 8883,
    unknownKeys,
    notes,
  };
}

/**
 * The DPS transport IoT Edge's `[agent.env] UpstreamProtocol` asks for, when set: the agent speaks
 * MQTT, so AMQP is mapped to it (AmqpWs to MQTT in a WebSocket on 443, which crosses the same
 * proxies) and a note says so.
 */
function upstreamTransport(doc: Table, notes: string[]): 'https' | 'mqtt' | 'mqtt-ws' | undefined {
  const agent = isTable(doc.agent) ? doc.agent : undefined;
  const env = agent && isTable(agent.env) ? agent.env : undefined;
  const p = env?.UpstreamProtocol;
  if (typeof p !== 'string') return undefined;
  switch (p.toLowerCase()) {
    case 'mqttws':
      return 'mqtt-ws';
    case 'mqtt':
      return 'mqtt';
    case 'amqpws':
      notes.push(
        'agent.env.UpstreamProtocol = "AmqpWs": the agent registers over MQTT in a WebSocket on the HTTPS port (as MqttWs), which crosses the same proxies; AMQP is not served',
      );
      return 'mqtt-ws';
    case 'amqp':
      notes.push(
        'agent.env.UpstreamProtocol = "Amqp": the agent registers over MQTT (port 8883 or zerotouch.dps_mqtt_port); AMQP is not served',
      );
      return 'mqtt';
    default:
      notes.push(
        `agent.env.UpstreamProtocol = "${p}" is not Mqtt, MqttWs, Amqp or AmqpWs; the agent registers over HTTPS`,
      );
      return undefined;
  }
}

/** Reads and validates a config file with its drop-ins. */
export function loadAgentConfig(file: string, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const { doc, files } = readConfigFiles(file);
  return parseAgentConfig(doc, files, env);
}

/** The proxy URL with its password masked, for logs and output. */
export function maskProxy(proxy: string | undefined): string | undefined {
  if (!proxy) return undefined;
  try {
    const u = new URL(proxy);
    if (u.password) u.password = '***';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid proxy URL)';
  }
}

export const configName = (c: AgentConfig) => basename(c.files[0]!);
