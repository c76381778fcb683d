/** Shapes of the issuance feature: issuing CAs, certificate profiles, issued-certificate records. */
import type { KeyType } from '../../pki/keys.ts';
import type { KeyUsage } from '../../pki/oids.ts';

/** An issuing CA as the API shows it (never its key). */
export interface IssuingCa {
  name: string;
  subject: string;
  /** PEM of the CA certificate. */
  certificate: string;
  /** PEM of the CA certificate followed by its issuers up to the root (what /cacerts serves). */
  chain: string;
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  notBeforeUtc: string;
  notAfterUtc: string;
  keyStorage: 'encrypted-file' | 'pkcs11';
  crlUrl: string;
  createdDateTimeUtc: string;
}

/** What certificates a profile issues. */
export interface CertificateProfile {
  name: string;
  /** `ca` issues CA certificates with pathLen 0 (IoT Edge CA); `server` TLS servers; `device` clients. */
  kind: 'device' | 'server' | 'ca';
  validityDays?: number;
  validityHours?: number;
  /** Overrides of the kind's key usages and extended key usages (names like clientAuth or OIDs). */
  keyUsage?: KeyUsage[];
  extKeyUsage?: string[];
  /** `copy`: the CSR's SANs; `none`: drop them; `dns-ip`: only DNS and IP SANs are allowed. */
  sans: 'copy' | 'none' | 'dns-ip';
  /** Key types a CSR may carry. */
  allowedKeyTypes: KeyType[];
  /** A CSR asking for basicConstraints CA:TRUE gets a CA certificate with pathLen 0 (aziot Edge CA). */
  honorCaRequests?: boolean;
}

export type IssueMethod = 'est-simpleenroll' | 'est-simplereenroll' | 'est-serverkeygen' | 'dps-csr' | 'api';

export type CertificateStatus = 'valid' | 'revoked';

/** The record of one issued certificate. */
export interface IssuedCertificate {
  serialNumber: string;
  issuingCa: string;
  subject: string;
  subjectAltNames: string[];
  sha1Thumbprint: string;
  sha256Thumbprint: string;
  notBeforeUtc: string;
  notAfterUtc: string;
  profile: string;
  method: IssueMethod;
  /** Who asked: EST user, client certificate subject, DPS registration ID, API token. */
  requester: string;
  status: CertificateStatus;
  revokedAtUtc?: string;
  revocationReason?: string;
  createdDateTimeUtc: string;
}
