/**
 * Test helper: an EST client that speaks as aziot-certd does (est.md 2a): POST simpleenroll with
 * `content-type: application/pkcs10`, `content-transfer-encoding: base64`, pre-emptive Basic
 * auth, the CSR as 64-column base64 lines; GET cacerts concurrently; only status 200 is success;
 * the stored chain is the simpleenroll certificates followed by the cacerts certificates.
 */
import type { KeyObject } from 'node:crypto';
import { request } from 'node:https';
import { type Certificate, certificatePem, parseCertificate } from '../pki/certificate.ts';
import { createCsr } from '../pki/csr.ts';
import type { NameFields } from '../pki/names.ts';
import { base64Lines } from '../pki/pem.ts';
import { exportPrivateKeyPem } from '../pki/keys.ts';
import { decodeCertsOnly } from '../pki/pkcs7.ts';

export interface EstTarget {
  port: number;
  /** PEM trust anchor of the server certificate. */
  ca: string;
  /** Base path, e.g. /.well-known/est/devices */
  path: string;
}

export interface EstAuth {
  basic?: { user: string; password: string };
  /** TLS client identity: certificate chain PEM and key (aziot renews with the leaf alone). */
  cert?: { certPem: string; key: KeyObject };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** One EST HTTP exchange. */
export function estRequest(
  t: EstTarget,
  method: string,
  op: string,
  auth: EstAuth,
  body?: string,
  extraHeaders: Record<string, string> = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...extraHeaders };
    if (auth.basic) {
      headers.authorization = `Basic ${Buffer.from(`${auth.basic.user}:${auth.basic.password}`).toString('base64')}`;
    }
    if (body !== undefined) {
      headers['content-type'] = 'application/pkcs10';
      headers['content-transfer-encoding'] = 'base64';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: t.port,
        method,
        path: `${t.path}/${op}`,
        ca: t.ca,
        cert: auth.cert?.certPem,
        key: auth.cert ? exportPrivateKeyPem(auth.cert.key) : undefined,
        agent: false,
        headers,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** aziot-certd's response rule: 200, pkcs7-mime, PEM or whitespace-tolerant base64 DER, at least one cert. */
function certsOf(a: HttpAnswer, what: string): Certificate[] {
  if (a.status !== 200) {
    throw new Error(`EST endpoint did not return successful response: ${a.status} ${a.body.toString()}`);
  }
  const ct = String(a.headers['content-type'] ?? '');
  if (ct !== 'application/pkcs7-mime' && !ct.startsWith('application/pkcs7-mime;')) {
    throw new Error(`${what}: bad content-type ${ct}`);
  }
  const der = Buffer.from(a.body.toString('latin1').replace(/\s+/g, ''), 'base64');
  const certs = decodeCertsOnly(der).map(parseCertificate);
  if (certs.length === 0) throw new Error(`${what}: PKCS#7 without certificates`);
  return certs;
}

/** Enrolls like aziot-certd: simpleenroll and cacerts at once; returns leaf-first chain and PEM. */
export async function aziotEnroll(
  t: EstTarget,
  key: KeyObject,
  subject: NameFields,
  auth: EstAuth,
): Promise<{ chain: Certificate[]; pem: string }> {
  const csr = base64Lines(createCsr(key, subject));
  const [enrolled, cacerts] = await Promise.all([
    estRequest(t, 'POST', 'simpleenroll', auth, csr),
    estRequest(t, 'GET', 'cacerts', auth),
  ]);
  const chain = [...certsOf(enrolled, 'simpleenroll'), ...certsOf(cacerts, 'cacerts')];
  return { chain, pem: chain.map(certificatePem).join('') };
}
