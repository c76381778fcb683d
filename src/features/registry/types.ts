/** Devices in the registries of linked hubs, as TypeBox schemas. */
import Type, { type Static } from 'typebox';
import { TwinCollectionSchema } from '../enrollments/types.ts';

/** A device in a hub's registry, created or updated by assignment. */
export const RegistryDeviceSchema = Type.Object({
  deviceId: Type.String(),
  hub: Type.String(),
  registrationId: Type.String(),
  status: Type.Enum(['enabled', 'disabled']),
  statusReason: Type.Optional(
    Type.String({ description: 'why a device is disabled: by the operator, or its certificate revoked' }),
  ),
  authentication: Type.Union([
    Type.Object({
      type: Type.Literal('selfSigned'),
      x509Thumbprint: Type.Object({
        primaryThumbprint: Type.String(),
        secondaryThumbprint: Type.Optional(Type.String()),
      }),
    }),
    Type.Object({ type: Type.Literal('certificateAuthority') }),
  ]),
  capabilities: Type.Object({ iotEdge: Type.Boolean() }),
  twin: Type.Object({
    tags: TwinCollectionSchema,
    properties: Type.Object({ desired: TwinCollectionSchema, reported: TwinCollectionSchema }),
  }),
  enrollment: Type.Object({ kind: Type.Enum(['individual', 'group']), id: Type.String() }),
  certificate: Type.Optional(
    Type.Object(
      { sha1Thumbprint: Type.String(), sha256Thumbprint: Type.String(), notAfterUtc: Type.String() },
      { description: 'the certificate the device last registered with' },
    ),
  ),
  twinVersions: Type.Optional(
    Type.Object(
      { desired: Type.Integer(), reported: Type.Integer() },
      { description: '$version of the desired and reported properties (builtin hubs)' },
    ),
  ),
  connectionState: Type.Optional(Type.Enum(['Connected', 'Disconnected'], { description: 'builtin hubs' })),
  lastActivityTime: Type.Optional(Type.String({ format: 'date-time' })),
  etag: Type.String(),
  createdDateTimeUtc: Type.String({ format: 'date-time' }),
  lastUpdatedDateTimeUtc: Type.String({ format: 'date-time' }),
});
export type RegistryDevice = Static<typeof RegistryDeviceSchema>;
