/** Tenants (ID scopes) and API tokens: create, list, delete; issue, authenticate and revoke tokens. */
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { ZtError } from '../../errors.ts';
import type { TenantStore } from './store.ts';
import type { ApiToken, NewTenant, NewToken, Principal, Tenant } from './types.ts';

const TOKEN = /^zt_([a-z0-9]{12})_([A-Za-z0-9_-]{43})$/;

/** A new DPS-style ID scope: "0ne" followed by eight hex digits. */
export function newIdScope(): string {
  return '0ne' + randomBytes(4).toString('hex').toUpperCase();
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Tenants and tokens over a TenantStore. */
export class TenantService {
  private readonly store: TenantStore;
  private readonly now: () => Date;

  constructor(store: TenantStore, now: () => Date = () => new Date()) {
    this.store = store;
    this.now = now;
  }

  /** Creates a tenant; the ID scope is generated unless given. */
  async createTenant(input: NewTenant): Promise<Tenant> {
    const tenant: Tenant = {
      id: randomUUID(),
      idScope: input.idScope ?? newIdScope(),
      name: input.name.trim(),
      createdAt: this.now().toISOString(),
    };
    await this.store.insertTenant(tenant);
    return tenant;
  }

  listTenants(): Promise<Tenant[]> {
    return this.store.listTenants();
  }

  /** The tenant with this id or ID scope, or NOT_FOUND naming what exists. */
  async getTenant(idOrScope: string): Promise<Tenant> {
    const t = await this.store.findTenant(idOrScope);
    if (!t)
      throw new ZtError(
        'NOT_FOUND',
        `no tenant with ID scope or id "${idOrScope}"; list them with "zerotouch tenant list"`,
      );
    return t;
  }

  async deleteTenant(idOrScope: string): Promise<void> {
    const t = await this.getTenant(idOrScope);
    await this.store.deleteTenant(t.id);
  }

  /** Creates a token and returns it with its secret, which is shown only this once. */
  async createToken(input: NewToken): Promise<{ token: ApiToken; secret: string }> {
    const scopes = input.scopes ?? ['admin'];
    const tenantId = input.tenant ? (await this.getTenant(input.tenant)).id : null;
    const id = randomBytes(9)
      .toString('base64url')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '0')
      .slice(0, 12);
    const secretPart = randomBytes(32).toString('base64url');
    const token: ApiToken = {
      id,
      tenantId,
      name: input.name || 'token',
      scopes,
      createdAt: this.now().toISOString(),
      expiresAt: input.expiresAt ? new Date(input.expiresAt).toISOString() : null,
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.store.insertToken(token, hashSecret(secretPart));
    return { token, secret: `zt_${id}_${secretPart}` };
  }

  /** The principal for a bearer token, or UNAUTHENTICATED saying why. */
  async authenticate(bearer: string): Promise<Principal> {
    const m = TOKEN.exec(bearer.trim());
    const reject = (why: string) =>
      new ZtError('UNAUTHENTICATED', `${why}; send "Authorization: Bearer <token>" with a valid token`);
    if (!m) throw reject('the token is not a zerotouch token (they look like zt_<id>_<secret>)');
    const found = await this.store.findToken(m[1]);
    const expected = Buffer.from(found?.secretHash ?? '0'.repeat(64), 'hex');
    const actual = Buffer.from(hashSecret(m[2]), 'hex');
    if (!found || !timingSafeEqual(expected, actual)) throw reject('the token is not known');
    const { token } = found;
    const now = this.now();
    if (token.revokedAt) throw reject(`token ${token.id} was revoked at ${token.revokedAt}`);
    if (token.expiresAt && Date.parse(token.expiresAt) < now.getTime())
      throw reject(`token ${token.id} expired at ${token.expiresAt}`);
    // Record use at most once a minute to keep authentication a read.
    if (!token.lastUsedAt || now.getTime() - Date.parse(token.lastUsedAt) > 60_000) {
      await this.store.touchToken(token.id, now.toISOString());
    }
    return { tokenId: token.id, name: token.name, tenantId: token.tenantId, scopes: token.scopes };
  }

  listTokens(): Promise<ApiToken[]> {
    return this.store.listTokens();
  }

  /** Number of tokens ever created (the server creates the first admin token when there are none). */
  countTokens(): Promise<number> {
    return this.store.countTokens();
  }

  async revokeToken(id: string): Promise<void> {
    if (!(await this.store.revokeToken(id, this.now().toISOString()))) {
      const t = await this.store.findToken(id);
      throw new ZtError(
        t ? 'CONFLICT' : 'NOT_FOUND',
        t ? `token ${id} is already revoked` : `no token with id ${id}`,
      );
    }
  }
}
