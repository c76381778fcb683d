/**
 * The agent's EST client, as aziot-certd does it: POST simpleenroll and GET cacerts together,
 * the CSR as 64-column base64 with content-transfer-encoding: base64, Basic credentials sent
 * up front; success is 200 with a PKCS#7; the chain kept is the issued certificates followed by
 * the cacerts certificates.
 */
import { ZtError } from '../errors.ts';
import { type Certificate, certificatePem, parseCertificate } from '../pki/certificate.ts';
import { base64Lines } from '../pki/pem.ts';
import { decodeCertsOnly } from '../pki/pkcs7.ts';
import { httpsRequest } from './http.ts';
import { type HttpAnswer, type HttpOptions, NetworkError } from './network.ts';

export interface EstCredentials {
  username?: string;
  password?: string;
  /** TLS client certificate (PEM chain) and key (PEM): the EST identity or bootstrap identity. */
  cert?: string;
  key?: string;
  /** Or the key of `cert` in a PKCS#11 token. */
  keyUri?: string;
}

function certs(a: HttpAnswer, url: string): Certificate[] {
  if (a.status === 401) {
    throw new ZtError(
      'UNAUTHENTICATED',
      `the EST server ${url} refused the credentials (401): ${a.body.toString().trim() || 'check the user name and password or the certificate'}`,
    );
  }
  if (a.status >= 500)
    throw new NetworkError(`the EST server ${url} answered ${a.status}; it will be retried`);
  if (a.status !== 200) {
    throw new ZtError(
      'BAD_REQUEST',
      `the EST server ${url} answered ${a.status}: ${a.body.toString().trim()}`,
    );
  }
  const ct = String(a.headers['content-type'] ?? '');
  if (!ct.startsWith('application/pkcs7-mime'))
    throw new ZtError('BAD_REQUEST', `${url} answered ${ct}, not application/pkcs7-mime`);
  const found = decodeCertsOnly(a.body.toString('latin1')).map((d) => parseCertificate(d));
  if (found.length === 0) throw new ZtError('BAD_REQUEST', `${url} answered a PKCS#7 without certificates`);
  return found;
}

/** Enrolls a CSR (DER); returns the chain (issued first) as certificates and PEM. */
export async function estEnroll(
  baseUrl: string,
  csrDer: Buffer,
  cred: EstCredentials,
  http: HttpOptions,
): Promise<{ chain: Certificate[]; pem: string }> {
  const base = baseUrl.replace(/\/+$/, '');
  const headers: Record<string, string> = {};
  if (cred.username) {
    headers.authorization = `Basic ${Buffer.from(`${cred.username}:${cred.password ?? ''}`).toString('base64')}`;
  }
  const o = { ...http, cert: cred.cert, key: cred.key, keyUri: cred.keyUri };
  const [enrolled, cacerts] = await Promise.all([
    httpsRequest(
      `${base}/simpleenroll`,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/pkcs10', 'content-transfer-encoding': 'base64' },
        body: base64Lines(csrDer),
      },
      o,
    ),
    httpsRequest(`${base}/cacerts`, { method: 'GET', headers }, o),
  ]);
  const chain = [...certs(enrolled, `${base}/simpleenroll`), ...certs(cacerts, `${base}/cacerts`)];
  return { chain, pem: chain.map(certificatePem).join('') };
}
