/** JSON schemas of the admin API's shared objects; they drive validation, serialisation and OpenAPI. */

export const errorSchema = {
  $id: 'error',
  type: 'object',
  description:
    'Every error: a catalogued code, a message that says what to do next, and the request id for the log.',
  required: ['code', 'message', 'requestId'],
  properties: {
    code: { type: 'string' },
    message: { type: 'string' },
    requestId: { type: 'string' },
    detail: { type: 'object', additionalProperties: true },
  },
} as const;

export const tenantSchema = {
  $id: 'tenant',
  type: 'object',
  description: 'A tenant, addressed by devices through its DPS ID scope.',
  required: ['id', 'idScope', 'name', 'createdAt'],
  properties: {
    id: { type: 'string' },
    idScope: { type: 'string', description: 'DPS ID scope, e.g. 0ne00A1B2C3' },
    name: { type: 'string' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const tokenSchema = {
  $id: 'token',
  type: 'object',
  required: ['id', 'name', 'scopes', 'createdAt'],
  properties: {
    id: { type: 'string' },
    tenantId: { type: ['string', 'null'] },
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string', enum: ['admin', 'read', 'write'] } },
    createdAt: { type: 'string', format: 'date-time' },
    expiresAt: { type: ['string', 'null'] },
    lastUsedAt: { type: ['string', 'null'] },
    revokedAt: { type: ['string', 'null'] },
  },
} as const;
