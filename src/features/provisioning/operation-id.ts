/**
 * DPS operation IDs that any server on the store can check without shared memory:
 * `5.<16 hex MAC>.<UUIDv7>`. The UUIDv7 carries the creation time; the MAC (HMAC-SHA256 under a
 * secret every node reads from the store, cut to 64 bits) binds the ID to its tenant, registration
 * ID and the registering certificate. A poll that reaches another node than the registration can
 * so be told "assigning" until the record is written, and nobody can make up a fresh operation.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const FORM = /^5\.([0-9a-f]{16})\.([0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})$/;

function uuidV7(now: number): string {
  const b = randomBytes(16);
  b.writeUIntBE(now, 0, 6);
  b[6] = 0x70 | (b[6]! & 0x0f);
  b[8] = 0x80 | (b[8]! & 0x3f);
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function mac(key: Buffer, binding: string, uuid: string): Buffer {
  return createHmac('sha256', key).update(`${binding}\n${uuid}`).digest().subarray(0, 8);
}

/** A new operation ID bound to `binding` (tenant, registration ID key and certificate). */
export function newOperationId(key: Buffer, binding: string, now = Date.now()): string {
  const uuid = uuidV7(now);
  return `5.${mac(key, binding, uuid).toString('hex')}.${uuid}`;
}

/** When `operationId` was made (ms since the epoch), if it is one of ours for `binding`; else undefined. */
export function operationCreatedAt(key: Buffer, operationId: string, binding: string): number | undefined {
  const m = FORM.exec(operationId);
  if (!m) return undefined;
  if (!timingSafeEqual(Buffer.from(m[1]!, 'hex'), mac(key, binding, m[2]!))) return undefined;
  return Buffer.from(m[2]!.replaceAll('-', '').slice(0, 12), 'hex').readUIntBE(0, 6);
}
