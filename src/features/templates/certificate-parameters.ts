/**
 * The JITP parameters a device certificate supplies (DG jit-provisioning.md): subject attributes
 * by their OIDs, and AWS::IoT::Certificate::Id, the SHA-256 of the DER. SerialNumber is the
 * subject's serialNumber attribute, not the certificate serial, as in AWS.
 */
import type { Certificate } from '../../pki/certificate.ts';
import { OID } from '../../pki/oids.ts';

/** Each parameter with the subject attribute it comes from, for values and for messages. */
export const CERTIFICATE_PARAMETERS: Record<string, { oid?: string; attribute: string }> = {
  'AWS::IoT::Certificate::Country': { oid: OID.countryName, attribute: 'C (country)' },
  'AWS::IoT::Certificate::Organization': { oid: OID.organizationName, attribute: 'O (organization)' },
  'AWS::IoT::Certificate::OrganizationalUnit': {
    oid: OID.organizationalUnitName,
    attribute: 'OU (organizational unit)',
  },
  'AWS::IoT::Certificate::DistinguishedNameQualifier': { oid: OID.dnQualifier, attribute: 'dnQualifier' },
  'AWS::IoT::Certificate::StateName': { oid: OID.stateOrProvinceName, attribute: 'ST (state)' },
  'AWS::IoT::Certificate::CommonName': { oid: OID.commonName, attribute: 'CN (common name)' },
  'AWS::IoT::Certificate::SerialNumber': { oid: OID.serialNumber, attribute: 'serialNumber' },
  'AWS::IoT::Certificate::Id': { attribute: 'the certificate ID' },
};

/** The parameter values of a certificate: those its subject has, and its Id. */
export function certificateParameters(cert: Certificate): Record<string, string> {
  // AWS certificate IDs are lower-case hex.
  const out: Record<string, string> = { 'AWS::IoT::Certificate::Id': cert.sha256.toLowerCase() };
  for (const [name, { oid }] of Object.entries(CERTIFICATE_PARAMETERS)) {
    const value = oid ? cert.subject.attributes.find((a) => a.oid === oid)?.value : undefined;
    if (value !== undefined) out[name] = value;
  }
  return out;
}
