/** Test helper: calls the admin API of a test server with its bootstrap token. */
import type { TestServer } from './server.ts';

export interface ApiResult<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** Returns `api(method, path, body?, headers?)` bound to the server's admin URL and token. */
export function adminClient(server: Pick<TestServer, 'adminUrl' | 'adminToken'>) {
  return async function api<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResult<T>> {
    const res = await fetch(server.adminUrl + path, {
      method,
      headers: {
        authorization: `Bearer ${server.adminToken}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as T) : (undefined as T),
      headers: res.headers,
    };
  };
}
