/**
 * The closed catalogue of zerotouch error codes. Every error a user can see carries one of these
 * codes and a message that says what to do next; wire adapters map the code to their own shape.
 */

/** Where an error belongs and the HTTP status it maps to by default. */
interface ErrorSpec {
  status: number;
  title: string;
}

export const ERROR_CATALOGUE = {
  // input decoding
  PEM_MALFORMED: { status: 400, title: 'PEM input could not be decoded' },
  DER_MALFORMED: { status: 400, title: 'DER input is not valid ASN.1' },
  CERT_MALFORMED: { status: 400, title: 'certificate could not be parsed' },
  CSR_MALFORMED: { status: 400, title: 'certificate signing request could not be parsed' },
  CSR_BAD_SIGNATURE: { status: 400, title: 'CSR signature does not verify with its own public key' },
  KEY_MALFORMED: { status: 400, title: 'private key could not be read' },
  KEY_UNSUPPORTED: { status: 400, title: 'key type is not supported' },
  KEY_MISMATCH: { status: 400, title: 'private key does not match the certificate' },
  PKCS7_MALFORMED: { status: 400, title: 'PKCS#7 input could not be decoded' },
  ALGORITHM_UNSUPPORTED: { status: 400, title: 'signature algorithm is not supported' },
  // path validation
  CHAIN_EMPTY: { status: 400, title: 'no certificate was presented' },
  CHAIN_UNKNOWN_ISSUER: { status: 401, title: 'chain does not reach a trusted CA' },
  CHAIN_BAD_SIGNATURE: { status: 401, title: 'certificate signature does not verify' },
  CHAIN_NOT_CA: { status: 401, title: 'an issuer in the chain is not a CA' },
  CHAIN_PATH_LEN_EXCEEDED: { status: 401, title: 'path length constraint exceeded' },
  CHAIN_KEY_USAGE: { status: 401, title: 'issuer key usage does not allow certificate signing' },
  CHAIN_EKU: { status: 401, title: 'extended key usage does not allow this use' },
  CHAIN_CRITICAL_EXTENSION: { status: 401, title: 'certificate has an unsupported critical extension' },
  CHAIN_TOO_LONG: { status: 401, title: 'chain is longer than allowed' },
  CHAIN_NAME_CONSTRAINTS: { status: 401, title: 'a name is outside the name constraints of a CA' },
  CERT_EXPIRED: { status: 401, title: 'certificate has expired' },
  CERT_NOT_YET_VALID: { status: 401, title: 'certificate is not yet valid' },
  CERT_REVOKED: { status: 401, title: 'certificate has been revoked' },
  // requests and config
  CA_NOT_VERIFIED: { status: 401, title: 'the chain reaches a CA that is not verified' },
  CA_VERIFICATION_FAILED: { status: 400, title: 'proof of possession failed' },
  ENROLLMENT_NOT_FOUND: { status: 401, title: 'no enrollment matches this device' },
  ENROLLMENT_DISABLED: { status: 401, title: 'the matching enrollment is disabled' },
  REGISTRATION_ID_INVALID: { status: 400, title: 'registration ID is not valid' },
  REGISTRATION_ID_MISMATCH: { status: 401, title: 'registration ID differs from the certificate' },
  ALLOCATION_FAILED: { status: 400, title: 'no IoT hub could be assigned' },
  WEBHOOK_FAILED: { status: 400, title: 'custom allocation webhook failed' },
  THROTTLED: { status: 429, title: 'too many requests' },
  BAD_REQUEST: { status: 400, title: 'request is not valid' },
  BODY_TOO_LARGE: { status: 413, title: 'request body is too large' },
  UNAUTHENTICATED: { status: 401, title: 'authentication required' },
  FORBIDDEN: { status: 403, title: 'not allowed' },
  NOT_FOUND: { status: 404, title: 'not found' },
  CONFLICT: { status: 409, title: 'conflict' },
  PRECONDITION_FAILED: { status: 412, title: 'precondition failed' },
  CONFIG_INVALID: { status: 400, title: 'configuration is not valid' },
  TEMPLATE_INVALID: { status: 400, title: 'provisioning template is not valid' },
  PROVISIONING_FAILED: {
    status: 400,
    title: 'the provisioning template could not provision this certificate',
  },
  STORE_UNAVAILABLE: { status: 503, title: 'store is not reachable' },
  NOT_CONFIGURED: { status: 503, title: 'not available until an operator fixes the configuration' },
  SERVER_UNREACHABLE: { status: 503, title: 'the zerotouch server cannot be reached' },
  HUB_UNREACHABLE: { status: 502, title: 'an external hub could not be reached or refused a change' },
  INTERNAL: { status: 500, title: 'internal error' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/**
 * An error from the catalogue: code, a message that says what to do, optional structured detail.
 * `message` is what the caller is told; where that caller is a device, it names nothing of the
 * tenant, and `operatorMessage` carries the whole reason for the log, the registration record
 * and diagnose.
 */
export class ZtError extends Error {
  readonly code: ErrorCode;
  readonly detail: Record<string, unknown> | undefined;
  readonly operatorMessage: string | undefined;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>, operatorMessage?: string) {
    super(message);
    this.name = 'ZtError';
    this.code = code;
    this.detail = detail;
    this.operatorMessage = operatorMessage;
  }

  /** HTTP status this error maps to by default. */
  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }
}

/** True when `e` is a catalogued error, optionally with the given code. */
export function isZtError(e: unknown, code?: ErrorCode): e is ZtError {
  return e instanceof ZtError && (code === undefined || e.code === code);
}

/** The whole reason of an error, for operators (the log, records, the admin API). */
export function operatorText(e: unknown): string {
  if (isZtError(e)) return e.operatorMessage ?? e.message;
  return e instanceof Error ? e.message : String(e);
}
