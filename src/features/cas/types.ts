/** CA certificates of a tenant: the trust anchors of DPS groups, EST bootstrap and (soon) JITP. */

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
