/** EST labels: what a `/.well-known/est/<label>/` path issues, from which CA, and who may ask. */
export interface EstLabel {
  label: string;
  idScope: string;
  /** Issuing CA name; default: the tenant's default issuing CA. */
  issuingCa?: string;
  /** Certificate profile; default "device". */
  profile: string;
  /** Users of this label may enroll with HTTP Basic. */
  basicAuth: boolean;
  /** A certificate issued by this label's CA may enroll (aziot renewal) and re-enroll. */
  certAuth: boolean;
  /** Names of verified CA certificates of the ID scope whose certificates may enroll (bootstrap/IDevID). */
  bootstrapCas: string[];
  /** The CSR must carry the TLS 1.2 tls-unique value in challengePassword (RFC 7030 3.5). */
  requireTlsUnique: boolean;
  /** Enrollments wait for an operator's approval (202 + Retry-After). */
  manualApproval: boolean;
  /** Serves /.well-known/est/<operation> without a label. */
  default: boolean;
  users?: string[];
}

export interface PendingEnrollment {
  label: string;
  keyHash: string;
  subject: string;
  requester: string;
  status: 'pending' | 'approved' | 'rejected';
  createdDateTimeUtc: string;
  decidedDateTimeUtc?: string;
}
