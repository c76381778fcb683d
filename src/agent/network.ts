/** What the agent's HTTPS clients share: request options, answers, network failures and no_proxy. */
import type { IncomingMessage } from 'node:http';
import { getCACertificates } from 'node:tls';
import { ZtError } from '../errors.ts';

export interface HttpOptions {
  proxy?: string;
  noProxy?: string[];
  /** Extra trusted roots (PEM), added to the system roots. */
  trusted?: string[];
  /** Client certificate chain (PEM, leaf first) and key (PEM). */
  cert?: string;
  key?: string;
  /** Client key in a PKCS#11 token instead of `key` (the request then goes through openssl). */
  keyUri?: string;
  timeoutMs?: number;
}

export interface HttpAnswer {
  status: number;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** Network-level failure, worth retrying later (as opposed to a refusal). */
export class NetworkError extends ZtError {
  constructor(message: string) {
    super('SERVER_UNREACHABLE', message);
  }
}

/** True when `host` matches a no_proxy entry (exact, domain suffix, ".suffix" or "*"). */
export function bypassesProxy(host: string, noProxy: string[] = []): boolean {
  const h = host.toLowerCase();
  return noProxy.some((e) => {
    if (e === '*') return true;
    const d = e.replace(/^\*?\./, '').replace(/:\d+$/, '');
    return h === d || h.endsWith(`.${d}`);
  });
}

let store: string[] | undefined;

/** The CAs the agent trusts besides its config's: Node's bundle, the OS store and NODE_EXTRA_CA_CERTS, as aziot trusts the system store. */
export function trustStore(): string[] {
  store ??= [
    ...new Set([
      ...getCACertificates('bundled'),
      ...getCACertificates('system'),
      ...getCACertificates('extra'),
    ]),
  ];
  return store;
}
