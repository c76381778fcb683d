/**
 * DPS data model, in the JSON shape of the Azure DPS service API (2021-10-01) so that the Azure
 * service SDK, the native /v1 API and the CLI all read and write the same documents.
 */

export type ProvisioningStatus = 'enabled' | 'disabled';
export type AllocationPolicy = 'hashed' | 'geoLatency' | 'static' | 'custom';
export type RegistrationStatus = 'unassigned' | 'assigning' | 'assigned' | 'failed' | 'disabled';
export type Substatus =
  'initialAssignment' | 'deviceDataMigrated' | 'deviceDataReset' | 'reprovisionedToInitialAssignment';

export interface X509CertificateInfo {
  subjectName: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  issuerName: string;
  notBeforeUtc: string;
  notAfterUtc: string;
  serialNumber: string;
  version: number;
}

export interface X509CertificateWithInfo {
  certificate?: string;
  info?: X509CertificateInfo;
}

export interface X509Attestation {
  clientCertificates?: { primary?: X509CertificateWithInfo; secondary?: X509CertificateWithInfo };
  signingCertificates?: { primary?: X509CertificateWithInfo; secondary?: X509CertificateWithInfo };
  caReferences?: { primary?: string; secondary?: string };
}

export interface AttestationMechanism {
  type: 'x509' | 'tpm' | 'symmetricKey' | 'none';
  x509?: X509Attestation;
}

export interface TwinCollection {
  [key: string]: unknown;
}

export interface InitialTwin {
  tags?: TwinCollection;
  properties?: { desired?: TwinCollection };
}

export interface ReprovisionPolicy {
  updateHubAssignment: boolean;
  migrateDeviceData: boolean;
}

export interface CustomAllocationDefinition {
  webhookUrl: string;
  apiVersion: string;
}

/** Issuance settings for devices that send a CSR (used by the CSR and EST flows). */
export interface CertificateIssuancePolicy {
  validityDays?: number;
  /** Issuing CA of the ID scope; default: its default issuing CA. */
  issuingCa?: string;
  /** Certificate profile; default "device". */
  profile?: string;
}

/** Fields common to individual enrollments and enrollment groups. */
export interface EnrollmentBase {
  attestation: AttestationMechanism;
  capabilities: { iotEdge: boolean };
  initialTwin?: InitialTwin;
  etag?: string;
  provisioningStatus: ProvisioningStatus;
  reprovisionPolicy: ReprovisionPolicy;
  createdDateTimeUtc?: string;
  lastUpdatedDateTimeUtc?: string;
  allocationPolicy?: AllocationPolicy;
  iotHubs?: string[];
  iotHubHostName?: string;
  customAllocationDefinition?: CustomAllocationDefinition;
  certificateIssuancePolicy?: CertificateIssuancePolicy;
}

export interface IndividualEnrollment extends EnrollmentBase {
  registrationId: string;
  deviceId?: string;
  registrationState?: DeviceRegistrationState;
  optionalDeviceInformation?: TwinCollection;
}

export interface EnrollmentGroup extends EnrollmentBase {
  enrollmentGroupId: string;
}

export type EnrollmentKind = 'individual' | 'group';

/** The service's view of a registration (DeviceRegistrationState / registrationState). */
export interface DeviceRegistrationState {
  x509?: { enrollmentGroupId?: string };
  registrationId: string;
  createdDateTimeUtc?: string;
  assignedHub?: string;
  deviceId?: string;
  status: RegistrationStatus;
  substatus?: Substatus;
  errorCode?: number;
  errorMessage?: string;
  /** zerotouch: the whole reason, for operators (admin and service APIs); never sent to devices. */
  errorDetail?: string;
  lastUpdatedDateTimeUtc?: string;
  etag?: string;
  payload?: unknown;
  /** Certificates issued for the registration's csr: base64 DER, leaf first (2025-07-01-preview+). */
  issuedCertificateChain?: string[];
}

/** A registration operation: what the device polls. */
export interface RegistrationOperation {
  operationId: string;
  status: RegistrationStatus;
  registrationState: DeviceRegistrationState;
}

export interface CaCertificate {
  name: string;
  /** PEM. */
  certificate: string;
  subject: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  notBeforeUtc: string;
  notAfterUtc: string;
  isVerified: boolean;
  /** Set after a verification code was requested and until it is used or expires. */
  verificationCode?: string;
  verificationCodeExpiresUtc?: string;
  etag: string;
  createdDateTimeUtc: string;
  lastUpdatedDateTimeUtc: string;
}

export interface LinkedHub {
  hostName: string;
  /** Region used by the geoLatency policy. */
  region: string;
  /** Relative share of devices under the hashed policy. */
  allocationWeight: number;
  /** Whether policies choose this hub when an enrollment does not list hubs. */
  applyAllocationPolicy: boolean;
}

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
