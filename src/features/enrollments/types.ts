/**
 * Enrollments in the JSON shape of the Azure DPS service API (2021-10-01), so that the Azure
 * service SDK, the native /v1 API and the CLI all read and write the same documents.
 */

export type ProvisioningStatus = 'enabled' | 'disabled';
export type AllocationPolicy = 'hashed' | 'geoLatency' | 'static' | 'custom';

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
  optionalDeviceInformation?: TwinCollection;
}

export interface EnrollmentGroup extends EnrollmentBase {
  enrollmentGroupId: string;
}

export type EnrollmentKind = 'individual' | 'group';
