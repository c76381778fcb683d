/** Devices in the registries of linked hubs. */
import type { EnrollmentKind, TwinCollection } from '../enrollments/types.ts';

/** A device in a hub's registry, created or updated by assignment. */
export interface RegistryDevice {
  deviceId: string;
  hub: string;
  registrationId: string;
  status: 'enabled' | 'disabled';
  authentication:
    | { type: 'selfSigned'; x509Thumbprint: { primaryThumbprint: string; secondaryThumbprint?: string } }
    | { type: 'certificateAuthority' };
  capabilities: { iotEdge: boolean };
  twin: { tags: TwinCollection; properties: { desired: TwinCollection; reported: TwinCollection } };
  enrollment: { kind: EnrollmentKind; id: string };
  /** The certificate the device last registered with. */
  certificate?: { sha1Thumbprint: string; sha256Thumbprint: string; notAfterUtc: string };
  etag: string;
  createdDateTimeUtc: string;
  lastUpdatedDateTimeUtc: string;
}
