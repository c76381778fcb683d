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

/** Most certificates read from one PKCS#7 bundle. */
export const MAX_PKCS7_CERTIFICATES = 64;

/**
 * The certificates (DER, in stored order) of a PKCS#7 given as PEM, base64 or DER. The
 * ContentInfo and SignedData structure (RFC 5652 3, 5.1) is checked whole; signerInfos may be
 * present but are not used, since certs-only bundles are trusted by the chain, not a signature.
 */
export function decodeCertsOnly(input: Buffer | string): Buffer[] {
  const [bytes] = decodeInput(input, ['PKCS7', 'CMS', 'PKCS #7 SIGNED DATA'], 'a PKCS#7 certificate bundle');
  try {
    const top = der.children(der.expect(der.read(bytes!), der.TAG.SEQUENCE, 'ContentInfo'));
    der.noMore(top, 2, 'ContentInfo');
    const type = der.readOid(der.expect(top[0], der.TAG.OID, 'contentType'));
    if (type !== OID.signedData) {
      throw new ZtError('PKCS7_MALFORMED', `content type is ${type}, not signedData`, {
        rule: 'pkcs7-content-type',
      });
    }
    const wrapped = der.children(der.expect(top[1], 0xa0, 'content'));
    der.noMore(wrapped, 1, 'content');
    const sd = der.children(der.expect(wrapped[0], der.TAG.SEQUENCE, 'SignedData'));
    const version = der.readSmallInt(der.expect(sd[0], der.TAG.INTEGER, 'version'), 'version');
    if (version > 5) der.malformed('pkcs7-version', `SignedData version ${version} is not 1-5`);
    for (const alg of der.children(der.expect(sd[1], der.TAG.SET, 'digestAlgorithms'))) {
      der.checkTree(der.expect(alg, der.TAG.SEQUENCE, 'digestAlgorithm'));
    }
    const encap = der.children(der.expect(sd[2], der.TAG.SEQUENCE, 'encapContentInfo'));
    der.readOid(der.expect(encap[0], der.TAG.OID, 'eContentType'));
    if (encap[1]) der.checkTree(der.expect(encap[1], 0xa0, 'eContent'));
    der.noMore(encap, encap[1] ? 2 : 1, 'encapContentInfo');
    let i = 3;
    let certs: Buffer[] = [];
    if (sd[i]?.tag === 0xa0) {
      const items = der.children(sd[i++]!, MAX_PKCS7_CERTIFICATES);
      certs = items.map((n) => Buffer.from(der.expect(n, der.TAG.SEQUENCE, 'certificate').raw));
    }
    if (sd[i]?.tag === 0xa1) der.checkTree(sd[i++]!);
    der.checkTree(der.expect(sd[i++], der.TAG.SET, 'signerInfos'));
    der.noMore(sd, i, 'SignedData');
    return certs;
  } catch (e) {
    if (isZtError(e, 'PKCS7_MALFORMED')) throw e;
    throw new ZtError(
      'PKCS7_MALFORMED',
      `PKCS#7 could not be decoded: ${(e as Error).message}`,
      isZtError(e) ? e.detail : { rule: 'unexpected' },
    );
  }
}
