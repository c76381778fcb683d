/**
 * Table types for Kysely. Portable across SQLite and PostgreSQL: times are ISO-8601 text (they
 * sort correctly), flags are integers, structured values are JSON text.
 */
import type { Generated } from 'kysely';

export interface TenantsTable {
  id: string;
  id_scope: string;
  name: string;
  created_at: string;
}

export interface ApiTokensTable {
  id: string;
  tenant_id: string | null;
  name: string;
  secret_hash: string;
  /** JSON array of scopes, e.g. ["admin"]. */
  scopes: string;
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked_at: string | null;
}

/** CA certificates uploaded to a tenant, verified by proof of possession or on upload. */
export interface CaCertificatesTable {
  tenant_id: string;
  name: string;
  name_key: string;
  sha256: string;
  certificate: string;
  verified: number;
  verification_code: string | null;
  code_expires_at: string | null;
  /** The CA's JITP/JITR registration (JSON), when it has one. */
  aws_doc: string | null;
  /** The CA's SHA-256 while it is registered in DEFAULT mode: unique across scopes. */
  aws_default_key: string | null;
  /** Hash of the CA's subject while registered: finds the CA of a leaf-only chain. */
  aws_subject_key: string | null;
  etag: string;
  created_at: string;
  updated_at: string;
}

/** IoT hubs a tenant may assign devices to. */
export interface LinkedHubsTable {
  tenant_id: string;
  host_name: string;
  host_key: string;
  region: string;
  weight: number;
  apply_allocation_policy: number;
  /** record, builtin, mosquitto or webhook. */
  kind: string;
  /** JSON: the mosquitto or webhook settings of external hubs. */
  config: string | null;
  created_at: string;
}

/** Individual enrollments and enrollment groups; `doc` is the Azure-shaped JSON. */
export interface EnrollmentsTable {
  tenant_id: string;
  kind: string;
  id_key: string;
  doc: string;
  /** For groups: SHA-256 of the primary and secondary signing certificates, or CA names referenced. */
  signer1: string | null;
  signer2: string | null;
  ca_ref1: string | null;
  ca_ref2: string | null;
  etag: string;
  created_at: string;
  updated_at: string;
}

/** One row per registration ID: the latest operation and the service's view of it. */
export interface RegistrationsTable {
  tenant_id: string;
  id_key: string;
  operation_id: string;
  status: string;
  /** Enrollment group the registration came through (lower case), for per-group queries. */
  group_key: string | null;
  /** The registrationState JSON returned to devices and the service API. */
  doc: string;
  etag: string;
  created_at: string;
  updated_at: string;
}

/** A lease on one device's registrations (`<tenant>/<id key>`), held by one operation until it expires. */
export interface DeviceLeasesTable {
  key: string;
  owner: string;
  expires_at: string;
}

/** Random secrets shared by every server on the store (base64). */
export interface ClusterSecretsTable {
  name: string;
  value: string;
}

/** The hub-side registry: devices created by assignment. */
export interface DevicesTable {
  tenant_id: string;
  hub_key: string;
  device_id: string;
  doc: string;
  /** SHA-256 of the certificate the device registered with (revocation finds it by this). */
  cert_sha256: string | null;
  /** `individual:<id>` or `group:<id>` (id lower-cased), the enrollment that assigned it. */
  enrollment_key: string | null;
  etag: string;
  created_at: string;
  updated_at: string;
}

/** Shared access policies for the Azure-shaped service API. */
export interface AccessPoliciesTable {
  tenant_id: string;
  key_name: string;
  primary_key: string;
  secondary_key: string;
  rights: string;
  created_at: string;
}

/** Issuing CAs per tenant; the key is encrypted at rest (key_ref JSON). */
export interface IssuingCasTable {
  tenant_id: string;
  name: string;
  name_key: string;
  certificate: string;
  chain: string;
  key_ref: string;
  sha256: string;
  crl_number: number;
  created_at: string;
}

export interface CertProfilesTable {
  tenant_id: string;
  name_key: string;
  doc: string;
  updated_at: string;
}

/** Every certificate the issuance engine signed. */
export interface IssuedCertificatesTable {
  tenant_id: string;
  ca_key: string;
  serial: string;
  subject: string;
  sans: string;
  sha1: string;
  sha256: string;
  not_before: string;
  not_after: string;
  profile: string;
  method: string;
  requester: string;
  status: string;
  revoked_at: string | null;
  revocation_reason: string | null;
  certificate: string;
  created_at: string;
  /** SHA-256 of the prepared issuer name (pki issuerKey); with serial, what revocation keys on. */
  issuer_key: string | null;
}

export interface CrlsTable {
  tenant_id: string;
  ca_key: string;
  number: number;
  next_update: string;
  der: string;
}

/** EST labels: path segment -> tenant, issuing CA, profile, authentication policy (doc JSON). */
export interface EstLabelsTable {
  label_key: string;
  tenant_id: string;
  doc: string;
  is_default: number;
  updated_at: string;
}

export interface EstUsersTable {
  label_key: string;
  username: string;
  password_hash: string;
  created_at: string;
}

/** EST requests waiting for manual approval, keyed by a hash of the CSR's public key. */
export interface EstPendingTable {
  label_key: string;
  key_hash: string;
  subject: string;
  requester: string;
  status: string;
  created_at: string;
  decided_at: string | null;
}

/** A scope's IoT settings (region, account, endpoint, gateway rules) and its registration code. */
export interface IotSettingsTable {
  tenant_id: string;
  endpoint_key: string | null;
  registration_code: string;
  doc: string;
  updated_at: string;
}

/** Things of the IoT registry; names are case-sensitive, as in AWS. */
export interface IotThingsTable {
  tenant_id: string;
  name: string;
  thing_type: string | null;
  doc: string;
  created_at: string;
  updated_at: string;
}

/** Thing types, thing groups, billing groups and provisioning templates, by kind and name. */
export interface IotNamedTable {
  tenant_id: string;
  kind: string;
  name: string;
  doc: string;
  created_at: string;
}

/** Device certificates: ID = SHA-256 of the DER; looked up for trust by the signed part's hash. */
export interface IotCertificatesTable {
  tenant_id: string;
  id: string;
  tbs_sha256: string;
  ca_name: string | null;
  status: string;
  doc: string;
  created_at: string;
  updated_at: string;
}

export interface IotPoliciesTable {
  tenant_id: string;
  name: string;
  doc: string;
  created_at: string;
  updated_at: string;
}

/** Policy attachments: target is a certificate ID. */
export interface IotPolicyTargetsTable {
  tenant_id: string;
  policy_name: string;
  target: string;
}

/** Thing-principal attachments: principal is a certificate ID. */
export interface IotThingPrincipalsTable {
  tenant_id: string;
  thing_name: string;
  principal: string;
}

/** Messages to deliver to webhooks, kept until delivered (retried with backoff across restarts). */
export interface OutboxTable {
  id: string;
  tenant_id: string;
  kind: string;
  target: string;
  payload: string;
  attempts: number;
  next_attempt_at: string;
  delivered_at: string | null;
  last_error: string | null;
  created_at: string;
}

/** AWS access keys of scopes: the secret encrypted (AES-256-GCM), for SigV4 verification. */
export interface AwsAccessKeysTable {
  id: string;
  tenant_id: string;
  name: string;
  rights: string;
  secret_enc: string;
  created_at: string;
  last_used_at: string | null;
}

/** The append-only audit trail. */
export interface AuditEventsTable {
  seq: Generated<number>;
  tenant_id: string | null;
  at: string;
  actor_kind: string;
  actor_id: string;
  actor_name: string | null;
  action: string;
  target: string;
  outcome: string;
  code: string | null;
  /** JSON. */
  detail: string | null;
}

export interface Database {
  tenants: TenantsTable;
  api_tokens: ApiTokensTable;
  ca_certificates: CaCertificatesTable;
  linked_hubs: LinkedHubsTable;
  enrollments: EnrollmentsTable;
  registrations: RegistrationsTable;
  devices: DevicesTable;
  access_policies: AccessPoliciesTable;
  issuing_cas: IssuingCasTable;
  cert_profiles: CertProfilesTable;
  issued_certificates: IssuedCertificatesTable;
  crls: CrlsTable;
  est_labels: EstLabelsTable;
  est_users: EstUsersTable;
  est_pending: EstPendingTable;
  iot_settings: IotSettingsTable;
  iot_things: IotThingsTable;
  iot_named: IotNamedTable;
  iot_certificates: IotCertificatesTable;
  iot_policies: IotPoliciesTable;
  iot_policy_targets: IotPolicyTargetsTable;
  iot_thing_principals: IotThingPrincipalsTable;
  outbox: OutboxTable;
  aws_access_keys: AwsAccessKeysTable;
  audit_events: AuditEventsTable;
  device_leases: DeviceLeasesTable;
  cluster_secrets: ClusterSecretsTable;
}
