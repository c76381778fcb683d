/** Adding an issuing CA: create or import it, and make it a verified DPS CA of the same name. */
import { isZtError, ZtError } from '../../errors.ts';
import type { CaService } from '../cas/service.ts';
import type { IssuanceEngine, TenantRef } from './engine.ts';
import type { AddIssuingCa, IssuingCa } from './types.ts';

/** Creates or imports an issuing CA; returns it with the name of its DPS CA certificate, if made. */
export async function addIssuingCa(
  engine: IssuanceEngine,
  cas: Pick<CaService, 'upload'>,
  tenant: TenantRef,
  b: AddIssuingCa,
): Promise<IssuingCa & { dpsCaCertificate: string | null }> {
  if (b.key && !b.certificate) {
    throw new ZtError('BAD_REQUEST', 'to import a CA give its certificate with its key');
  }
  const ca = b.certificate
    ? await engine.importCa(tenant, {
        name: b.name,
        certificate: b.certificate,
        key: b.key,
        keyPassphrase: b.keyPassphrase,
        keyUri: b.keyUri,
      })
    : await engine.createCa(tenant, {
        name: b.name,
        subject: b.subject,
        keyType: b.keyType,
        validityDays: b.validityDays,
        keyUri: b.keyUri,
      });
  let dpsCa: string | null = null;
  if (b.trustForDps !== false) {
    // Holding the key is the proof of possession DPS asks for.
    try {
      dpsCa = (await cas.upload(tenant.id, b.name, ca.certificate, true)).name;
    } catch (e) {
      if (!isZtError(e) || e.code !== 'CONFLICT') throw e;
    }
  }
  return { ...ca, dpsCaCertificate: dpsCa };
}
