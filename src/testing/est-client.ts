/**
 * Test helper: raw EST exchanges (any status), and aziot-certd-style enrollment through the
 * agent's EST client, which speaks as aziot-certd does (est.md 2a).
 */
import type { KeyObject } from 'node:crypto';
import { request } from 'node:https';
import { estEnroll } from '../agent/est-client.ts';
import type { Certificate } from '../pki/certificate.ts';
import { createCsr } from '../pki/csr.ts';
import { exportPrivateKeyPem } from '../pki/keys.ts';
import type { NameFields } from '../pki/names.ts';

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

/** Enrolls like aziot-certd (through the agent's EST client): returns the leaf-first chain and PEM. */
export async function aziotEnroll(
  t: EstTarget,
  key: KeyObject,
  subject: NameFields,
  auth: EstAuth,
): Promise<{ chain: Certificate[]; pem: string }> {
  return estEnroll(
    `https://localhost:${t.port}${t.path}`,
    createCsr(key, subject),
    {
      username: auth.basic?.user,
      password: auth.basic?.password,
      cert: auth.cert?.certPem,
      key: auth.cert ? exportPrivateKeyPem(auth.cert.key) : undefined,
    },
    { trusted: [t.ca] },
  );
}
