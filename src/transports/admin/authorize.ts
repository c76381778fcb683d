/** Who may do what on the admin API: bearer-token principals against tenants and admin-only routes. */
import type { FastifyRequest } from 'fastify';
import { ZtError } from '../../errors.ts';
import type { TenantService } from '../../features/tenants/service.ts';
import type { Principal, Tenant, TokenScope } from '../../features/tenants/types.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Checks that the caller may do `method` on an optional tenant; admin-only routes need the admin scope. */
export function authorize(
  p: Principal | undefined,
  method: string,
  opts: { tenantId?: string; adminOnly?: boolean } = {},
): Principal {
  if (!p) throw new ZtError('UNAUTHENTICATED', 'send "Authorization: Bearer <token>"');
  const has = (s: TokenScope) => p.scopes.includes(s);
  if (has('admin') && p.tenantId === null) return p;
  if (opts.adminOnly)
    throw new ZtError('FORBIDDEN', `token "${p.name}" lacks the admin scope this operation needs`);
  if (p.tenantId !== null && opts.tenantId !== undefined && opts.tenantId !== p.tenantId) {
    throw new ZtError('FORBIDDEN', `token "${p.name}" is limited to another tenant`);
  }
  const writing = method !== 'GET' && method !== 'HEAD';
  if (writing && !has('write') && !has('admin'))
    throw new ZtError('FORBIDDEN', `token "${p.name}" is read-only`);
  return p;
}

/** The tenant a /v1/tenants/:idScope/... request addresses, once the caller may act on it. */
export async function tenantFor(
  tenants: Pick<TenantService, 'getTenant'>,
  req: Pick<FastifyRequest, 'principal' | 'method'> & { params: { idScope: string } },
): Promise<Tenant> {
  const t = await tenants.getTenant(req.params.idScope);
  authorize(req.principal, req.method, { tenantId: t.id });
  return t;
}
