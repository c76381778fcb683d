/** The body of a DPS register request (DeviceRegistration), read the same for HTTPS and MQTT. */
import { ZtError } from '../../errors.ts';
import { idKey } from '../id-key.ts';

/** api-versions whose registrations may carry a csr (reference azure-dps.md 1.12). */
function allowsCsr(apiVersion: string | undefined): boolean {
  return !!apiVersion && apiVersion >= '2025-07-01';
}

/** Longest csr string a registration may carry (a 16 KiB DER CSR in base64, with room for PEM). */
const MAX_CSR_CHARS = 32 * 1024;

/**
 * Checks a register request body (DeviceRegistration): an object whose registrationId, when
 * given, is the one in the URL, whose payload is an object, and whose csr is a string of bounded
 * length on an api-version that allows it. The csr itself is read later, after authentication.
 */
export function readRegisterBody(
  body: unknown,
  urlRegistrationId: string,
  apiVersion: string | undefined,
): { payload?: unknown; csr?: string } {
  const b = (body ?? {}) as Record<string, unknown>;
  if (typeof b !== 'object' || Array.isArray(b))
    throw new ZtError('BAD_REQUEST', 'the body must be a JSON object');
  if (b.registrationId !== undefined && idKey(String(b.registrationId)) !== idKey(urlRegistrationId)) {
    throw new ZtError(
      'REGISTRATION_ID_MISMATCH',
      `registrationId in the body (${String(b.registrationId).slice(0, 128)}) differs from the URL (${urlRegistrationId})`,
    );
  }
  if (
    b.payload !== undefined &&
    b.payload !== null &&
    (typeof b.payload !== 'object' || Array.isArray(b.payload))
  ) {
    throw new ZtError(
      'BAD_REQUEST',
      'payload must be a JSON object (DPS passes it to the custom allocation webhook)',
    );
  }
  const csr = b.csr ?? undefined;
  if (csr !== undefined) {
    if (!allowsCsr(apiVersion)) {
      throw new ZtError(
        'BAD_REQUEST',
        `csr needs api-version 2025-07-01-preview or later (got ${apiVersion?.slice(0, 32) ?? 'none'})`,
      );
    }
    if (typeof csr !== 'string') throw new ZtError('BAD_REQUEST', 'csr must be a base64 DER PKCS#10 string');
    if (csr.length > MAX_CSR_CHARS) {
      throw new ZtError(
        'BAD_REQUEST',
        `csr is longer than ${MAX_CSR_CHARS} characters; send a base64 DER PKCS#10`,
      );
    }
  }
  return { payload: b.payload, ...(csr !== undefined ? { csr: csr as string } : {}) };
}
