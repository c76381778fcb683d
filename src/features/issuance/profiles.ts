/** Certificate profiles: built-in defaults and the defaults of user-defined ones. */
import { ZtError } from '../../errors.ts';
import { KEY_TYPES, type KeyType } from '../../pki/keys.ts';
import { OID } from '../../pki/oids.ts';
import type { CertificateProfile, ProfileInput } from './types.ts';

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

/** A stored profile from what the API accepted (its schema checked the fields); fills in defaults. */
export function profileFrom(name: string, input: ProfileInput): CertificateProfile {
  if (input.validityDays !== undefined && input.validityHours !== undefined) {
    throw new ZtError('BAD_REQUEST', 'give validityDays or validityHours, not both');
  }
  return {
    name,
    kind: input.kind ?? 'device',
    ...(input.validityHours !== undefined
      ? { validityHours: input.validityHours }
      : { validityDays: input.validityDays ?? 365 }),
    ...(input.keyUsage ? { keyUsage: input.keyUsage } : {}),
    ...(input.extKeyUsage ? { extKeyUsage: input.extKeyUsage } : {}),
    sans: input.sans ?? 'copy',
    allowedKeyTypes: input.allowedKeyTypes ?? ALL_KEYS,
    ...(input.honorCaRequests !== undefined ? { honorCaRequests: input.honorCaRequests } : {}),
  };
}

/** Extended key usage OIDs of a profile. */
export function extKeyUsageOids(p: CertificateProfile): string[] | undefined {
  return p.extKeyUsage?.map((u) => EKU_NAMES[u] ?? u);
}
