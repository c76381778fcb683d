/**
 * The agent's configuration: the aziot super-config (`/etc/aziot/config.toml`) for the parts the
 * agent implements, plus `config.d/*.toml` drop-ins merged in name order. Unknown keys are kept
 * and reported, not fatal; every error names the key path and says what to write instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseTomlText } from '../config/toml.ts';
import { ZtError } from '../errors.ts';
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
  dpsTransport: 'https' | 'mqtt';
  dpsMqttPort: number;
  /** Key paths the agent does not implement (kept in the file, reported by config apply). */
  unknownKeys: string[];
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

/** A file:// URI or an absolute path, as a path. */
function fileUri(path: string, v: unknown): string {
  if (typeof v !== 'string' || !v) bad(path, 'must be a "file:///absolute/path" URI');
  if (v.startsWith('file://')) {
    try {
      return fileURLToPath(v);
    } catch {
      bad(path, `"${v}" is not a valid file URI; write file:///absolute/path`);
    }
  }
  if (v.startsWith('/')) return v;
  return bad(path, `"${v}" must be a file URI like "file:///var/secrets/device-id.pem"`);
}

function keyRef(path: string, v: unknown): KeyRef {
  if (typeof v === 'string' && v.startsWith('pkcs11:')) return { kind: 'pkcs11', uri: v };
  return { kind: 'file', path: fileUri(path, v) };
}

function str(path: string, v: unknown, required: true): string;
function str(path: string, v: unknown, required?: false): string | undefined;
function str(path: string, v: unknown, required = false): string | undefined {
  if (v === undefined) return required ? bad(path, 'is required') : undefined;
  if (typeof v !== 'string' || v === '') bad(path, 'must be a non-empty string');
  return v;
}

function autoRenew(path: string, v: unknown): AutoRenew {
  const t =
    v === undefined ? {} : isTable(v) ? v : bad(path, 'must be a table with rotate_key, threshold, retry');
  for (const k of Object.keys(t))
    if (!['rotate_key', 'threshold', 'retry'].includes(k))
      bad(`${path}.${k}`, 'is not a key of auto_renew (rotate_key, threshold, retry)');
  if (t.rotate_key !== undefined && typeof t.rotate_key !== 'boolean')
    bad(`${path}.rotate_key`, 'must be true or false');
  return {
    rotateKey: t.rotate_key === undefined ? true : (t.rotate_key as boolean),
    threshold: parsePolicy(`${path}.threshold`, t.threshold ?? '80%'),
    retry: parsePolicy(`${path}.retry`, t.retry ?? '4%'),
  };
}

function url(path: string, v: unknown): string {
  const s = str(path, v, true);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    return bad(path, `"${s}" is not a URL; write e.g. "https://dps.example.com"`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') bad(path, `"${s}" must be an https:// URL`);
  return s.replace(/\/+$/, '');
}

const KNOWN: Record<string, true> = {
  hostname: true,
  https_proxy: true,
  no_proxy: true,
  trust_bundle_cert: true,
  auto_reprovisioning_mode: true,
  cloud_timeout_sec: true,
  provisioning: true,
  cert_issuance: true,
  agent_state: true,
  zerotouch: true,
  aziot_keys: true,
};

/** Validates the merged document into the agent's configuration. */
export function parseAgentConfig(
  doc: Table,
  files: string[],
  env: NodeJS.ProcessEnv = process.env,
): AgentConfig {
  const unknownKeys: string[] = [];
  for (const k of Object.keys(doc)) if (!KNOWN[k]) unknownKeys.push(k);

  const prov = isTable(doc.provisioning)
    ? doc.provisioning
    : bad('provisioning', 'is required: a [provisioning] table with source = "dps"');
  if (prov.source !== 'dps') {
    bad(
      'provisioning.source',
      `the agent provisions through DPS; set source = "dps" (got ${JSON.stringify(prov.source)})`,
    );
  }
  const att = isTable(prov.attestation)
    ? prov.attestation
    : bad('provisioning.attestation', 'is required: a table with method = "x509"');
  if (att.method !== 'x509') {
    bad(
      'provisioning.attestation.method',
      `only "x509" is supported (got ${JSON.stringify(att.method)}); symmetric_key and tpm are not`,
    );
  }
  let identityCert: IdentityCert;
  const ic = att.identity_cert;
  if (isTable(ic)) {
    if (ic.method !== 'est') {
      bad(
        'provisioning.attestation.identity_cert.method',
        `only "est" issues certificates here (got ${JSON.stringify(ic.method)})`,
      );
    }
    const cn = ic.common_name ?? (isTable(ic.subject) ? ic.subject.CN : undefined) ?? att.registration_id;
    identityCert = {
      kind: 'est',
      commonName: str('provisioning.attestation.identity_cert.common_name', cn, true),
      url: ic.url === undefined ? undefined : url('provisioning.attestation.identity_cert.url', ic.url),
      autoRenew:
        ic.auto_renew === undefined
          ? undefined
          : autoRenew('provisioning.attestation.identity_cert.auto_renew', ic.auto_renew),
    };
  } else {
    if (ic === undefined)
      bad(
        'provisioning.attestation.identity_cert',
        'is required: a file URI, or a table with method = "est"',
      );
    identityCert = { kind: 'file', path: fileUri('provisioning.attestation.identity_cert', ic) };
    if (isTable(att.auto_renew)) {
      bad(
        'provisioning.attestation.identity_cert',
        'a preloaded file certificate cannot be renewed; use method = "est" to renew',
      );
    }
  }
  const identityPk =
    identityCert.kind === 'est' && att.identity_pk === undefined
      ? ({ kind: 'file', path: '' } as KeyRef)
      : keyRef(
          'provisioning.attestation.identity_pk',
          att.identity_pk ??
            bad('provisioning.attestation.identity_pk', 'is required: a file URI or a pkcs11: URI'),
        );

  let payloadFile: string | undefined;
  if (prov.payload !== undefined) {
    const p = isTable(prov.payload)
      ? prov.payload.uri
      : bad('provisioning.payload', 'must be { uri = "file:///path/to/payload.json" }');
    payloadFile = fileUri('provisioning.payload.uri', p);
  }

  let est: EstSettings | undefined;
  const ci = doc.cert_issuance;
  if (isTable(ci)) {
    for (const k of Object.keys(ci)) if (k !== 'est') unknownKeys.push(`cert_issuance.${k}`);
    if (isTable(ci.est)) {
      const e = ci.est;
      const auth = isTable(e.auth) ? e.auth : {};
      const tc = e.trusted_certs ?? [];
      if (!Array.isArray(tc)) bad('cert_issuance.est.trusted_certs', 'must be a list of file URIs');
      est = {
        trustedCerts: tc.map((c, i) => fileUri(`cert_issuance.est.trusted_certs[${i}]`, c)),
        username: str('cert_issuance.est.auth.username', auth.username),
        password: str('cert_issuance.est.auth.password', auth.password),
        identityCert:
          auth.identity_cert === undefined
            ? undefined
            : fileUri('cert_issuance.est.auth.identity_cert', auth.identity_cert),
        identityPk:
          auth.identity_pk === undefined
            ? undefined
            : keyRef('cert_issuance.est.auth.identity_pk', auth.identity_pk),
        bootstrapCert:
          auth.bootstrap_identity_cert === undefined
            ? undefined
            : fileUri('cert_issuance.est.auth.bootstrap_identity_cert', auth.bootstrap_identity_cert),
        bootstrapPk:
          auth.bootstrap_identity_pk === undefined
            ? undefined
            : keyRef('cert_issuance.est.auth.bootstrap_identity_pk', auth.bootstrap_identity_pk),
        defaultUrl:
          isTable(e.urls) && e.urls.default !== undefined
            ? url('cert_issuance.est.urls.default', e.urls.default)
            : undefined,
        identityAutoRenew: autoRenew('cert_issuance.est.identity_auto_renew', e.identity_auto_renew),
      };
      if (!!est.username !== !!est.password)
        bad('cert_issuance.est.auth', 'username and password go together');
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
  } else if (ci !== undefined) bad('cert_issuance', 'must be a table');
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

  const mode = doc.auto_reprovisioning_mode ?? 'Dynamic';
  if (mode !== 'Dynamic' && mode !== 'AlwaysOnStartup' && mode !== 'OnErrorOnly') {
    bad(
      'auto_reprovisioning_mode',
      `must be Dynamic, AlwaysOnStartup or OnErrorOnly (got ${JSON.stringify(mode)})`,
    );
  }
  const timeout = doc.cloud_timeout_sec ?? 70;
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout < 1)
    bad('cloud_timeout_sec', 'must be a whole number of seconds');

  const proxy = str('https_proxy', doc.https_proxy) ?? env.HTTPS_PROXY ?? env.https_proxy;
  if (proxy) {
    try {
      const u = new URL(proxy);
      if (u.protocol !== 'http:')
        bad('https_proxy', `the proxy URL must be http://[user:password@]host:port (got ${u.protocol})`);
    } catch (e) {
      if (e instanceof ZtError) throw e;
      bad('https_proxy', 'is not a URL; write http://[user:password@]host:port');
    }
  }
  const noProxyRaw = doc.no_proxy ?? env.NO_PROXY ?? env.no_proxy ?? '';
  const noProxy = (Array.isArray(noProxyRaw) ? noProxyRaw.map(String) : String(noProxyRaw).split(','))
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);

  const stateTable = isTable(doc.agent_state) ? doc.agent_state : {};
  const stateDir = str('agent_state.dir', stateTable.dir) ?? '/var/lib/zerotouch-agent';

  // [zerotouch] holds the agent's own keys; [agent] belongs to IoT Edge (edgeAgent) and is kept.
  const zt =
    doc.zerotouch === undefined
      ? {}
      : isTable(doc.zerotouch)
        ? doc.zerotouch
        : bad('zerotouch', 'must be a table');
  for (const k of Object.keys(zt))
    if (k !== 'dps_transport' && k !== 'dps_mqtt_port')
      bad(`zerotouch.${k}`, 'is not a key of [zerotouch] (dps_transport, dps_mqtt_port)');
  const dpsTransport = zt.dps_transport ?? 'https';
  if (dpsTransport !== 'https' && dpsTransport !== 'mqtt')
    bad('zerotouch.dps_transport', `must be "https" or "mqtt" (got ${JSON.stringify(dpsTransport)})`);
  const dpsMqttPort = zt.dps_mqtt_port ?? 8883;
  if (
    typeof dpsMqttPort !== 'number' ||
    !Number.isInteger(dpsMqttPort) ||
    dpsMqttPort < 1 ||
    dpsMqttPort > 65535
  )
    bad('zerotouch.dps_mqtt_port', 'must be a port number from 1 to 65535');
  if (dpsTransport === 'mqtt' && identityPk.kind === 'pkcs11')
    bad(
      'zerotouch.dps_transport',
      '"mqtt" needs the identity key in a file; a PKCS#11 identity_pk works with dps_transport = "https"',
    );

  return {
    files,
    hostname: str('hostname', doc.hostname),
    dps: {
      globalEndpoint: url('provisioning.global_endpoint', prov.global_endpoint),
      idScope: str('provisioning.id_scope', prov.id_scope, true),
      payloadFile,
      registrationId: str('provisioning.attestation.registration_id', att.registration_id),
      identityCert,
      identityPk,
    },
    est,
    autoReprovisioningMode: mode,
    httpsProxy: proxy,
    noProxy,
    trustBundleCert:
      doc.trust_bundle_cert === undefined ? undefined : fileUri('trust_bundle_cert', doc.trust_bundle_cert),
    cloudTimeoutSec: timeout,
    pkcs11LibPath: isTable(doc.aziot_keys)
      ? str('aziot_keys.pkcs11_lib_path', doc.aziot_keys.pkcs11_lib_path)
      : undefined,
    stateDir,
    dpsTransport,
    dpsMqttPort,
    unknownKeys,
  };
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
