// The admin API as the console calls it: the bearer token of this browser tab's session, JSON in
// and out, errors as the API states them (code, message, request id).

const KEY = 'zerotouch.token';

/** The token the operator signed in with; kept for this tab's session only. */
export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set(token) {
    sessionStorage.setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** An error answer of the admin API. */
export class ApiError extends Error {
  constructor(status, body) {
    const b = body && typeof body === 'object' ? body : { message: String(body || `HTTP ${status}`) };
    super(b.message || `HTTP ${status}`);
    this.status = status;
    this.code = b.code || `HTTP_${status}`;
    this.requestId = b.requestId;
    this.detail = b.detail;
  }
}

/** Calls the admin API; resolves with the parsed answer (null for 204) and the etag header. */
export async function call(method, path, body, { ifMatch, text } = {}) {
  const headers = { authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (ifMatch) headers['if-match'] = ifMatch;
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const raw = res.status === 204 ? '' : await res.text();
  const json = (res.headers.get('content-type') || '').includes('json');
  const data = raw && json && !text ? JSON.parse(raw) : raw || null;
  if (res.status === 401) window.dispatchEvent(new CustomEvent('zt-signed-out'));
  if (!res.ok) throw new ApiError(res.status, data);
  return { data, etag: res.headers.get('etag') };
}

/** GET that resolves with the answer only. */
export const get = async (path) => (await call('GET', path)).data;

/** Follows continuation tokens of a paged list ({items, continuation}) up to `limit` items. */
export async function listAll(path, limit = 1000) {
  const items = [];
  let continuation;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(
      `${path}${sep}max=${Math.min(1000, limit - items.length)}${continuation ? `&continuation=${encodeURIComponent(continuation)}` : ''}`,
    );
    items.push(...page.items);
    continuation = page.continuation;
  } while (continuation && items.length < limit);
  return { items, more: Boolean(continuation) };
}

/** The path of a scope's resource. */
export const scoped = (scope, path) => `/v1/tenants/${encodeURIComponent(scope)}${path}`;

/** A path segment, escaped. */
export const seg = (s) => encodeURIComponent(s);

/** Query string of the set values. */
export function query(o) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== '' && v !== null) q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}
