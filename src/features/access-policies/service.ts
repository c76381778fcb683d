/**
 * Shared access policies and SAS tokens for the Azure-shaped DPS service API, so that the Azure
 * provisioning service SDK authenticates with a connection string
 * (HostName=...;SharedAccessKeyName=...;SharedAccessKey=...).
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import type { AccessPolicyStore } from './store.ts';
import { type AccessPolicy, RIGHTS, type Right } from './types.ts';

export interface SasPrincipal {
  tenantId: string;
  keyName: string;
  rights: string[];
}

/** Parses `SharedAccessSignature sr=..&sig=..&se=..&skn=..`, keeping sr as sent (it is what was signed). */
export function parseSas(header: string): { sr: string; sig: string; se: string; skn: string } | undefined {
  if (header.length > 4096) return undefined;
  const m = /^SharedAccessSignature\s+(.+)$/i.exec(header.trim());
  if (!m) return undefined;
  const fields: Record<string, string> = {};
  for (const part of m[1].split('&')) {
    const i = part.indexOf('=');
    if (i > 0) fields[part.slice(0, i)] = part.slice(i + 1);
  }
  if (!fields.sr || !fields.sig || !fields.se || !fields.skn) return undefined;
  return { sr: fields.sr, sig: fields.sig, se: fields.se, skn: fields.skn };
}

function sign(key: string, sr: string, se: string): Buffer {
  return createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest();
}

const decode = (s: string) => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** What a SAS token must be bound to. */
export interface SasRules {
  /** Host names the token's `sr` may name (the names this server answers as); empty = any. */
  hosts: string[];
  /** Longest a token may still be valid (its `se` from now), in seconds. */
  maxLifetimeSeconds: number;
}

/** The host part of a SAS resource URI: "dps.example.com/enrollments" -> "dps.example.com". */
function srHost(sr: string): string {
  const noScheme = sr.replace(/^[a-z]+:\/\//i, '');
  const host = noScheme.split('/')[0] ?? '';
  return (
    host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '')
  ).toLowerCase();
}

/** Manages policies and authenticates SAS tokens. */
export class AccessPolicyService {
  private readonly store: AccessPolicyStore;
  private readonly rules: SasRules;

  constructor(store: AccessPolicyStore, rules: SasRules = { hosts: [], maxLifetimeSeconds: 86400 }) {
    this.store = store;
    this.rules = { ...rules, hosts: rules.hosts.map((h) => h.toLowerCase()) };
  }

  /** Creates (or rotates the keys of) a policy with the given rights. */
  async put(tenantId: string, keyName: string, rights: Right[] = [...RIGHTS]): Promise<AccessPolicy> {
    const policy: AccessPolicy = {
      keyName,
      primaryKey: randomBytes(32).toString('base64'),
      secondaryKey: randomBytes(32).toString('base64'),
      rights,
    };
    await this.store.putPolicy(tenantId, policy, new Date().toISOString());
    return policy;
  }

  /** Deletes a policy: its connection strings stop working at once. NOT_FOUND when there is none. */
  async delete(tenantId: string, keyName: string): Promise<void> {
    if (!(await this.store.deletePolicy(tenantId, keyName)))
      throw new ZtError(
        'NOT_FOUND',
        `no shared access policy "${keyName}" in this scope; zerotouch policy list shows them`,
      );
  }

  /** The tenant's policies, by name. */
  list(tenantId: string): Promise<AccessPolicy[]> {
    return this.store.listPolicies(tenantId);
  }

  /** Checks a SAS token; throws UNAUTHENTICATED with the reason. */
  async authenticate(header: string | undefined, now = Date.now()): Promise<SasPrincipal> {
    if (!header) {
      throw new ZtError(
        'UNAUTHENTICATED',
        'send "Authorization: SharedAccessSignature sr=...&sig=...&se=...&skn=..." built from a connection string',
      );
    }
    const sas = parseSas(header);
    if (!sas)
      throw new ZtError(
        'UNAUTHENTICATED',
        'the Authorization header is not a SharedAccessSignature token with sr, sig, se and skn',
      );
    const expiry = Number(sas.se);
    if (!/^\d{1,12}$/.test(sas.se) || expiry * 1000 < now) {
      throw new ZtError('UNAUTHENTICATED', 'the SAS token has expired (se is in the past); sign a new one');
    }
    if (expiry * 1000 - now > this.rules.maxLifetimeSeconds * 1000) {
      throw new ZtError(
        'UNAUTHENTICATED',
        `the SAS token is valid for longer than ${this.rules.maxLifetimeSeconds} s (dps.sas_max_lifetime_seconds); sign one that expires sooner`,
      );
    }
    const host = srHost(decode(sas.sr));
    if (this.rules.hosts.length > 0 && !this.rules.hosts.includes(host)) {
      throw new ZtError(
        'UNAUTHENTICATED',
        `the SAS token is signed for "${host}", not for this server; use the HostName of this server's connection string`,
        undefined,
        `the SAS token is signed for "${host}"; this server answers as ${this.rules.hosts.join(', ')}`,
      );
    }
    const given = Buffer.from(decode(sas.sig), 'base64');
    // Clients sign sr either as sent or URL-decoded; accept both.
    const srs = [...new Set([sas.sr, decode(sas.sr), encodeURIComponent(decode(sas.sr)).toLowerCase()])];
    for (const p of await this.store.findPoliciesByName(decode(sas.skn))) {
      for (const key of [p.primaryKey, p.secondaryKey]) {
        for (const sr of srs) {
          const want = sign(key, sr, sas.se);
          if (want.length === given.length && timingSafeEqual(want, given)) {
            return { tenantId: p.tenantId, keyName: p.keyName, rights: p.rights };
          }
        }
      }
    }
    throw new ZtError(
      'UNAUTHENTICATED',
      `the SAS signature does not verify for policy "${decode(sas.skn)}"; check the connection string's key`,
    );
  }
}

/** Throws FORBIDDEN unless the principal holds `right`. */
export function requireRight(p: SasPrincipal, right: Right): void {
  if (!p.rights.includes(right))
    throw new ZtError('FORBIDDEN', `policy "${p.keyName}" lacks the ${right} right`);
}
