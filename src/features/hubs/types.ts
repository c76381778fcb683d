/** IoT hubs linked to a tenant: where allocation policies may put devices. */
import Type, { type Static } from 'typebox';
import { hmacSecretSchema } from '../masked-secret.ts';

/** A DNS host name, e.g. hub-1.example.com. */
export const HOST_NAME_PATTERN =
  '^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$';

/**
 * What a hub is: `builtin`, this server's MQTT gateway speaking the IoT Hub device protocol
 * (devices connect to it with the assigned host name); `mosquitto`, an external Mosquitto 2
 * broker whose clients and roles zerotouch keeps in step through its dynamic-security plugin;
 * `webhook`, any other system, told of each device change through a signed webhook; `record`, an
 * assignment that is only recorded.
 */
export const HubKindSchema = Type.Enum(['record', 'builtin', 'mosquitto', 'webhook'], {
  description: 'record (default), builtin, mosquitto or webhook',
});
export type HubKind = Static<typeof HubKindSchema>;

/** How zerotouch reaches a Mosquitto broker's dynamic-security plugin. */
export const MosquittoHubSchema = Type.Object(
  {
    url: Type.String({
      pattern: '^mqtts?://',
      maxLength: 512,
      description: 'the broker listener zerotouch administers through, e.g. mqtts://broker:8883',
    }),
    username: Type.String({
      minLength: 1,
      maxLength: 256,
      description: 'a dynsec client allowed $CONTROL/dynamic-security/#',
    }),
    password: Type.String({ maxLength: 256, description: 'write-only: answers show ********' }),
    caCertificate: Type.Optional(
      Type.String({ maxLength: 65536, description: 'PEM CA certificates that sign the broker (mqtts)' }),
    ),
  },
  { additionalProperties: false },
);
export type MosquittoHub = Static<typeof MosquittoHubSchema>;

/** Where a webhook hub is told of device changes. */
export const WebhookHubSchema = Type.Object(
  {
    url: Type.String({ pattern: '^https?://', maxLength: 2048 }),
    secret: Type.Optional(hmacSecretSchema('HMAC-SHA256 key')),
  },
  { additionalProperties: false },
);
export type WebhookHub = Static<typeof WebhookHubSchema>;

/** One entry of a device's MQTT access list on an external broker (Mosquitto dynsec ACL types). */
export const MqttAclEntrySchema = Type.Object(
  {
    acltype: Type.Enum([
      'publishClientSend',
      'publishClientReceive',
      'subscribeLiteral',
      'subscribePattern',
      'unsubscribeLiteral',
      'unsubscribePattern',
    ]),
    topic: Type.String({
      minLength: 1,
      maxLength: 512,
      description: "{deviceId} and {registrationId} are replaced with the device's own",
    }),
    allow: Type.Boolean(),
    priority: Type.Optional(Type.Integer({ minimum: -1000, maximum: 1000 })),
  },
  { additionalProperties: false },
);
export type MqttAclEntry = Static<typeof MqttAclEntrySchema>;
export const MqttAclSchema = Type.Array(MqttAclEntrySchema, {
  maxItems: 100,
  description:
    'what a device of this enrollment may do on a mosquitto hub; default: publish, subscribe and receive under devices/{deviceId}/',
});

export const LinkedHubSchema = Type.Object({
  hostName: Type.String(),
  kind: HubKindSchema,
  region: Type.String({ description: 'region used by the geoLatency policy' }),
  allocationWeight: Type.Integer({ description: 'relative share of devices under the hashed policy' }),
  applyAllocationPolicy: Type.Boolean({
    description: 'whether policies choose this hub when an enrollment does not list hubs',
  }),
  mosquitto: Type.Optional(MosquittoHubSchema),
  webhook: Type.Optional(WebhookHubSchema),
});
export type LinkedHub = Static<typeof LinkedHubSchema>;

export const HubSettingsSchema = Type.Object(
  {
    region: Type.Optional(Type.String({ maxLength: 64 })),
    allocationWeight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, description: 'default 1' })),
    applyAllocationPolicy: Type.Optional(Type.Boolean({ description: 'default true' })),
    kind: Type.Optional(HubKindSchema),
    mosquitto: Type.Optional(MosquittoHubSchema),
    webhook: Type.Optional(WebhookHubSchema),
  },
  { additionalProperties: false },
);
export type HubSettings = Static<typeof HubSettingsSchema>;

/** What a reconciliation of a mosquitto hub found and did (or would do, on a dry run). */
export const ReconcileReportSchema = Type.Object(
  {
    hub: Type.String(),
    dryRun: Type.Boolean(),
    created: Type.Array(Type.String(), { description: 'user names of clients created' }),
    updated: Type.Array(Type.String(), { description: 'clients whose role or ACL was corrected' }),
    removed: Type.Array(Type.String(), { description: 'clients removed: their devices no longer belong' }),
    unchanged: Type.Integer(),
    conflicts: Type.Array(Type.String(), {
      description: 'user names a device needs that belong to a client zerotouch did not make (left alone)',
    }),
  },
  { description: 'Drift between a mosquitto broker and the registry.' },
);
export type ReconcileReport = Static<typeof ReconcileReportSchema>;
