/**
 * HTTPS through `openssl s_client` with the client key in a PKCS#11 token: Node's bundled
 * OpenSSL cannot load the system's pkcs11 engine, the system openssl can. One request per
 * connection (Connection: close); the proxy password is passed in the environment, never on the
 * command line.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZtError } from '../errors.ts';
import { maskPin } from '../pki/pkcs11-uri.ts';
import { maskProxy } from './config.ts';
import { bypassesProxy, type HttpAnswer, type HttpOptions, NetworkError, trustStore } from './network.ts';

/** Splits an HTTP/1.1 response into status, headers and body (Content-Length or chunked). */
export function parseHttpResponse(raw: Buffer): HttpAnswer {
  const end = raw.indexOf('\r\n\r\n');
  if (end < 0) throw new NetworkError('the server closed the connection without an HTTP answer');
  const [statusLine, ...lines] = raw.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const nl = body.indexOf('\r\n', at);
      const size = Number.parseInt(body.subarray(at, nl).toString('latin1'), 16);
      if (!size) break;
      parts.push(body.subarray(nl + 2, nl + 2 + size));
      at = nl + 2 + size + 2;
    }
    body = Buffer.concat(parts);
  } else if (headers['content-length']) {
    body = body.subarray(0, Number(headers['content-length']));
  }
  return { status, headers, body };
}

/** One HTTPS request with the client key named by a PKCS#11 URI. */
export async function opensslHttpsRequest(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string | Buffer },
  o: HttpOptions & { keyUri: string; cert: string },
): Promise<HttpAnswer> {
  const u = new URL(url);
  const host = u.hostname;
  const port = Number(u.port || 443);
  const dir = mkdtempSync(join(tmpdir(), 'zt-agent-tls-'));
  try {
    const certs = o.cert.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];
    writeFileSync(join(dir, 'cert.pem'), certs[0] ?? '');
    writeFileSync(join(dir, 'chain.pem'), certs.slice(1).join('\n') || (certs[0] ?? ''));
    writeFileSync(join(dir, 'ca.pem'), [...trustStore(), ...(o.trusted ?? [])].join('\n'));
    const args = [
      's_client',
      '-quiet',
      '-connect',
      `${host}:${port}`,
      '-verify_return_error',
      '-verify_hostname',
      host,
      '-CAfile',
      join(dir, 'ca.pem'),
      '-cert',
      join(dir, 'cert.pem'),
      '-cert_chain',
      join(dir, 'chain.pem'),
      '-engine',
      'pkcs11',
      '-keyform',
      'engine',
      '-key',
      o.keyUri,
    ];
    if (!/^[\d.]+$|:/.test(host)) args.push('-servername', host);
    const env: NodeJS.ProcessEnv = { ...process.env };
    const viaProxy = o.proxy && !bypassesProxy(host, o.noProxy) ? new URL(o.proxy) : undefined;
    if (viaProxy) {
      args.push('-proxy', `${viaProxy.hostname}:${viaProxy.port || 80}`);
      if (viaProxy.username) {
        args.push('-proxy_user', decodeURIComponent(viaProxy.username), '-proxy_pass', 'env:ZT_PROXY_PASS');
        env.ZT_PROXY_PASS = decodeURIComponent(viaProxy.password);
      }
    }
    const body = init.body === undefined ? Buffer.alloc(0) : Buffer.from(init.body);
    const head =
      `${init.method} ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: close\r\n` +
      Object.entries({
        ...(init.headers ?? {}),
        ...(body.length ? { 'content-length': String(body.length) } : {}),
      })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('') +
      '\r\n';
    const {
      stdout,
      stderr: rawErr,
      code,
    } = await new Promise<{
      stdout: Buffer;
      stderr: string;
      code: number | null;
    }>((resolve, reject) => {
      const child = spawn('openssl', args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => (err += d));
      const timer = setTimeout(() => child.kill(), o.timeoutMs ?? 70_000);
      child.on('error', (e) =>
        reject(new NetworkError(`cannot run openssl for the PKCS#11 key: ${e.message}`)),
      );
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ stdout: Buffer.concat(out), stderr: err, code: c });
      });
      child.stdin.end(Buffer.concat([Buffer.from(head, 'latin1'), body]));
    });
    // openssl may echo the key URI, PIN included, in its errors.
    const stderr = maskPin(rawErr);
    if (stdout.length === 0 || !stdout.subarray(0, 5).equals(Buffer.from('HTTP/'))) {
      const shown = viaProxy ? maskProxy(o.proxy) : undefined;
      if (/CONNECT failed: 40[17]/.test(stderr)) {
        throw new ZtError(
          'UNAUTHENTICATED',
          `the proxy ${shown} refused authentication: the user name or password in https_proxy is wrong`,
        );
      }
      if (/verify error|certificate verify failed/i.test(stderr)) {
        throw new ZtError(
          'CHAIN_UNKNOWN_ISSUER',
          `the TLS certificate presented for ${host} is not trusted (${stderr.split('\n').find((l) => /verify error/.test(l)) ?? 'verification failed'})${shown ? `; if ${shown} inspects TLS, exempt ${host} from inspection or list it in no_proxy` : ''}`,
        );
      }
      if (/pkcs11|engine|private key/i.test(stderr) && !/connect:errno/i.test(stderr)) {
        throw new ZtError(
          'CONFIG_INVALID',
          `the PKCS#11 key ${maskPin(o.keyUri)} cannot be used: ${stderr.split('\n').find((l) => /error/i.test(l)) ?? stderr.trim()}`,
        );
      }
      throw new NetworkError(
        `cannot reach ${host}:${port}${shown ? ` through ${shown}` : ''} (openssl exit ${code}: ${stderr.split('\n').find((l) => /error|errno/i.test(l)) ?? stderr.trim().split('\n').pop()})`,
      );
    }
    return parseHttpResponse(stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
