/**
 * AWS access keys of a scope, for the AWS IoT control-plane face: an access key id (AKIA...), a
 * 40-character secret shown once, and read or write rights. SigV4 needs the secret itself on the
 * server (it is an HMAC key), so it is stored encrypted with AES-256-GCM under a key derived
 * from the server's key passphrase (issuance.key_passphrase_file), never in the clear.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomInt, scryptSync } from 'node:crypto';
import type { Kysely } from 'kysely';
import Type, { type Static } from 'typebox';
import { ZtError } from '../../errors.ts';
import type { Database } from '../../store/schema.ts';

export const AwsKeyRightsSchema = Type.Enum(['read', 'write'], {
  description: 'read: Describe/List/Get calls; write: everything',
});

export const AwsKeySchema = Type.Object(
  {
    accessKeyId: Type.String(),
    name: Type.String(),
    rights: AwsKeyRightsSchema,
    createdAt: Type.String({ format: 'date-time' }),
    lastUsedAt: Type.Optional(Type.String({ format: 'date-time' })),
  },
  { description: 'An AWS access key of a scope (its secret is shown only when it is created).' },
);
export type AwsKey = Static<typeof AwsKeySchema>;

export const NewAwsKeySchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    rights: Type.Optional(AwsKeyRightsSchema),
  },
  { additionalProperties: false },
);

export const CreatedAwsKeySchema = Type.Object({
  key: AwsKeySchema,
  secretAccessKey: Type.String({ description: 'shown only now' }),
});

/** What a verified request may use: the key's scope, rights and secret. */
export interface AwsKeyGrant {
  accessKeyId: string;
  tenantId: string;
  name: string;
  rights: 'read' | 'write';
  secret: string;
}

const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const SECRET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

function randomString(chars: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += chars[randomInt(chars.length)];
  return s;
}

/** Creates, lists, deletes and looks up AWS access keys. */
export class AwsKeyService {
  private readonly db: Kysely<Database>;
  private readonly key: Buffer;
  /** Decrypted grants by key id, for a few seconds: every request is verified with one. */
  private readonly cache = new Map<string, { at: number; grant: AwsKeyGrant | undefined }>();

  constructor(db: Kysely<Database>, passphrase: string) {
    this.db = db;
    this.key = scryptSync(passphrase, 'zerotouch aws access keys', 32);
  }

  private encrypt(secret: string): string {
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
    return [iv, c.getAuthTag(), ct].map((b) => b.toString('base64')).join('.');
  }

  private decrypt(blob: string): string {
    const [iv, tag, ct] = blob.split('.').map((p) => Buffer.from(p, 'base64'));
    const d = createDecipheriv('aes-256-gcm', this.key, iv!);
    d.setAuthTag(tag!);
    return Buffer.concat([d.update(ct!), d.final()]).toString('utf8');
  }

  /** A new key of the scope; the secret is in the answer and nowhere else in the clear. */
  async create(
    tenantId: string,
    name: string,
    rights: 'read' | 'write' = 'write',
  ): Promise<{ key: AwsKey; secretAccessKey: string }> {
    const accessKeyId = `AKIA${randomString(ALNUM, 16)}`;
    const secretAccessKey = randomString(SECRET_CHARS, 40);
    const createdAt = new Date().toISOString();
    await this.db
      .insertInto('aws_access_keys')
      .values({
        id: accessKeyId,
        tenant_id: tenantId,
        name,
        rights,
        secret_enc: this.encrypt(secretAccessKey),
        created_at: createdAt,
        last_used_at: null,
      })
      .execute();
    return { key: { accessKeyId, name, rights, createdAt }, secretAccessKey };
  }

  async list(tenantId: string): Promise<AwsKey[]> {
    const rows = await this.db
      .selectFrom('aws_access_keys')
      .select(['id', 'name', 'rights', 'created_at', 'last_used_at'])
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at')
      .execute();
    return rows.map((r) => ({
      accessKeyId: r.id,
      name: r.name,
      rights: r.rights as 'read' | 'write',
      createdAt: r.created_at,
      ...(r.last_used_at ? { lastUsedAt: r.last_used_at } : {}),
    }));
  }

  async delete(tenantId: string, accessKeyId: string): Promise<void> {
    const r = await this.db
      .deleteFrom('aws_access_keys')
      .where('tenant_id', '=', tenantId)
      .where('id', '=', accessKeyId)
      .executeTakeFirst();
    this.cache.delete(accessKeyId);
    if (Number(r.numDeletedRows) === 0)
      throw new ZtError('NOT_FOUND', `no AWS access key ${accessKeyId} in this scope`);
  }

  /** The grant of a key id, or undefined when there is no such key. */
  async lookup(accessKeyId: string): Promise<AwsKeyGrant | undefined> {
    const hit = this.cache.get(accessKeyId);
    if (hit && Date.now() - hit.at < 5000) return hit.grant;
    const r = /^AKIA[A-Z2-7]{16}$/.test(accessKeyId)
      ? await this.db
          .selectFrom('aws_access_keys')
          .selectAll()
          .where('id', '=', accessKeyId)
          .executeTakeFirst()
      : undefined;
    const grant = r
      ? {
          accessKeyId,
          tenantId: r.tenant_id,
          name: r.name,
          rights: r.rights as 'read' | 'write',
          secret: this.decrypt(r.secret_enc),
        }
      : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(accessKeyId, { at: Date.now(), grant });
    if (r && (!r.last_used_at || Date.now() - Date.parse(r.last_used_at) > 60_000)) {
      // Last use is kept to the minute: one write per key a minute, not one per request.
      await this.db
        .updateTable('aws_access_keys')
        .set({ last_used_at: new Date().toISOString() })
        .where('id', '=', accessKeyId)
        .execute();
    }
    return grant;
  }
}
