/**
 * The client certificate chain a device presented in the TLS handshake, as parsed certificates.
 * The number of certificates and each one's size are checked before anything is decoded, and
 * the result (or the refusal) is kept per connection: a device reuses its connection.
 */
import type { TLSSocket } from 'node:tls';
import { ZtError } from '../errors.ts';
import { type Certificate, markKeyProven, parseCertificate } from '../pki/certificate.ts';

export interface ChainLimits {
  /** Largest single certificate, in bytes (device.max_certificate_bytes). */
  maxCertificateBytes: number;
  /** Most certificates, leaf included (device.max_chain_certificates). */
  maxCertificates: number;
}

export const DEFAULT_CHAIN_LIMITS: ChainLimits = { maxCertificateBytes: 16 * 1024, maxCertificates: 6 };

const parsed = new WeakMap<TLSSocket, Certificate[] | ZtError>();

/** Leaf first, then whatever intermediates the client sent; empty when it sent none. Throws a ZtError. */
export function peerChain(socket: TLSSocket, limits: ChainLimits = DEFAULT_CHAIN_LIMITS): Certificate[] {
  let result = parsed.get(socket);
  if (!result) {
    try {
      result = readChain(socket, limits);
    } catch (e) {
      result =
        e instanceof ZtError
          ? e
          : new ZtError('CERT_MALFORMED', 'the client certificate could not be read', { rule: 'unexpected' });
    }
    parsed.set(socket, result);
  }
  if (result instanceof ZtError) throw result;
  return result;
}

function readChain(socket: TLSSocket, limits: ChainLimits): Certificate[] {
  const raws: Buffer[] = [];
  // The certificates as the client sent them, leaf first (getPeerCertificate(true) would build
  // an object of every field for each, several times the cost); validation orders them itself.
  let cur = socket.getPeerX509Certificate();
  const seen = new Set<string>();
  while (cur && !seen.has(cur.fingerprint256)) {
    if (raws.length >= limits.maxCertificates) {
      throw new ZtError(
        'CHAIN_TOO_LONG',
        `the TLS client chain has more than ${limits.maxCertificates} certificates; send the leaf and its intermediates only`,
        { rule: 'chain-too-many' },
      );
    }
    if (cur.raw.length > limits.maxCertificateBytes) {
      throw new ZtError(
        'CERT_MALFORMED',
        `a certificate of ${cur.raw.length} bytes in the TLS client chain is larger than the ${limits.maxCertificateBytes}-byte limit`,
        { rule: 'cert-too-large' },
      );
    }
    seen.add(cur.fingerprint256);
    raws.push(cur.raw);
    cur = cur.issuerCertificate;
  }
  const chain = raws.map((raw) => parseCertificate(raw, limits.maxCertificateBytes));
  // The handshake's CertificateVerify checked a signature with the leaf's key.
  if (chain[0]) markKeyProven(chain[0]);
  return chain;
}
