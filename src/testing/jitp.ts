/**
 * Test helper for the JITP seed walk-throughs: RSA-2048 keys and certificates made with the
 * openssl CLI as the seeds make them, and mosquitto_pub / mosquitto_sub run as real clients.
 */
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl } from './pki.ts';

/** Files of an openssl-made CA in `dir`: `<name>.key`, `<name>.pem`. */
export function opensslRoot(
  dir: string,
  name: string,
  subject = `/CN=${name}`,
): { key: string; pem: string } {
  const key = join(dir, `${name}.key`);
  const pem = join(dir, `${name}.pem`);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    pem,
    '-days',
    '30',
    '-subj',
    subject,
  ]);
  return { key, pem };
}

/** A key and a certificate with `subject` signed by `ca` (as `openssl x509 -req` signs it). */
export function opensslSigned(
  dir: string,
  name: string,
  subject: string,
  ca: { key: string; pem: string },
  keyType: 'rsa' | 'ec' = 'rsa',
): { key: string; pem: string } {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const pem = join(dir, `${name}.crt`);
  const newkey =
    keyType === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  openssl(['req', '-new', ...newkey, '-nodes', '-keyout', key, '-out', csr, '-subj', subject]);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.pem,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    pem,
    '-days',
    '30',
    '-sha256',
  ]);
  return { key, pem };
}

/** `cat device.crt ca.pem > deviceCertAndCACert.crt`. */
export function withCa(dir: string, device: { pem: string }, ca: { pem: string }, name: string): string {
  const out = join(dir, name);
  writeFileSync(out, readFileSync(device.pem, 'utf8') + readFileSync(ca.pem, 'utf8'));
  return out;
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The mosquitto client flags of the seeds: the server CA, the device certificate and key, TLS 1.2. */
function tlsArgs(o: { port: number; cafile: string; cert: string; key: string }): string[] {
  return [
    '--cafile',
    o.cafile,
    '--cert',
    o.cert,
    '--key',
    o.key,
    '-h',
    'localhost',
    '-p',
    String(o.port),
    '--tls-version',
    'tlsv1.2',
  ];
}

/** Runs mosquitto_pub with the seed's flags plus `args`; resolves with its exit code and output. */
export function mosquittoPub(o: {
  port: number;
  cafile: string;
  cert: string;
  key: string;
  args: string[];
}): Promise<ToolResult> {
  return new Promise((resolve) => {
    execFile('mosquitto_pub', [...tlsArgs(o), ...o.args], { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

/** Starts mosquitto_sub; `messages` collects what arrives, `stop()` ends it. */
export function mosquittoSub(o: { port: number; cafile: string; cert: string; key: string; args: string[] }) {
  const child = spawn('mosquitto_sub', [...tlsArgs(o), ...o.args]);
  const messages: string[] = [];
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => messages.push(...d.split('\n').filter(Boolean)));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return {
    messages,
    stderr: () => stderr,
    exited: new Promise<number | null>((r) => child.once('exit', (c) => r(c))),
    stop: () => child.kill(),
  };
}
