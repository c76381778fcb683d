/** Certificate profiles: built-in defaults and validation of user-defined ones. */
import { ZtError } from '../../errors.ts';
import { isKeyType, KEY_TYPES, type KeyType } from '../../pki/keys.ts';
import { KEY_USAGE_BITS, type KeyUsage, OID } from '../../pki/oids.ts';
import type { CertificateProfile } from './types.ts';

const ALL_KEYS: KeyType[] = [...KEY_TYPES];

/** Profiles every tenant has; a stored profile of the same name replaces one. */
export const BUILTIN_PROFILES: Record<string, CertificateProfile> = {
  device: { name: 'device', kind: 'device', validityDays: 365, sans: 'copy', allowedKeyTypes: ALL_KEYS },
  'device-1d': {
    name: 'device-1d',
    kind: 'device',
    validityDays: 1,
    sans: 'copy',
    allowedKeyTypes: ALL_KEYS,
  },
  'iot-edge': {
    name: 'iot-edge',
    kind: 'device',
    validityDays: 90,
    sans: 'copy',
    allowedKeyTypes: ALL_KEYS,
    honorCaRequests: true,
  },
  'edge-ca': { name: 'edge-ca', kind: 'ca', validityDays: 90, sans: 'none', allowedKeyTypes: ALL_KEYS },
  server: { name: 'server', kind: 'server', validityDays: 365, sans: 'dns-ip', allowedKeyTypes: ALL_KEYS },
};

const EKU_NAMES: Record<string, string> = {
  clientAuth: OID.clientAuth,
  serverAuth: OID.serverAuth,
  codeSigning: OID.codeSigning,
  emailProtection: OID.emailProtection,
};

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const bad = (m: string) => new ZtError('BAD_REQUEST', m);

/** Validates a profile document from the API; returns the normalized profile. */
export function validateProfile(name: string, body: unknown): CertificateProfile {
  if (!NAME_RE.test(name))
    throw bad(`profile name "${name}" is not valid; use letters, digits, ".", "_", "-"`);
  if (typeof body !== 'object' || body === null)
    throw bad('a profile is a JSON object like {"kind":"device","validityDays":30}');
  const b = body as Record<string, unknown>;
  const kind = b.kind ?? 'device';
  if (kind !== 'device' && kind !== 'server' && kind !== 'ca') throw bad('kind must be device, server or ca');
  const p: CertificateProfile = {
    name,
    kind,
    sans: 'copy',
    allowedKeyTypes: ALL_KEYS,
  };
  if (b.validityDays !== undefined && b.validityHours !== undefined) {
    throw bad('give validityDays or validityHours, not both');
  }
  if (b.validityDays !== undefined) {
    if (
      !Number.isInteger(b.validityDays) ||
      (b.validityDays as number) < 1 ||
      (b.validityDays as number) > 3650
    )
      throw bad('validityDays must be a whole number from 1 to 3650');
    p.validityDays = b.validityDays as number;
  } else if (b.validityHours !== undefined) {
    if (
      !Number.isInteger(b.validityHours) ||
      (b.validityHours as number) < 1 ||
      (b.validityHours as number) > 87600
    )
      throw bad('validityHours must be a whole number from 1 to 87600');
    p.validityHours = b.validityHours as number;
  } else {
    p.validityDays = 365;
  }
  if (b.keyUsage !== undefined) {
    if (
      !Array.isArray(b.keyUsage) ||
      !b.keyUsage.every((u) => (KEY_USAGE_BITS as readonly string[]).includes(u))
    )
      throw bad(`keyUsage must be a list of: ${KEY_USAGE_BITS.join(', ')}`);
    p.keyUsage = b.keyUsage as KeyUsage[];
  }
  if (b.extKeyUsage !== undefined) {
    if (!Array.isArray(b.extKeyUsage) || !b.extKeyUsage.every((u) => typeof u === 'string'))
      throw bad('extKeyUsage must be a list like ["clientAuth"]');
    p.extKeyUsage = (b.extKeyUsage as string[]).map((u) => {
      if (EKU_NAMES[u]) return u;
      if (/^\d+(\.\d+)+$/.test(u)) return u;
      throw bad(`extKeyUsage "${u}" is not known; use ${Object.keys(EKU_NAMES).join(', ')} or a dotted OID`);
    });
  }
  if (b.sans !== undefined) {
    if (b.sans !== 'copy' && b.sans !== 'none' && b.sans !== 'dns-ip')
      throw bad('sans must be copy, none or dns-ip');
    p.sans = b.sans;
  }
  if (b.allowedKeyTypes !== undefined) {
    if (
      !Array.isArray(b.allowedKeyTypes) ||
      b.allowedKeyTypes.length === 0 ||
      !b.allowedKeyTypes.every((k) => typeof k === 'string' && isKeyType(k))
    )
      throw bad(`allowedKeyTypes must be a non-empty list of: ${KEY_TYPES.join(', ')}`);
    p.allowedKeyTypes = b.allowedKeyTypes as KeyType[];
  }
  if (b.honorCaRequests !== undefined) p.honorCaRequests = b.honorCaRequests === true;
  return p;
}

/** Extended key usage OIDs of a profile. */
export function extKeyUsageOids(p: CertificateProfile): string[] | undefined {
  return p.extKeyUsage?.map((u) => EKU_NAMES[u] ?? u);
}
