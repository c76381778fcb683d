/** Registrations in the shape devices and the Azure SDKs see them. */

export type RegistrationStatus = 'unassigned' | 'assigning' | 'assigned' | 'failed' | 'disabled';
export type Substatus =
  'initialAssignment' | 'deviceDataMigrated' | 'deviceDataReset' | 'reprovisionedToInitialAssignment';

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
