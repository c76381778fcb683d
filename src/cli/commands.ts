/**
 * The top-level commands and what each is for: the one list `zerotouch --help` prints without
 * loading any command's code, and the descriptions the command modules register.
 */
export const COMMANDS = {
  server: 'run the provisioning server (device HTTPS listener and admin API)',
  pki: 'offline PKI toolkit: CAs, device and server certificates, verification certificates',
  tenant: 'tenants (ID scopes)',
  token: 'API tokens of the admin API: create with rights and expiry, list, revoke',
  ca: 'CA certificates of a tenant (upload, proof of possession)',
  hub: 'IoT hubs linked to a tenant',
  enrollment: 'individual enrollments and enrollment groups (--group) of a tenant',
  registration: 'registration records (the service view of devices)',
  device: 'devices in the registries of the linked hubs',
  policy: 'shared access policies: connection strings for the Azure DPS service SDK',
  audit: 'the audit trail of a scope: admin changes, device refusals, issuances, revocations, registrations',
  diagnose:
    'say which enrollment a device chain would match (--chain), or whether a certificate would connect to the IoT gateway (--cert), and exactly why not',
  'issuing-ca': 'issuing CAs of a tenant (EST, DPS csr, API issuance)',
  profile: 'certificate profiles of a tenant',
  cert: "certificates issued by the tenant's issuing CAs",
  est: 'EST labels, users and approvals',
  template: 'provisioning templates (AWS JITP shape): try one on a certificate offline, save them in a scope',
  iot: 'the IoT registry of a scope (AWS IoT shape): settings, JITP/JITR CAs, certificates, things, policies',
  'aws-key': 'access keys for the AWS IoT API face (aws iot --endpoint-url, @aws-sdk/client-iot)',
  agent: 'device agent: provisions this device through DPS with a file or EST identity',
} as const;

export type CommandName = keyof typeof COMMANDS;
