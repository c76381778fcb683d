/**
 * aziot's auto_renew policy grammar and math (reference azure-dps.md 6.5): "<n>%" of the
 * lifetime (0 < n < 100), "<n>min" or "<n>day" before expiry; retry periods the same way, at
 * least one second.
 */
import { ZtError } from '../errors.ts';

export type RenewPolicy = { kind: 'percent'; value: number } | { kind: 'seconds'; value: number };

/** Parses a policy string, naming the key path on error. */
export function parsePolicy(path: string, v: unknown): RenewPolicy {
  const m = typeof v === 'string' ? /^(\d+)(%|min|day)$/.exec(v.trim()) : null;
  if (!m) {
    throw new ZtError(
      'CONFIG_INVALID',
      `${path}: ${JSON.stringify(v)} is not a policy; write e.g. "80%", "30min" or "2day"`,
    );
  }
  const n = Number(m[1]);
  if (n <= 0) throw new ZtError('CONFIG_INVALID', `${path}: must be greater than zero`);
  if (m[2] === '%') {
    if (n >= 100) throw new ZtError('CONFIG_INVALID', `${path}: a percentage must be between 1 and 99`);
    return { kind: 'percent', value: n };
  }
  return { kind: 'seconds', value: m[2] === 'min' ? n * 60 : n * 86400 };
}

/** Formats a policy as aziot writes it back. */
export function formatPolicy(p: RenewPolicy): string {
  if (p.kind === 'percent') return `${p.value}%`;
  return p.value % 86400 === 0 ? `${p.value / 86400}day` : `${Math.round(p.value / 60)}min`;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** True when the certificate is due for renewal now (or is expired or malformed). */
export function shouldRenew(c: Validity, threshold: RenewPolicy, now = new Date()): boolean {
  const nb = c.notBefore.getTime();
  const na = c.notAfter.getTime();
  const t = now.getTime();
  if (nb >= na || t >= na) return true;
  if (threshold.kind === 'percent') return ((t - nb) * 100) / (na - nb) >= threshold.value;
  return na - t <= threshold.value * 1000;
}

/** The renewal deadline and the retry period after a failed attempt, in milliseconds. */
export function renewalTimes(
  c: Validity,
  threshold: RenewPolicy,
  retry: RenewPolicy,
  now = new Date(),
): { deadline: Date; retryMs: number } {
  const nb = c.notBefore.getTime();
  const na = c.notAfter.getTime();
  const lifetime = Math.max(na - nb, 0);
  const retryMs = Math.max(
    retry.kind === 'percent' ? (lifetime * retry.value) / 100 : retry.value * 1000,
    1000,
  );
  let deadline =
    threshold.kind === 'percent'
      ? na - (lifetime - (lifetime * threshold.value) / 100)
      : na - threshold.value * 1000;
  if (deadline <= now.getTime()) deadline = now.getTime() + retryMs;
  return { deadline: new Date(deadline), retryMs };
}
