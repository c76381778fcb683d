/**
 * DPS numeric error codes (HTTP status × 1000 + sub-code), as devices and the Azure SDKs see them.
 * Certificate and enrollment rejections all use 401002, as DPS does; the message and the
 * zerotouch code in `info` say precisely why.
 */
import type { ErrorCode, ZtError } from '../../errors.ts';

const AUTH: ErrorCode[] = [
  'CHAIN_EMPTY',
  'CHAIN_UNKNOWN_ISSUER',
  'CHAIN_BAD_SIGNATURE',
  'CHAIN_NOT_CA',
  'CHAIN_PATH_LEN_EXCEEDED',
  'CHAIN_KEY_USAGE',
  'CHAIN_EKU',
  'CHAIN_CRITICAL_EXTENSION',
  'CHAIN_TOO_LONG',
  'CERT_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'CA_NOT_VERIFIED',
  'ENROLLMENT_NOT_FOUND',
  'ENROLLMENT_DISABLED',
  'REGISTRATION_ID_MISMATCH',
  'UNAUTHENTICATED',
];

/** The DPS errorCode for a zerotouch error. */
export function dpsErrorCode(e: ZtError): number {
  if (AUTH.includes(e.code)) return 401002;
  if (e.code === 'WEBHOOK_FAILED' && typeof e.detail?.dpsErrorCode === 'number') return e.detail.dpsErrorCode;
  if (e.code === 'ALLOCATION_FAILED') return 400205;
  if (e.code === 'NOT_FOUND') return 404201;
  if (e.code === 'THROTTLED') return 429001;
  if (e.code === 'PRECONDITION_FAILED') return 412001;
  if (e.code === 'CONFLICT') return 409001;
  return e.status * 1000 + 1;
}

/** HTTP status for a DPS device-API error: every certificate and enrollment rejection is 401. */
export function dpsHttpStatus(e: ZtError): number {
  return AUTH.includes(e.code) ? 401 : e.status;
}
