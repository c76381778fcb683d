/** X.509 v2 certificate revocation lists (RFC 5280 section 5): encode and sign, parse for checks. */
import type { KeyObject } from 'node:crypto';
import { signatureAlgorithmFor, signWith } from './algorithms.ts';
import type { Certificate } from './certificate.ts';
import * as der from './der.ts';
import { encodeAuthorityKeyIdentifier, encodeExtension } from './extensions.ts';
import { keyIdentifier } from './issue.ts';
import { toPem } from './pem.ts';

/** RFC 5280 CRLReason values by name. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export interface RevokedEntry {
  /** Serial number as hex. */
  serial: string;
  revokedAt: Date;
  reason?: RevocationReason;
}

export interface CrlInput {
  issuer: Certificate;
  /** The CA key (private for encodeCrl; public is enough for encodeCrlWith). */
  key: KeyObject;
  number: bigint;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: RevokedEntry[];
}

const CRL_NUMBER = '2.5.29.20';
const CRL_REASON = '2.5.29.21';

/** Encodes and signs a CRL; returns its DER. */
export function encodeCrl(c: CrlInput): Buffer {
  const { tbs, alg } = crlTbs(c);
  return der.seq(tbs, alg.identifier, der.bitString(signWith(alg, c.key, tbs)));
}

/** Encodes a CRL signed elsewhere (a PKCS#11 token): `sign` gets the TBSCertList. */
export async function encodeCrlWith(c: CrlInput, sign: (tbs: Buffer) => Promise<Buffer>): Promise<Buffer> {
  const { tbs, alg } = crlTbs(c);
  return der.seq(tbs, alg.identifier, der.bitString(await sign(tbs)));
}

function crlTbs(c: CrlInput): { tbs: Buffer; alg: ReturnType<typeof signatureAlgorithmFor> } {
  const alg = signatureAlgorithmFor(c.key);
  const entries = c.revoked.map((r) => {
    const exts =
      r.reason && r.reason !== 'unspecified'
        ? [
            der.seq(
              encodeExtension(
                CRL_REASON,
                false,
                der.tlv(der.TAG.ENUMERATED, Buffer.from([REVOCATION_REASONS[r.reason]])),
              ),
            ),
          ]
        : [];
    return der.seq(der.integer(Buffer.from(r.serial, 'hex')), der.time(r.revokedAt), ...exts);
  });
  const keyId = c.issuer.subjectKeyId ?? keyIdentifier(c.issuer.spki);
  const tbs = der.seq(
    der.integer(1), // v2
    alg.identifier,
    c.issuer.subject.der,
    der.time(c.thisUpdate),
    der.time(c.nextUpdate),
    ...(entries.length ? [der.seq(...entries)] : []),
    der.explicit(
      0,
      der.seq(
        encodeExtension('2.5.29.35', false, encodeAuthorityKeyIdentifier(keyId)),
        encodeExtension(CRL_NUMBER, false, der.integer(c.number)),
      ),
    ),
  );
  return { tbs, alg };
}

/** The CRL as PEM ("-----BEGIN X509 CRL-----"). */
export function crlPem(crlDer: Buffer): string {
  return toPem('X509 CRL', crlDer);
}
