/**
 * `zerotouch agent check`: what `iotedge check` looks at (config, clock, certificate expiry,
 * DNS, DPS (HTTPS, and MQTT when that is the transport) and EST reachability through the proxy)
 * plus what it misses: whether the enrollment
 * exists and is enabled and the chain reaches a verified CA (the server's device-side
 * diagnose), and whether EST accepts the configured credentials.
 */
import { lookup } from 'node:dns/promises';
import type { DeviceAgent, Identity } from './agent.ts';
import { maskProxy } from './config.ts';
import { openDpsMqtt } from './dps-mqtt-client.ts';
import { httpsRequest } from './http.ts';
import { shouldRenew } from './renew-policy.ts';

export type CheckStatus = 'ok' | 'warning' | 'error' | 'skipped';

export interface CheckResult {
  id: string;
  status: CheckStatus;
  message: string;
}

const DAY = 86400_000;

/** Runs every check; never throws. */
export async function runChecks(agent: DeviceAgent): Promise<CheckResult[]> {
  const cfg = agent.config;
  const out: CheckResult[] = [];
  const add = (id: string, status: CheckStatus, message: string) => out.push({ id, status, message });
  const guard = async (id: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      add(id, 'error', (e as Error).message);
    }
  };

  add(
    'config-well-formed',
    cfg.unknownKeys.length ? 'warning' : 'ok',
    cfg.unknownKeys.length
      ? `${cfg.files.join(', ')} parsed; not used by the agent (kept as they are): ${cfg.unknownKeys.join(', ')}`
      : `${cfg.files.join(', ')} parsed`,
  );
  for (const note of cfg.notes) add('upstream-protocol', 'warning', note);
  if (cfg.httpsProxy)
    add(
      'proxy-settings',
      'ok',
      `using ${maskProxy(cfg.httpsProxy)}${cfg.noProxy.length ? ` except ${cfg.noProxy.join(', ')}` : ''}`,
    );

  let id: Identity | undefined;
  await guard('identity-certificate', async () => {
    id = agent.currentIdentity();
    if (!id) {
      add(
        'identity-certificate',
        'warning',
        'no device certificate yet; the agent will ask EST for one on its first run',
      );
      return;
    }
    const leaf = id.chain[0]!;
    const now = Date.now();
    const ic = cfg.dps.identityCert;
    if (leaf.notBefore.getTime() > now) {
      add(
        'identity-certificate',
        'error',
        `${leaf.commonName} is not valid until ${leaf.notBefore.toISOString()}; check the device clock`,
      );
    } else if (leaf.notAfter.getTime() <= now) {
      add('identity-certificate', 'error', `${leaf.commonName} expired on ${leaf.notAfter.toISOString()}`);
    } else if (ic.kind === 'est' && ic.autoRenew && shouldRenew(leaf, ic.autoRenew.threshold)) {
      add(
        'identity-certificate',
        'warning',
        `${leaf.commonName} is past its renewal threshold (expires ${leaf.notAfter.toISOString()}); the agent renews it`,
      );
    } else if (leaf.notAfter.getTime() - now < 7 * DAY && !(ic.kind === 'est' && ic.autoRenew)) {
      add(
        'identity-certificate',
        'warning',
        `${leaf.commonName} expires in less than 7 days (${leaf.notAfter.toISOString()}) and is not renewed automatically`,
      );
    } else {
      add('identity-certificate', 'ok', `${leaf.commonName}, valid until ${leaf.notAfter.toISOString()}`);
    }
  });

  const dpsUrl = new URL(cfg.dps.globalEndpoint);
  await guard('dns', async () => {
    const names = [dpsUrl.hostname];
    if (cfg.httpsProxy) names.push(new URL(cfg.httpsProxy).hostname);
    const failed: string[] = [];
    for (const n of names) {
      try {
        await lookup(n);
      } catch (e) {
        failed.push(`${n} (${(e as NodeJS.ErrnoException).code})`);
      }
    }
    if (failed.length === 0) add('dns', 'ok', `${names.join(', ')} resolve`);
    else
      add(
        'dns',
        cfg.httpsProxy && failed.length === 1 && !failed[0]!.startsWith(new URL(cfg.httpsProxy).hostname)
          ? 'warning'
          : 'error',
        `cannot resolve ${failed.join(', ')}`,
      );
  });

  const http = agent.http();
  await guard('dps-reachable', async () => {
    const t0 = Date.now();
    const r = await httpsRequest(
      `${cfg.dps.globalEndpoint}/healthz`,
      { method: 'GET' },
      id ? { ...http, cert: id.chainPem, key: id.keyPem || undefined, keyUri: id.keyUri } : http,
    );
    const t1 = Date.now();
    add(
      'dps-reachable',
      'ok',
      `${dpsUrl.host} answered over TLS${cfg.httpsProxy ? ` through ${maskProxy(cfg.httpsProxy)}` : ''}`,
    );
    const date = r.headers.date ? Date.parse(String(r.headers.date)) : NaN;
    if (Number.isFinite(date)) {
      const skew = Math.abs(date + (t1 - t0) / 2 - t1);
      const s = Math.round(skew / 1000);
      add(
        'clock',
        skew >= 300_000 ? 'error' : skew >= 10_000 ? 'warning' : 'ok',
        skew >= 10_000
          ? `the device clock differs from the server's by about ${s} s; certificates may look expired or not yet valid`
          : 'the device clock agrees with the server',
      );
    }
  });

  if (cfg.dpsTransport === 'mqtt') {
    const where = `${dpsUrl.hostname}:${cfg.dpsMqttPort}`;
    if (id) {
      const regId = cfg.dps.registrationId ?? id.chain[0]!.commonName ?? '';
      await guard('dps-mqtt-reachable', async () => {
        const ch = await openDpsMqtt({
          host: dpsUrl.hostname,
          port: cfg.dpsMqttPort,
          idScope: cfg.dps.idScope,
          registrationId: regId,
          http: { ...http, cert: id!.chainPem, key: id!.keyPem || undefined, keyUri: id!.keyUri },
        });
        await ch.close();
        add(
          'dps-mqtt-reachable',
          'ok',
          `${where} accepted an MQTT session with the device certificate${cfg.httpsProxy ? ` through ${maskProxy(cfg.httpsProxy)}` : ''}`,
        );
      });
    } else
      add('dps-mqtt-reachable', 'skipped', `no device certificate yet to open an MQTT session at ${where}`);
  }

  if (id) {
    const regId = cfg.dps.registrationId ?? id.chain[0]!.commonName ?? '';
    await guard('dps-enrollment', async () => {
      const r = await httpsRequest(
        `${cfg.dps.globalEndpoint}/${encodeURIComponent(cfg.dps.idScope)}/registrations/${encodeURIComponent(regId)}/diagnose`,
        { method: 'GET', headers: { accept: 'application/json' } },
        { ...http, cert: id!.chainPem, key: id!.keyPem || undefined, keyUri: id!.keyUri },
      );
      const j = JSON.parse(r.body.toString() || '{}');
      if (r.status !== 200) {
        add(
          'dps-enrollment',
          'error',
          `the server could not diagnose this device (${r.status}): ${j.message ?? r.body.toString()}`,
        );
      } else if (j.ok) {
        const e = j.enrollment;
        add(
          'dps-enrollment',
          'ok',
          `${regId} matches ${e.kind === 'group' ? 'enrollment group' : 'individual enrollment'} "${e.id}" (${e.provisioningStatus})`,
        );
      } else {
        add('dps-enrollment', 'error', `${j.code}: ${j.reason}`);
      }
    });
  } else add('dps-enrollment', 'skipped', 'no device certificate yet');

  if (cfg.est) {
    const ic = cfg.dps.identityCert;
    const base = ((ic.kind === 'est' && ic.url) || cfg.est.defaultUrl || '').replace(/\/+$/, '');
    await guard('est-reachable', async () => {
      const headers: Record<string, string> = {};
      if (cfg.est!.username) {
        headers.authorization = `Basic ${Buffer.from(`${cfg.est!.username}:${cfg.est!.password}`).toString('base64')}`;
      }
      try {
        const r = await httpsRequest(`${base}/cacerts`, { method: 'GET', headers }, http);
        if (r.status === 200)
          add(
            'est-reachable',
            'ok',
            `${base} answered cacerts${cfg.est!.username ? ' and accepted the user name and password' : ''}`,
          );
        else if (r.status === 401)
          add(
            'est-reachable',
            'error',
            `${base} refused the configured EST credentials (401); check cert_issuance.est.auth`,
          );
        else
          add('est-reachable', 'error', `${base}/cacerts answered ${r.status}: ${r.body.toString().trim()}`);
      } catch (e) {
        add('est-reachable', 'error', `the EST server ${base} is unreachable: ${(e as Error).message}`);
      }
    });
  }
  return out;
}

/** Formats results as text lines. */
export function formatChecks(results: CheckResult[]): string {
  const mark = { ok: 'ok   ', warning: 'WARN ', error: 'ERROR', skipped: 'skip ' } as const;
  const lines = results.map((r) => `${mark[r.status]} ${r.id.padEnd(22)} ${r.message}`);
  const errors = results.filter((r) => r.status === 'error').length;
  const warnings = results.filter((r) => r.status === 'warning').length;
  lines.push('', `${errors} error(s), ${warnings} warning(s)`);
  return lines.join('\n') + '\n';
}
