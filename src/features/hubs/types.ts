/** IoT hubs linked to a tenant: where allocation policies may put devices. */
import Type, { type Static } from 'typebox';

/** A DNS host name, e.g. hub-1.example.com. */
export const HOST_NAME_PATTERN =
  '^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';

/**
 * What a hub is: `builtin`, this server's MQTT gateway speaking the IoT Hub device protocol
 * (devices connect to it with the assigned host name); `record`, an assignment that is only
 * recorded (another system serves the hub).
 */
export const HubKindSchema = Type.Enum(['record', 'builtin'], { description: 'record (default) or builtin' });
export type HubKind = Static<typeof HubKindSchema>;

export const LinkedHubSchema = Type.Object({
  hostName: Type.String(),
  kind: HubKindSchema,
  region: Type.String({ description: 'region used by the geoLatency policy' }),
  allocationWeight: Type.Integer({ description: 'relative share of devices under the hashed policy' }),
  applyAllocationPolicy: Type.Boolean({
    description: 'whether policies choose this hub when an enrollment does not list hubs',
  }),
});
export type LinkedHub = Static<typeof LinkedHubSchema>;

export const HubSettingsSchema = Type.Object(
  {
    region: Type.Optional(Type.String({ maxLength: 64 })),
    allocationWeight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 1' })),
    applyAllocationPolicy: Type.Optional(Type.Boolean({ description: 'default true' })),
    kind: Type.Optional(HubKindSchema),
  },
  { additionalProperties: false },
);
export type HubSettings = Static<typeof HubSettingsSchema>;
