/** Certs-only PKCS#7 / CMS SignedData (RFC 5652 degenerate case), as EST and `openssl pkcs7` use it. */
import { isZtError, ZtError } from '../errors.ts';
import * as der from './der.ts';
import { OID } from './oids.ts';
import { decodeInput, toPem } from './pem.ts';

/** Encodes certificates (DER) as a certs-only SignedData, keeping the given order (leaf first). */
export function encodeCertsOnly(certs: Buffer[]): Buffer {
  if (certs.length === 0) throw new ZtError('INTERNAL', 'refusing to build a PKCS#7 with zero certificates');
  const signedData = der.seq(
    der.integer(1),
    der.setOrdered(),
    der.seq(der.oid(OID.data)),
    der.implicit(0, Buffer.concat(certs), true),
    der.setOrdered(),
  );
  return der.seq(der.oid(OID.signedData), der.explicit(0, signedData));
}

/** Certs-only PKCS#7 as PEM ("-----BEGIN PKCS7-----"). */
export function certsOnlyPem(certs: Buffer[]): string {
  return toPem('PKCS7', encodeCertsOnly(certs));
}

/** The certificates (DER, in stored order) of a PKCS#7 given as PEM, base64 or DER. */
export function decodeCertsOnly(input: Buffer | string): Buffer[] {
  const [bytes] = decodeInput(input, ['PKCS7', 'CMS', 'PKCS #7 SIGNED DATA'], 'a PKCS#7 certificate bundle');
  try {
    const [typeNode, content] = der.children(der.read(bytes));
    const type = der.readOid(typeNode);
    if (type !== OID.signedData)
      throw new ZtError('PKCS7_MALFORMED', `content type is ${type}, not signedData`);
    const signedData = der.children(der.expect(content, 0xa0, 'content'))[0];
    const certSet = der.children(signedData).find((n) => n.tag === 0xa0);
    if (!certSet) return [];
    return der.children(certSet).map((n) => Buffer.from(n.raw));
  } catch (e) {
    if (isZtError(e, 'PKCS7_MALFORMED')) throw e;
    throw new ZtError('PKCS7_MALFORMED', `PKCS#7 could not be decoded: ${(e as Error).message}`);
  }
}
