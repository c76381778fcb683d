/**
 * The agent's HTTPS (and raw TLS) client: direct or through an HTTP proxy's CONNECT tunnel (with Basic
 * credentials from the proxy URL, honouring no_proxy), with the device's client certificate
 * used end to end inside the tunnel. Failures say whose fault they are: the proxy refused
 * authentication, the proxy refused the tunnel, a TLS-inspecting proxy replaced the server
 * certificate, the server refused the client certificate, or the network.
 */
import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type TLSSocket } from 'node:tls';
import { ZtError } from '../errors.ts';
import { loadCertificates } from '../pki/certificate.ts';
import { maskProxy } from './config.ts';
import { bypassesProxy, type HttpAnswer, type HttpOptions, NetworkError, trustStore } from './network.ts';
import { opensslHttpsRequest } from './openssl-tls.ts';

function readProxyAnswer(socket: Socket): Promise<{ status: number; head: string; rest: Buffer }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      const head = buf.subarray(0, end).toString('latin1');
      resolve({
        status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0),
        head,
        rest: buf.subarray(end + 4),
      });
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('end', () => reject(new NetworkError('the proxy closed the connection during CONNECT')));
  });
}

/** Opens a CONNECT tunnel to host:port through the proxy. */
async function tunnel(proxy: string, host: string, port: number, timeoutMs: number): Promise<Socket> {
  const p = new URL(proxy);
  const shown = maskProxy(proxy);
  const socket = netConnect({ host: p.hostname, port: Number(p.port || 80) });
  socket.setTimeout(timeoutMs, () =>
    socket.destroy(new NetworkError(`the proxy ${shown} did not answer in time`)),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', (e: NodeJS.ErrnoException) =>
      reject(new NetworkError(`cannot reach the proxy ${shown}: ${e.code ?? e.message}`)),
    );
  });
  const auth = p.username
    ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64')}\r\n`
    : '';
  socket.write(`CONNECT ${host}:${port} HTTP/1.1\r\nHost: ${host}:${port}\r\n${auth}\r\n`);
  const answer = await readProxyAnswer(socket);
  // 407 is the standard answer; some proxies (tinyproxy) answer a CONNECT with 401 instead.
  if (answer.status === 407 || answer.status === 401) {
    socket.destroy();
    throw new ZtError(
      'UNAUTHENTICATED',
      p.username
        ? `the proxy ${shown} refused authentication (HTTP ${answer.status}): the user name or password in https_proxy is wrong`
        : `the proxy ${shown} requires authentication (HTTP ${answer.status}): put the credentials in https_proxy as http://user:password@host:port`,
    );
  }
  if (answer.status !== 200) {
    socket.destroy();
    throw new NetworkError(
      `the proxy ${shown} refused the tunnel to ${host}:${port} (${answer.head.split('\r\n')[0]})`,
    );
  }
  socket.setTimeout(0);
  return socket;
}

/**
 * Opens a verified TLS connection to host:port with the client certificate, through the proxy's
 * CONNECT tunnel when one applies; for HTTPS, MQTT, anything over TLS.
 */
export async function openTls(
  host: string,
  port: number,
  o: HttpOptions,
  alpn: string[] = ['http/1.1'],
): Promise<TLSSocket> {
  const timeoutMs = o.timeoutMs ?? 70_000;
  const viaProxy = o.proxy && !bypassesProxy(host, o.noProxy) ? o.proxy : undefined;
  const raw = viaProxy ? await tunnel(viaProxy, host, port, timeoutMs) : undefined;
  const socket = tlsConnect({
    ...(raw ? { socket: raw } : { host, port }),
    servername: host.match(/^[\d.]+$|:/) ? undefined : host,
    ca: [...trustStore(), ...(o.trusted ?? [])],
    cert: o.cert,
    key: o.key,
    // Judged below, so that a replaced certificate can be explained.
    rejectUnauthorized: false,
    ...(alpn.length ? { ALPNProtocols: alpn } : {}),
  });
  socket.setTimeout(timeoutMs, () =>
    socket.destroy(new NetworkError(`${host}:${port} did not answer in time`)),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('secureConnect', resolve);
    socket.once('error', (e: NodeJS.ErrnoException) => {
      const refusedCert = /alert (certificate|bad certificate|unknown ca|handshake failure)/i.test(e.message);
      reject(
        refusedCert
          ? new ZtError(
              'UNAUTHENTICATED',
              `${host} refused the TLS handshake (${e.message}); it does not accept this client certificate`,
            )
          : e instanceof ZtError
            ? e
            : new NetworkError(
                `cannot reach ${host}:${port}${viaProxy ? ` through ${maskProxy(viaProxy)}` : ''}: ${e.code ?? e.message}`,
              ),
      );
    });
  });
  const peer = socket.getPeerCertificate();
  const identity = peer?.subject ? checkServerIdentity(host, peer) : undefined;
  if (!socket.authorized || identity) {
    const issuer = String(peer?.issuer?.CN ?? peer?.issuer?.O ?? 'an unknown issuer');
    socket.destroy();
    throw untrusted(
      host,
      issuer,
      String(socket.authorizationError ?? identity?.message),
      viaProxy,
      o.trusted ?? [],
    );
  }
  socket.setTimeout(0);
  return socket;
}

/**
 * Why a server certificate is not accepted. It is "a proxy may be inspecting TLS" only when it
 * can be: the connection goes through a proxy and the certificate's issuer is none of the CAs
 * configured for the server (trust_bundle_cert, trusted_certs); otherwise the server itself is
 * not trusted, and the answer is to trust its root.
 */
function untrusted(
  host: string,
  issuer: string,
  reason: string,
  viaProxy: string | undefined,
  trusted: string[],
): ZtError {
  const configured = trusted.flatMap((pem) => {
    try {
      return loadCertificates(pem).map((c) => c.commonName ?? '');
    } catch {
      return [];
    }
  });
  const head = `the TLS certificate presented for ${host} (issued by "${issuer}") is not trusted: ${reason}.`;
  if (viaProxy && configured.length > 0 && !configured.includes(issuer))
    return new ZtError(
      'CHAIN_UNKNOWN_ISSUER',
      `${head} The CA configured for it (${configured.filter(Boolean).join(', ')}) did not issue it, and the connection goes through ${maskProxy(viaProxy)}: a proxy may be inspecting TLS, and mutual TLS with the device certificate cannot pass it. Exempt ${host} from inspection, or list it in no_proxy.`,
    );
  return new ZtError(
    'CHAIN_UNKNOWN_ISSUER',
    `${head} The server is not trusted: add its root CA to trust_bundle_cert (or trusted_certs, the OS store, NODE_EXTRA_CA_CERTS), or check the URL.`,
  );
}

/** One HTTPS request; resolves with the status, headers and body whatever the status. */
export async function httpsRequest(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: string | Buffer },
  o: HttpOptions = {},
): Promise<HttpAnswer> {
  const u = new URL(url);
  if (u.protocol !== 'https:') throw new ZtError('CONFIG_INVALID', `${url}: only https:// is supported`);
  if (o.keyUri && o.cert) return opensslHttpsRequest(url, init, { ...o, keyUri: o.keyUri, cert: o.cert });
  const socket = await openTls(u.hostname, Number(u.port || 443), o);
  return new Promise((resolve, reject) => {
    const body =
      init.body === undefined ? undefined : Buffer.isBuffer(init.body) ? init.body : Buffer.from(init.body);
    const req = httpRequest(
      {
        method: init.method,
        host: u.hostname,
        port: u.port || 443,
        path: u.pathname + u.search,
        headers: {
          host: u.host,
          ...(init.headers ?? {}),
          ...(body ? { 'content-length': String(body.length) } : {}),
        },
        createConnection: () => socket,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(o.timeoutMs ?? 70_000, () =>
      req.destroy(new NetworkError(`${u.host} did not answer in time`)),
    );
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(e instanceof ZtError ? e : new NetworkError(`${u.host}: ${e.code ?? e.message}`)),
    );
    req.end(body);
  });
}
