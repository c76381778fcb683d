/** Certificate facts in the shape DPS reports them (X509CertificateInfo). */
import type { Certificate } from '../../pki/certificate.ts';
import { formatName } from '../../pki/names.ts';
import type { X509CertificateInfo } from './types.ts';

/** X509CertificateInfo as DPS reports it. */
export function certificateInfo(c: Certificate): X509CertificateInfo {
  return {
    subjectName: formatName(c.subject),
    sha1Thumbprint: c.sha1,
    sha256Thumbprint: c.sha256,
    issuerName: formatName(c.issuer),
    notBeforeUtc: c.notBefore.toISOString(),
    notAfterUtc: c.notAfter.toISOString(),
    serialNumber: c.serialNumber,
    version: c.version,
  };
}
