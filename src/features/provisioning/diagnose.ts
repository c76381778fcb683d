/** Diagnose: which enrollment a chain would match and where it would land, or why it is refused. */
import { isZtError, operatorText } from '../../errors.ts';
import type { Certificate } from '../../pki/certificate.ts';
import { formatName } from '../../pki/names.ts';
import type { EnrollmentMatcher, RevocationCheck } from '../enrollments/matching.ts';
import { dpsErrorCode } from './dps-error-codes.ts';
import type { Diagnosis } from './types.ts';

/**
 * Runs the same matching as a registration, without registering. The operator's audience gets
 * the whole reason; a device asking for itself gets what a device may know.
 */
export async function diagnose(
  matcher: Pick<EnrollmentMatcher, 'match'>,
  tenantId: string | undefined,
  chain: Certificate[],
  revocation?: RevocationCheck,
  audience: 'operator' | 'device' = 'operator',
): Promise<Diagnosis> {
  const shown = chain.map((c) => ({
    subject: formatName(c.subject),
    issuer: formatName(c.issuer),
    sha256: c.sha256,
    notAfter: c.notAfter.toISOString(),
  }));
  try {
    const m = await matcher.match(tenantId, chain, new Date(), revocation);
    return {
      ok: true,
      registrationId: m.registrationId,
      chain: shown,
      enrollment:
        m.kind === 'group'
          ? {
              kind: 'group',
              id: m.enrollment.enrollmentGroupId,
              provisioningStatus: m.enrollment.provisioningStatus,
              boundTo: formatName(m.signer.subject),
            }
          : {
              kind: 'individual',
              id: m.enrollment.registrationId,
              provisioningStatus: m.enrollment.provisioningStatus,
            },
      ...(m.kind === 'group' && audience === 'operator' ? { candidates: m.candidates } : {}),
    };
  } catch (e) {
    if (!isZtError(e)) throw e;
    return {
      ok: false,
      registrationId: chain[0]?.commonName,
      chain: shown,
      code: e.code,
      errorCode: dpsErrorCode(e),
      reason: audience === 'operator' ? operatorText(e) : e.message,
    };
  }
}
