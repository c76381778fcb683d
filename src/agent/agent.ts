/**
 * The device agent: gets the device identity (a preloaded file or EST), provisions through DPS
 * with a cached assignment, and renews EST certificates by aziot's rules, registering the new
 * certificate with DPS before committing it so that a failure never strands the device.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { type Certificate, loadCertificates } from '../pki/certificate.ts';
import { createCsr } from '../pki/csr.ts';
import { exportPrivateKeyPem, generateKey, importPrivateKey } from '../pki/keys.ts';
import { maskPin } from '../pki/pkcs11-uri.ts';
import { ZtError, isZtError } from '../errors.ts';
import { type AgentConfig, type AutoRenew, autoRenew, type KeyRef, maskProxy } from './config.ts';
import { registerWithDps } from './dps-client.ts';
import { type EstCredentials, estEnroll } from './est-client.ts';
import { type HttpOptions, NetworkError } from './network.ts';
import { agentLogger } from './log.ts';
import { renewalTimes, shouldRenew } from './renew-policy.ts';
import {
  DEFAULT_PKCS11_MODULE,
  generateTokenKey,
  generationLabel,
  pruneTokenKeys,
  tokenCsr,
  tokenKeyLabel,
} from './token-keys.ts';
import { type AgentStatus, AgentState, type Assignment } from './state.ts';

export interface Identity {
  chainPem: string;
  /** PEM key, or '' when the key is in a PKCS#11 token (keyUri). */
  keyPem: string;
  keyUri?: string;
  chain: Certificate[];
  source: 'file' | 'est';
}

export type LogLevel = 'info' | 'warn' | 'error';

export interface AgentOptions {
  now?: () => Date;
  /** Where log lines go besides the state directory's agent.log (default: stderr). */
  echo?: (line: string) => void;
}

const DEVICE = 'device-identity';
const EST_ID = 'est-identity';

function readKey(ref: KeyRef, path: string): string {
  if (ref.kind === 'pkcs11') {
    throw new ZtError(
      'CONFIG_INVALID',
      `${path}: PKCS#11 device keys are not supported by this agent yet (its TLS stack cannot reach the token); use a file:// key`,
    );
  }
  try {
    return readFileSync(ref.path, 'utf8');
  } catch (e) {
    throw new ZtError(
      'CONFIG_INVALID',
      `${path}: cannot read ${ref.path} (${(e as NodeJS.ErrnoException).code})`,
    );
  }
}

/** The object label the agent's token keys start with (`object=` of identity_pk, else "device-id"). */
function tokenObjectBase(uri: string): string {
  const m = /[;:]object=([^;?&]+)/.exec(uri);
  return m ? decodeURIComponent(m[1]!) : 'device-id';
}

/** The device agent for one configuration. */
export class DeviceAgent {
  readonly config: AgentConfig;
  readonly state: AgentState;
  private readonly now: () => Date;
  private readonly echo: (line: string) => void;
  private logger: Logger | undefined;

  constructor(config: AgentConfig, opts: AgentOptions = {}) {
    this.config = config;
    this.state = new AgentState(config.stateDir);
    this.now = opts.now ?? (() => new Date());
    this.echo = opts.echo ?? ((l) => process.stderr.write(l + '\n'));
  }

  /** Logs to agent.log (JSON, rotated) and echoes the line readably; secrets are redacted. */
  log(level: LogLevel, msg: string, fields: Record<string, unknown> = {}): void {
    this.logger ??= agentLogger({ file: this.state.logFile, echo: this.echo, now: this.now });
    this.logger[level](fields, msg);
  }

  private setStatus(state: AgentStatus['state'], message: string, nextRenewal?: Date): void {
    this.state.writeJson('status', {
      state,
      message,
      ...(nextRenewal ? { nextRenewal: nextRenewal.toISOString() } : {}),
      updatedAt: this.now().toISOString(),
    } satisfies AgentStatus);
  }

  /** HTTP options for DPS and EST: proxy, no_proxy, trusted roots, timeout. */
  http(): HttpOptions {
    const trusted: string[] = [];
    for (const f of [
      ...(this.config.est?.trustedCerts ?? []),
      ...(this.config.trustBundleCert ? [this.config.trustBundleCert] : []),
    ]) {
      try {
        trusted.push(readFileSync(f, 'utf8'));
      } catch (e) {
        throw new ZtError(
          'CONFIG_INVALID',
          `trusted certificate ${f} cannot be read (${(e as NodeJS.ErrnoException).code})`,
        );
      }
    }
    return {
      proxy: this.config.httpsProxy,
      noProxy: this.config.noProxy,
      trusted,
      timeoutMs: this.config.cloudTimeoutSec * 1000,
    };
  }

  private estUrl(): string {
    const ic = this.config.dps.identityCert;
    return (ic.kind === 'est' && ic.url) || this.config.est!.defaultUrl!;
  }

  /** The current device identity: the preloaded files, or the committed EST certificate. */
  currentIdentity(): Identity | undefined {
    const ic = this.config.dps.identityCert;
    if (ic.kind === 'file') {
      let chainPem: string;
      try {
        chainPem = readFileSync(ic.path, 'utf8');
      } catch (e) {
        throw new ZtError(
          'CONFIG_INVALID',
          `provisioning.attestation.identity_cert: cannot read ${ic.path} (${(e as NodeJS.ErrnoException).code})`,
        );
      }
      const pk = this.config.dps.identityPk;
      if (pk.kind === 'pkcs11')
        return { chainPem, keyPem: '', keyUri: pk.uri, chain: loadCertificates(chainPem), source: 'file' };
      const keyPem = readKey(pk, 'provisioning.attestation.identity_pk');
      return { chainPem, keyPem, chain: loadCertificates(chainPem), source: 'file' };
    }
    const c = this.state.readCredential(DEVICE);
    if (!c) return undefined;
    // A key generated in a token is stored as its URI.
    const inToken = c.keyPem.startsWith('pkcs11:');
    return {
      chainPem: c.certPem,
      keyPem: inToken ? '' : c.keyPem,
      ...(inToken ? { keyUri: c.keyPem.trim() } : {}),
      chain: loadCertificates(c.certPem),
      source: 'est',
    };
  }

  /** Credentials for EST: Basic, plus the EST identity (configured, or made from the bootstrap identity). */
  private async estCredentials(fallback?: Identity): Promise<EstCredentials> {
    const est = this.config.est!;
    const cred: EstCredentials = { username: est.username, password: est.password };
    if (est.identityCert && est.identityPk) {
      cred.cert = readFileSync(est.identityCert, 'utf8');
      cred.key = readKey(est.identityPk, 'cert_issuance.est.auth.identity_pk');
      return cred;
    }
    if (est.bootstrapCert && est.bootstrapPk) {
      const id = await this.estIdentity();
      cred.cert = id.certPem;
      cred.key = id.keyPem;
      return cred;
    }
    // Without an EST identity, a still-valid device certificate authenticates its own renewal.
    if (fallback && fallback.chain[0]!.notAfter > this.now() && !cred.username) {
      cred.cert = fallback.chainPem;
      cred.key = fallback.keyPem || undefined;
      cred.keyUri = fallback.keyUri;
    }
    return cred;
  }

  /** The EST identity certificate: obtained with the bootstrap identity, renewed by its policy. */
  private async estIdentity(): Promise<{ certPem: string; keyPem: string }> {
    const est = this.config.est!;
    const cur = this.state.readCredential(EST_ID);
    const now = this.now();
    if (cur) {
      const leaf = loadCertificates(cur.certPem)[0]!;
      if (!shouldRenew(leaf, est.identityAutoRenew.threshold, now)) return cur;
      if (leaf.notAfter > now) {
        // Renew the EST identity with itself; keep it if that fails.
        try {
          const renewed = await this.enroll(leaf.commonName ?? 'device', est.identityAutoRenew, cur.keyPem, {
            username: est.username,
            password: est.password,
            cert: cur.certPem,
            key: cur.keyPem,
          });
          this.state.writeCredential(EST_ID, renewed.certPem, renewed.keyPem);
          this.log('info', 'renewed the EST identity certificate', {
            notAfter: renewed.chain[0]!.notAfter.toISOString(),
          });
          return renewed;
        } catch (e) {
          this.log('warn', 'EST identity renewal failed; keeping the current one', {
            reason: (e as Error).message,
          });
          return cur;
        }
      }
      this.log(
        'warn',
        'the EST identity certificate has expired; asking for a new one with the bootstrap certificate',
      );
    }
    const bootstrap = {
      cert: readFileSync(est.bootstrapCert!, 'utf8'),
      key: readKey(est.bootstrapPk!, 'cert_issuance.est.auth.bootstrap_identity_pk'),
    };
    const ic = this.config.dps.identityCert;
    const cn = ic.kind === 'est' ? ic.commonName : (this.config.dps.registrationId ?? 'device');
    const id = await this.enroll(cn, est.identityAutoRenew, undefined, {
      username: est.username,
      password: est.password,
      ...bootstrap,
    });
    this.state.writeCredential(EST_ID, id.certPem, id.keyPem);
    this.log('info', 'obtained an EST identity certificate with the bootstrap certificate', {
      subject: `CN=${cn}`,
    });
    return id;
  }

  /** Makes a key (or keeps one) and a CSR, and enrolls it over EST. */
  private async enroll(
    cn: string,
    renew: Pick<AutoRenew, 'rotateKey'> | undefined,
    currentKeyPem: string | undefined,
    cred: EstCredentials,
    inToken = false,
  ): Promise<{ certPem: string; keyPem: string; chain: Certificate[] }> {
    const keep = !!currentKeyPem && !!renew && !renew.rotateKey;
    if (inToken && this.config.dps.identityPk.kind === 'pkcs11') {
      // The "key" stored with the certificate is the URI of a token object of its own.
      const base = this.config.dps.identityPk.uri;
      const uri = keep
        ? currentKeyPem!.trim()
        : generateTokenKey(
            base,
            generationLabel(tokenObjectBase(base), this.now()),
            this.config.pkcs11LibPath ?? DEFAULT_PKCS11_MODULE,
          );
      const got = await estEnroll(this.estUrl(), tokenCsr(uri, cn), cred, this.http());
      return { certPem: got.pem, keyPem: uri, chain: got.chain };
    }
    const key = keep ? importPrivateKey(currentKeyPem!) : generateKey('p256');
    const csr = createCsr(key, { CN: cn });
    const { chain, pem } = await estEnroll(this.estUrl(), csr, cred, this.http());
    return { certPem: pem, keyPem: exportPrivateKeyPem(key), chain };
  }

  /** Deletes token key objects that the committed device identity does not use (rotations, failed renewals). */
  private pruneTokenKeys(): void {
    const pk = this.config.dps.identityPk;
    if (pk.kind !== 'pkcs11' || this.config.dps.identityCert.kind !== 'est') return;
    const cur = this.state.readCredential(DEVICE);
    const inUse = cur ? tokenKeyLabel(cur.keyPem.trim()) : undefined;
    try {
      const gone = pruneTokenKeys(
        pk.uri,
        tokenObjectBase(pk.uri),
        inUse ? [inUse] : [],
        this.config.pkcs11LibPath ?? DEFAULT_PKCS11_MODULE,
      );
      if (gone.length)
        this.log('info', 'deleted key objects no longer in use from the token', { labels: gone });
    } catch (e) {
      this.log('warn', 'could not delete unused key objects from the token', {
        reason: maskPin(String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()),
      });
    }
  }

  /** The device identity, enrolling over EST on first start. */
  async identity(): Promise<Identity> {
    const cur = this.currentIdentity();
    if (cur) return cur;
    const ic = this.config.dps.identityCert;
    if (ic.kind !== 'est') throw new ZtError('INTERNAL', 'no identity');
    let got: Awaited<ReturnType<DeviceAgent['enroll']>>;
    try {
      got = await this.enroll(ic.commonName, ic.autoRenew, undefined, await this.estCredentials(), true);
    } catch (e) {
      this.pruneTokenKeys();
      throw e;
    }
    this.state.writeCredential(DEVICE, got.certPem, got.keyPem);
    this.log('info', 'obtained the device identity certificate over EST', {
      subject: `CN=${ic.commonName}`,
      notAfter: got.chain[0]!.notAfter.toISOString(),
    });
    return this.currentIdentity()!;
  }

  private payload(): unknown {
    const f = this.config.dps.payloadFile;
    if (!f) return undefined;
    try {
      return JSON.parse(readFileSync(f, 'utf8'));
    } catch (e) {
      throw new ZtError(
        'CONFIG_INVALID',
        `provisioning.payload: ${f} must hold a JSON object (${(e as Error).message})`,
      );
    }
  }

  private registrationId(id: Identity): string {
    return this.config.dps.registrationId ?? id.chain[0]!.commonName ?? '';
  }

  /** Registers with DPS using `id` and caches the assignment. */
  async provision(id: Identity, reason: string, opts: { cache?: boolean } = {}): Promise<Assignment> {
    const registrationId = this.registrationId(id);
    this.log('info', 'registering with DPS', {
      reason,
      endpoint:
        this.config.dpsTransport === 'mqtt'
          ? `mqtts://${new URL(this.config.dps.globalEndpoint).hostname}:${this.config.dpsMqttPort}`
          : this.config.dpsTransport === 'mqtt-ws'
            ? `${this.config.dps.globalEndpoint.replace(/^https:/, 'wss:')}/$iothub/websocket`
            : this.config.dps.globalEndpoint,
      idScope: this.config.dps.idScope,
      registrationId,
      ...(this.config.httpsProxy ? { proxy: maskProxy(this.config.httpsProxy) } : {}),
    });
    const r = await registerWithDps({
      endpoint: this.config.dps.globalEndpoint,
      idScope: this.config.dps.idScope,
      registrationId,
      payload: this.payload(),
      http: { ...this.http(), cert: id.chainPem, key: id.keyPem || undefined, keyUri: id.keyUri },
      deadlineMs: Math.max(this.config.cloudTimeoutSec * 1000, 60_000),
      transport: this.config.dpsTransport,
      mqttPort: this.config.dpsMqttPort,
    });
    const a: Assignment = {
      registrationId,
      assignedHub: r.assignedHub,
      deviceId: r.deviceId,
      ...(r.payload !== undefined ? { payload: r.payload } : {}),
      ...(r.substatus ? { substatus: r.substatus } : {}),
      certificateSha256: id.chain[0]!.sha256,
      assignedAt: this.now().toISOString(),
    };
    if (opts.cache !== false) this.state.writeJson('assignment', a);
    this.log('info', 'assigned', { hub: a.assignedHub, deviceId: a.deviceId, substatus: a.substatus });
    return a;
  }

  /** The renewal settings of the device identity, when it renews. */
  private autoRenew(): AutoRenew | undefined {
    const ic = this.config.dps.identityCert;
    return ic.kind === 'est' ? ic.autoRenew : undefined;
  }

  /**
   * Renews the device certificate: EST with the same subject (new key if rotate_key), then DPS
   * registration with the new certificate, then commit. Any failure keeps the old identity.
   */
  async renew(cur: Identity): Promise<{ ok: boolean; identity: Identity; retryMs?: number; error?: string }> {
    // `agent renew` may renew an EST identity whose config has no identity_auto_renew table.
    const policy = this.autoRenew() ?? autoRenew('identity_auto_renew');
    const leaf = cur.chain[0]!;
    const { retryMs } = renewalTimes(leaf, policy.threshold, policy.retry, this.now());
    try {
      const cn = leaf.commonName ?? this.registrationId(cur);
      const got = await this.enroll(
        cn,
        policy,
        cur.keyUri ?? cur.keyPem,
        await this.estCredentials(cur),
        true,
      );
      const inToken = got.keyPem.startsWith('pkcs11:');
      const next: Identity = {
        chainPem: got.certPem,
        keyPem: inToken ? '' : got.keyPem,
        ...(inToken ? { keyUri: got.keyPem } : {}),
        chain: got.chain,
        source: 'est',
      };
      // Cache the assignment only once the certificate it was made with is committed.
      const assignment = await this.provision(next, 'certificate renewed', { cache: false });
      this.state.writeCredential(DEVICE, got.certPem, got.keyPem);
      this.state.writeJson('assignment', assignment);
      this.log('info', 'renewed the device certificate', {
        serial: got.chain[0]!.serialNumber,
        notAfter: got.chain[0]!.notAfter.toISOString(),
      });
      this.pruneTokenKeys();
      return { ok: true, identity: next };
    } catch (e) {
      this.pruneTokenKeys();
      this.log('warn', 'renewal failed; keeping the current certificate', {
        reason: (e as Error).message,
        retryInSeconds: Math.round(retryMs / 1000),
      });
      return { ok: false, identity: cur, retryMs, error: (e as Error).message };
    }
  }

  /** Renews the EST identity now, whatever its age (`zerotouch agent renew`). */
  async renewNow(): Promise<{ ok: boolean; identity: Identity }> {
    if (this.config.dps.identityCert.kind !== 'est')
      throw new ZtError(
        'CONFIG_INVALID',
        'provisioning.attestation.identity_cert is a file: renewal needs an EST identity (identity_cert.method = "est"); replace the file and run zerotouch agent reprovision',
      );
    const r = await this.renew(await this.identity());
    if (!r.ok)
      throw new ZtError('PROVISIONING_FAILED', `renewal failed; the current certificate stays: ${r.error}`);
    return r;
  }

  /**
   * One start: identity, renewal if due, then the assignment (cached or from DPS, by
   * auto_reprovisioning_mode). With a cached assignment it starts even when DPS is unreachable.
   */
  async start(
    opts: { forceProvision?: boolean } = {},
  ): Promise<{ assignment: Assignment; identity: Identity; nextRenewal?: Date }> {
    this.setStatus('starting', 'starting');
    try {
      let id = await this.identity();
      const policy = this.autoRenew();
      let renewedNow = false;
      let nextRenewal: Date | undefined;
      if (policy) {
        if (shouldRenew(id.chain[0]!, policy.threshold, this.now())) {
          const r = await this.renew(id);
          id = r.identity;
          renewedNow = r.ok;
          if (!r.ok) nextRenewal = new Date(this.now().getTime() + r.retryMs!);
        }
        nextRenewal ??= renewalTimes(id.chain[0]!, policy.threshold, policy.retry, this.now()).deadline;
      }
      const cached = this.state.readJson<Assignment>('assignment');
      const cacheFits = cached && cached.certificateSha256 === id.chain[0]!.sha256;
      let assignment: Assignment;
      if (renewedNow && cached) assignment = cached;
      else if (
        cacheFits &&
        !opts.forceProvision &&
        this.config.autoReprovisioningMode !== 'AlwaysOnStartup'
      ) {
        assignment = cached;
        this.log('info', 'using the cached assignment', {
          hub: cached.assignedHub,
          deviceId: cached.deviceId,
        });
      } else {
        try {
          assignment = await this.provision(
            id,
            opts.forceProvision
              ? 'reprovision requested'
              : cached
                ? 'start (reprovision on startup or new certificate)'
                : 'first start',
          );
        } catch (e) {
          if (e instanceof NetworkError && cached && !opts.forceProvision) {
            this.log('warn', 'DPS is unreachable; starting with the cached assignment', {
              reason: e.message,
              hub: cached.assignedHub,
            });
            this.setStatus(
              'offline',
              `DPS unreachable; using the cached assignment (${e.message})`,
              nextRenewal,
            );
            return { assignment: cached, identity: id, nextRenewal };
          }
          throw e;
        }
      }
      this.setStatus(
        'assigned',
        `assigned to ${assignment.assignedHub} as ${assignment.deviceId}`,
        nextRenewal,
      );
      return { assignment, identity: id, nextRenewal };
    } catch (e) {
      const msg = (e as Error).message;
      // Whether it is tried again is the caller's to say (run retries; --once does not).
      this.log('error', 'provisioning failed', {
        reason: msg,
        cause: e instanceof NetworkError ? 'network' : 'refused',
      });
      this.setStatus('failed', msg);
      throw e;
    }
  }

  /** Runs until `signal` aborts: start with backoff, then renew at the deadlines. */
  async run(signal: AbortSignal): Promise<void> {
    const sleep = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        signal.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    let attempt = 0;
    let started: Awaited<ReturnType<DeviceAgent['start']>> | undefined;
    while (!signal.aborted && !started) {
      try {
        started = await this.start();
      } catch (e) {
        attempt++;
        // Exponential backoff with jitter: 5 s doubling to 5 min, times 0.5-1.5.
        const base = Math.min(5000 * 2 ** (attempt - 1), 300_000);
        const wait = Math.round(base * (0.5 + Math.random()));
        this.log('info', 'retrying provisioning', {
          inSeconds: Math.round(wait / 1000),
          attempt,
          refused: isZtError(e) && !(e instanceof NetworkError),
        });
        await sleep(wait);
      }
    }
    let id = started?.identity;
    let next = started?.nextRenewal;
    while (!signal.aborted && id && next) {
      await sleep(Math.max(next.getTime() - this.now().getTime(), 0));
      if (signal.aborted) break;
      const policy = this.autoRenew()!;
      const r = await this.renew(id);
      id = r.identity;
      next = r.ok
        ? renewalTimes(id.chain[0]!, policy.threshold, policy.retry, this.now()).deadline
        : new Date(this.now().getTime() + r.retryMs!);
      this.setStatus('assigned', r.ok ? 'renewed' : 'renewal failed; will retry', next);
    }
  }
}
