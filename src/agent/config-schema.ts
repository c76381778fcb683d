/**
 * The schema of the agent's config.toml (the aziot super-config, for the parts the agent
 * implements): what each key takes, with the words an error uses (`x-message`: what a value must
 * be; `x-required`: what a missing one is). Tables the agent does not implement stay open: their
 * keys are kept in the file and reported.
 */
import Type, { type Static } from 'typebox';

const FILE_URI = 'must be a file URI like "file:///var/secrets/device-id.pem"';

const NonEmpty = Type.String({ minLength: 1, 'x-message': 'must be a non-empty string' });
const FileUri = Type.String({ pattern: '^(file://|/)', 'x-message': FILE_URI });
const KeyUri = Type.String({
  pattern: '^(file://|/|pkcs11:)',
  'x-message': 'must be a file URI (file:///path) or a PKCS#11 URI (pkcs11:...)',
  'x-required': 'a file URI or a pkcs11: URI',
});
const HttpUrl = Type.String({
  pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#]+',
  'x-message': 'must be an https:// URL, e.g. "https://dps.example.com"',
});
const Policy = Type.String({ 'x-message': 'must be a policy like "80%", "30min" or "2day"' });

const AutoRenewSchema = Type.Object(
  {
    rotate_key: Type.Optional(Type.Boolean()),
    threshold: Type.Optional(Policy),
    retry: Type.Optional(Policy),
  },
  { additionalProperties: false, 'x-message': 'must be a table with rotate_key, threshold, retry' },
);
export type AutoRenewTable = Static<typeof AutoRenewSchema>;

const EstIdentityCertSchema = Type.Object(
  {
    method: Type.Literal('est', { 'x-message': 'must be "est": only EST issues certificates here' }),
    common_name: Type.Optional(NonEmpty),
    subject: Type.Optional(Type.Object({ CN: Type.Optional(NonEmpty) })),
    url: Type.Optional(HttpUrl),
    auto_renew: Type.Optional(AutoRenewSchema),
  },
  { 'x-message': 'must be a table with method = "est"' },
);

const AttestationSchema = Type.Object(
  {
    method: Type.Literal('x509', {
      'x-message': 'only "x509" is supported; symmetric_key and tpm are not',
      'x-required': 'method = "x509"',
    }),
    registration_id: Type.Optional(NonEmpty),
    identity_cert: Type.Union([FileUri, EstIdentityCertSchema], {
      'x-message': `${FILE_URI}, or a table with method = "est"`,
      'x-required': 'a file URI, or a table with method = "est"',
    }),
    identity_pk: Type.Optional(KeyUri),
    auto_renew: Type.Optional(Type.Unknown({ description: 'aziot puts it under identity_cert' })),
  },
  { 'x-message': 'must be a table with method = "x509"', 'x-required': 'a table with method = "x509"' },
);

const ProvisioningSchema = Type.Object(
  {
    source: Type.Literal('dps', {
      'x-message': 'the agent provisions through DPS; set source = "dps"',
      'x-required': 'source = "dps"',
    }),
    global_endpoint: Type.Unsafe<string>({
      ...HttpUrl,
      'x-required': 'the DPS URL, e.g. "https://dps.example.com"',
    }),
    id_scope: Type.Unsafe<string>({ ...NonEmpty, 'x-required': 'the ID scope of the tenant' }),
    payload: Type.Optional(
      Type.Object({ uri: FileUri }, { 'x-message': 'must be { uri = "file:///path/to/payload.json" }' }),
    ),
    attestation: AttestationSchema,
  },
  {
    'x-message': 'must be a [provisioning] table',
    'x-required': 'a [provisioning] table with source = "dps"',
  },
);

const EstSchema = Type.Object({
  trusted_certs: Type.Optional(Type.Array(FileUri, { 'x-message': 'must be a list of file URIs' })),
  auth: Type.Optional(
    Type.Object({
      username: Type.Optional(NonEmpty),
      password: Type.Optional(NonEmpty),
      identity_cert: Type.Optional(FileUri),
      identity_pk: Type.Optional(KeyUri),
      bootstrap_identity_cert: Type.Optional(FileUri),
      bootstrap_identity_pk: Type.Optional(KeyUri),
    }),
  ),
  urls: Type.Optional(Type.Object({ default: Type.Optional(HttpUrl) })),
  identity_auto_renew: Type.Optional(AutoRenewSchema),
});
export type EstTable = Static<typeof EstSchema>;

/** The keys of config.toml the agent reads; other top-level tables belong to IoT Edge and are kept. */
export const AgentConfigFileSchema = Type.Object({
  hostname: Type.Optional(NonEmpty),
  https_proxy: Type.Optional(NonEmpty),
  no_proxy: Type.Optional(
    Type.Union([Type.String(), Type.Array(Type.String())], {
      'x-message': 'must be a comma-separated string or a list of host names',
    }),
  ),
  trust_bundle_cert: Type.Optional(FileUri),
  auto_reprovisioning_mode: Type.Optional(
    Type.Enum(['Dynamic', 'AlwaysOnStartup', 'OnErrorOnly'], {
      'x-message': 'must be Dynamic, AlwaysOnStartup or OnErrorOnly',
    }),
  ),
  cloud_timeout_sec: Type.Optional(
    Type.Integer({ minimum: 1, 'x-message': 'must be a whole number of seconds' }),
  ),
  provisioning: ProvisioningSchema,
  cert_issuance: Type.Optional(Type.Object({ est: Type.Optional(EstSchema) })),
  agent_state: Type.Optional(Type.Object({ dir: Type.Optional(NonEmpty) })),
  // The agent's own keys; [agent] belongs to IoT Edge (edgeAgent) and is kept.
  zerotouch: Type.Optional(
    Type.Object(
      {
        dps_transport: Type.Optional(
          Type.Enum(['https', 'mqtt', 'mqtt-ws'], { 'x-message': 'must be "https", "mqtt" or "mqtt-ws"' }),
        ),
        dps_mqtt_port: Type.Optional(
          Type.Integer({ minimum: 1, maximum: 65535, 'x-message': 'must be a port number from 1 to 65535' }),
        ),
      },
      { additionalProperties: false },
    ),
  ),
  aziot_keys: Type.Optional(Type.Object({ pkcs11_lib_path: Type.Optional(NonEmpty) })),
});
export type AgentConfigFile = Static<typeof AgentConfigFileSchema>;
