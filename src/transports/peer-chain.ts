/** The client certificate chain a device presented in the TLS handshake, as parsed certificates. */
import type { TLSSocket } from 'node:tls';
import { type Certificate, parseCertificate } from '../pki/certificate.ts';

/** Leaf first, then whatever intermediates the client sent; empty when it sent none. */
export function peerChain(socket: TLSSocket): Certificate[] {
  const out: Certificate[] = [];
  let cur = socket.getPeerCertificate(true);
  const seen = new Set<string>();
  while (cur?.raw && !seen.has(cur.fingerprint256)) {
    seen.add(cur.fingerprint256);
    out.push(parseCertificate(cur.raw));
    cur = cur.issuerCertificate;
  }
  return out;
}
