/**
 * The composition root: builds every service from the configuration (services.ts) and hands
 * them to the transports.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { ServerConfig } from './config/config.ts';
import { ZtError } from './errors.ts';
import { type DevPki, ensureDevPki } from './features/issuance/dev-pki.ts';
import { loadKeyPassphrase } from './features/issuance/passphrase.ts';
import { TenantService } from './features/tenants/service.ts';
import { KyselyTenantStore } from './features/tenants/store.ts';
import { createLogger } from './logger.ts';
import { loadCertificate } from './pki/certificate.ts';
import { writeFileAtomic } from './pki/toolkit.ts';
import { openMigratedStore, type Store } from './store/database.ts';
import { onStoreUnavailable } from './store/unavailable.ts';
import { buildAdminApp } from './transports/admin/app.ts';
import { buildDeviceApp } from './transports/device-https/app.ts';
import type { DeviceTls } from './transports/device-tls.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { metricsSource } from './cluster-metrics.ts';
import { buildAwsIotApp } from './transports/aws-iot/app.ts';
import { type MqttListener, startMqttListener } from './transports/mqtt/listener.ts';
import { MosquittoAdmin } from './transports/mqtt/mosquitto-admin.ts';
import { attachMqttWebSocket } from './transports/mqtt/websocket.ts';
import { SourceGuard } from './transports/source-guard.ts';
import { createServices, type Services } from './services.ts';

export const VERSION: string = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
).version;

export interface RunningServer {
  config: ServerConfig;
  store: Store;
  devPki: DevPki;
  deviceUrl: string;
  adminUrl: string;
  devicePort: number;
  /** Port of the MQTT-over-TLS device listener (DPS over MQTT). */
  mqttPort: number;
  adminPort: number;
  /** URL of the AWS IoT control-plane face (aws iot --endpoint-url). */
  awsUrl: string;
  awsPort: number;
  /** Set when this start created the first admin token (shown once, also saved to adminTokenFile). */
  adminToken?: string;
  adminTokenFile: string;
  services: Services;
  close(): Promise<void>;
}

export interface StartOptions {
  logger?: Logger;
  progress?: (message: string) => void;
}

function storeOptions(config: ServerConfig) {
  return {
    url: config.store.url,
    dataDir: config.dataDir,
    sqliteSynchronous: config.store.sqliteSynchronous,
    postgresPreparedStatements: config.store.postgresPreparedStatements,
  };
}

function loadDeviceTls(config: ServerConfig, pki: DevPki): DeviceTls {
  if (config.device.tlsCert || config.device.tlsKey) {
    if (!config.device.tlsCert || !config.device.tlsKey) {
      throw new ZtError(
        'CONFIG_INVALID',
        'device.tls_cert and device.tls_key go together; set both or neither',
      );
    }
    return {
      cert: readFileSync(config.device.tlsCert, 'utf8'),
      key: readFileSync(config.device.tlsKey, 'utf8'),
    };
  }
  return { cert: readFileSync(pki.server.fullChain, 'utf8'), key: readFileSync(pki.server.key, 'utf8') };
}

/** The DNS names and addresses the device TLS certificate answers as (its SANs and CN). */
function serverNames(certPem: string): string[] {
  const leaf = loadCertificate(certPem);
  const names = leaf.subjectAltNames.filter((n) => n.type === 'dns' || n.type === 'ip').map((n) => n.value);
  return leaf.commonName ? [...names, leaf.commonName] : names;
}

/** What a supervisor does once before starting worker processes: the dev PKI, migrations, the first token. */
export async function prepareServer(
  config: ServerConfig,
  opts: StartOptions = {},
): Promise<{
  devPki: DevPki;
  adminToken?: string;
  adminTokenFile: string;
  store: Pick<Store, 'dialect' | 'location'>;
}> {
  const devPki = ensureDevPki(config.dataDir, config.device.tlsNames, opts.progress);
  loadDeviceTls(config, devPki);
  const store = await openMigratedStore(storeOptions(config));
  try {
    const adminTokenFile = join(config.dataDir, 'admin-token');
    const adminToken = await ensureAdminToken(
      new TenantService(new KyselyTenantStore(store.db)),
      adminTokenFile,
    );
    return {
      devPki,
      adminToken,
      adminTokenFile,
      store: { dialect: store.dialect, location: store.location },
    };
  } finally {
    await store.close();
  }
}

async function ensureAdminToken(tenants: TenantService, file: string): Promise<string | undefined> {
  if ((await tenants.countTokens()) > 0) return undefined;
  const { secret } = await tenants.createToken({ name: 'bootstrap admin', scopes: ['admin'] });
  writeFileAtomic(file, secret + '\n', 0o600);
  return secret;
}

function urlOf(app: FastifyInstance, scheme: string, host: string): { url: string; port: number } {
  const addr = app.server.address() as AddressInfo;
  const shown = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return { url: `${scheme}://${shown}:${addr.port}`, port: addr.port };
}

/** Starts the server described by `config` and returns handles to it. */
export async function startServer(config: ServerConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const logger = opts.logger ?? createLogger(config.logLevel);
  const devPki = ensureDevPki(config.dataDir, config.device.tlsNames, opts.progress);
  const deviceTls = loadDeviceTls(config, devPki);
  const store = await openMigratedStore(storeOptions(config));
  // The default CRL URL names the device port, which port 0 only settles at listen.
  let crlBase = config.issuance.crlBaseUrl;
  const metrics = createMetrics();
  const stopOutageCount = onStoreUnavailable(() => metrics.storeUnavailable());
  const services = createServices(store.db, {
    gatewayMetrics: metrics.gateway,
    logger,
    retryAfterSeconds: config.dps.retryAfterSeconds,
    defaultRegion: config.device.region || undefined,
    sas: {
      hosts: [...serverNames(deviceTls.cert), ...config.device.tlsNames],
      maxLifetimeSeconds: config.dps.sasMaxLifetimeSeconds,
    },
    passphrase: loadKeyPassphrase(config.dataDir, config.issuance.keyPassphraseFile),
    crlBaseUrl: () => crlBase,
    dynsec: (cfg) => new MosquittoAdmin(cfg),
    observeAudit: (e) => metrics.observe(e),
    outboxMaxRetrySeconds: config.audit.webhookMaxRetrySeconds,
  });
  const { tenants, registrations } = services;
  const adminTokenFile = join(config.dataDir, 'admin-token');
  const apps: FastifyInstance[] = [];
  const listeners: MqttListener[] = [];
  try {
    const adminToken = await ensureAdminToken(tenants, adminTokenFile);
    const ready = () => store.ping();
    const guard = new SourceGuard({
      maxConnections: config.device.maxConnectionsPerSource,
      authFailuresPerMinute: config.device.authFailuresPerMinute,
    });
    const chainLimits = {
      maxCertificateBytes: config.device.maxCertificateBytes,
      maxCertificates: config.device.maxChainCertificates,
    };
    const device = await buildDeviceApp({
      logger: logger.child({ listener: 'device' }),
      tls: deviceTls,
      ready,
      bodyLimit: config.device.maxBodyBytes,
      guard,
      chainLimits,
      services,
    });
    apps.push(timed(device, 'device', metrics));
    const admin = await buildAdminApp({
      logger: logger.child({ listener: 'admin' }),
      services,
      serviceHost: config.device.tlsNames[0] ?? 'localhost',
      ready,
      bodyLimit: config.admin.maxBodyBytes,
      console: config.admin.console,
      version: VERSION,
      metrics: metricsSource(metrics.registry),
    });
    apps.push(timed(admin, 'admin', metrics));
    await device.listen({ host: config.device.host, port: config.device.port });
    const mqtt = await startMqttListener({
      logger: logger.child({ listener: 'mqtt' }),
      tls: deviceTls,
      registrations,
      maxPacketBytes: config.device.maxBodyBytes,
      host: config.device.host,
      port: config.device.mqttPort,
      guard,
      chainLimits,
      gateway: services.iot.gateway,
      builtinHub: services.builtinHub,
      redisUrl: config.device.mqttRedisUrl || undefined,
    });
    listeners.push(mqtt);
    attachMqttWebSocket(device.server, mqtt, {
      logger: logger.child({ listener: 'mqtt-ws' }),
      maxPacketBytes: config.device.maxBodyBytes,
    });
    await admin.listen({ host: config.admin.host, port: config.admin.port });
    const awsApp = await buildAwsIotApp({
      logger: logger.child({ listener: 'aws' }),
      services,
      tls: deviceTls,
      dataHost: () => config.device.tlsNames[0] ?? 'localhost',
      requestsPerSecond: config.aws.requestsPerSecond,
    });
    apps.push(timed(awsApp, 'aws', metrics));
    await awsApp.listen({ host: config.aws.host, port: config.aws.port });
    const w = urlOf(awsApp, 'https', config.aws.host);
    const d = urlOf(device, 'https', config.device.host);
    const a = urlOf(admin, 'http', config.admin.host);
    if (!crlBase) crlBase = `https://${config.device.tlsNames[0] ?? 'localhost'}:${d.port}/crl`;
    services.outbox.start();
    services.audit.startRetention(config.audit.retentionDays);
    metrics.setSources({
      caExpiries: async () => [
        ...(await services.cas.expiries()).map((c) => ({ ...c, kind: 'dps' as const })),
        ...(await services.issuance.caExpiries()).map((c) => ({ ...c, kind: 'issuing' as const })),
      ],
      expiringSoon: (days) => services.issuance.expiringSoon(days),
      mqttConnections: () => listeners.reduce((n, l) => n + l.connections(), 0),
    });
    let closed = false;
    return {
      config,
      store,
      devPki,
      deviceUrl: d.url,
      devicePort: d.port,
      mqttPort: mqtt.port,
      adminUrl: a.url,
      adminPort: a.port,
      awsUrl: w.url,
      awsPort: w.port,
      adminToken,
      adminTokenFile,
      services,
      async close() {
        if (closed) return;
        closed = true;
        await Promise.allSettled([...apps.map((app) => app.close()), ...listeners.map((l) => l.close())]);
        await registrations.drain();
        // Noted audit records are written first: their events go to the outbox.
        await services.audit.stop();
        await services.outbox.stop();
        await services.hubSync.close();
        stopOutageCount();
        await store.close();
      },
    };
  } catch (e) {
    await Promise.allSettled([...apps.map((app) => app.close()), ...listeners.map((l) => l.close())]);
    await store.close();
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE' || err.code === 'EACCES') {
      throw new ZtError(
        'CONFIG_INVALID',
        `cannot listen: ${err.message}; choose another port (device.port / device.mqtt_port / admin.port / aws.port) or stop what holds it`,
      );
    }
    throw e;
  }
}

/** What the start-up summary shows: where a running server (or its workers) can be reached. */
export type BannerFacts = Pick<
  RunningServer,
  'config' | 'devPki' | 'deviceUrl' | 'mqttPort' | 'adminUrl' | 'awsUrl' | 'adminToken' | 'adminTokenFile'
> & {
  store: Pick<Store, 'dialect' | 'location'>;
  /** Worker processes sharing the listeners, with why that many (server.workers). */
  workers?: { count: number; why: string };
};

/**
 * The start-up summary printed for people (on stderr; stdout carries only JSON log lines):
 * where things are and how to reach them.
 */
export function startupBanner(s: BannerFacts): string {
  const p = s.devPki;
  const state = (created: boolean) => (created ? 'created now' : 'reused');
  const lines = [
    `zerotouch ${VERSION} is running`,
    `  data directory:  ${s.config.dataDir}`,
    `  store:           ${s.store.dialect} ${s.store.location}`,
    ...(s.workers ? [`  workers:         ${s.workers.count}  (${s.workers.why})`] : []),
    `  device API:      ${s.deviceUrl}  (DPS device API, EST, MQTT over WebSockets at /$iothub/websocket; mutual TLS, TLS 1.2/1.3)`,
    `  device MQTT:     mqtts://${new URL(s.deviceUrl).hostname}:${s.mqttPort}  (DPS over MQTT and the IoT device gateway, mutual TLS)`,
    `  admin API:       ${s.adminUrl}  (OpenAPI at ${s.adminUrl}/v1/openapi.json; /healthz, /readyz)`,
    ...(s.config.admin.console
      ? [`  web console:     ${s.adminUrl}/  (sign in with an API token, e.g. the admin token below)`]
      : []),
    `  AWS IoT API:     ${s.awsUrl}  (aws iot --endpoint-url ${s.awsUrl}; SigV4 with keys from zerotouch aws-key create)`,
    `  development CA:  ${p.root.cert}  (${state(p.root.created)}; trust this on devices)`,
    `  issuing CA:      ${p.issuing.fullChain}  (${state(p.issuing.created)})`,
    `  TLS certificate: ${p.server.fullChain}  (${state(p.server.created)}; names: ${p.server.names.join(', ')})`,
  ];
  // The token itself is never printed: output is captured by supervisors and log shippers.
  if (s.adminToken) lines.push(`  admin token:     in ${s.adminTokenFile}  (created now, mode 0600)`);
  else if (existsSync(s.adminTokenFile)) lines.push(`  admin token:     in ${s.adminTokenFile}`);
  else lines.push('  admin token:     use one you created (the bootstrap token file was removed)');
  return lines.join('\n') + '\n';
}

/** Adds request timing by route pattern to an app (the raw URL would make unbounded labels). */
function timed(app: FastifyInstance, listener: string, metrics: Metrics): FastifyInstance {
  app.addHook('onResponse', async (req, reply) => {
    metrics.http(
      listener,
      req.routeOptions.url ?? 'unmatched',
      req.method,
      reply.statusCode,
      reply.elapsedTime / 1000,
    );
  });
  return app;
}
