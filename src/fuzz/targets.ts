/**
 * The parsers of outside input, as fuzz targets. Each takes raw bytes and either returns or
 * throws a catalogued ZtError; anything else (a TypeError, a RangeError, a hang) is a bug. The
 * regression corpus, the property tests and `npm run fuzz` all drive these.
 */
import { isZtError, ZtError } from '../errors.ts';
import { parseAgentConfig } from '../agent/config.ts';
import { applyToml, defaultConfig } from '../config/config.ts';
import { parseTomlText } from '../config/toml.ts';
import { parseSas } from '../features/access-policies/service.ts';
import { readRegisterBody } from '../features/provisioning/register-body.ts';
import { evaluateTemplate } from '../features/templates/evaluate.ts';
import { parseTemplate } from '../features/templates/template.ts';
import { parsePolicyDocument } from '../features/iot/policy-document.ts';
import { compilePolicies } from '../features/iot/policy-engine.ts';
import { type Certificate, parseCertificate } from '../pki/certificate.ts';
import { validateChain } from '../pki/chain.ts';
import { parseCsr, verifyCsr } from '../pki/csr.ts';
import * as der from '../pki/der.ts';
import { OID } from '../pki/oids.ts';
import { decodeInput, parsePem } from '../pki/pem.ts';
import { decodeCertsOnly } from '../pki/pkcs7.ts';
import { AwsError, parseAuthorization, parseQuery } from '../transports/aws-iot/sigv4.ts';
import { parseDpsUsername } from '../transports/mqtt/dps-mqtt.ts';
import { parseHubUsername } from '../transports/mqtt/hub-hooks.ts';
import { depthOf, mergeTwinPatch } from '../features/hubs/builtin.ts';

export interface FuzzTarget {
  name: string;
  /** What the input is, for people reading the corpus. */
  about: string;
  run(input: Buffer): unknown;
}

/** Walks every nested TLV, as a generic DER consumer would. */
function walk(node: der.Node, depth: number): number {
  if (!node.constructed) return 1;
  if (depth > 64) der.malformed('der-too-deep', 'values are nested too deeply');
  let n = 1;
  for (const c of der.children(node)) n += walk(c, depth + 1);
  return n;
}

/** The time certificates are validated at: fixed, so the committed corpus means the same forever. */
export const FUZZ_TIME = new Date('2027-06-01T00:00:00Z');

/** Anchors the certificate target validates against, so chain code runs too (set by callers). */
let anchors: Certificate[] = [];
export function setCertificateAnchors(a: Certificate[]): void {
  anchors = a;
}

const text = (b: Buffer) => b.toString('latin1');
const MAX_BODY = defaultConfig().device.maxBodyBytes;

export const TARGETS: FuzzTarget[] = [
  { name: 'der', about: 'any DER value', run: (b) => walk(der.read(b), 0) },
  { name: 'pem', about: 'PEM text with any blocks', run: (b) => parsePem(text(b)) },
  {
    name: 'input',
    about: 'a certificate as a user pastes it: PEM, base64 or DER',
    run: (b) => decodeInput(b, ['CERTIFICATE'], 'a certificate'),
  },
  {
    name: 'certificate',
    about: 'an X.509 certificate (DER), parsed and validated for TLS client use',
    run: (b) => {
      const cert = parseCertificate(b);
      if (anchors.length) validateChain(cert, [], anchors, { at: FUZZ_TIME, requiredEku: OID.clientAuth });
      return cert;
    },
  },
  {
    name: 'csr',
    about: 'a PKCS#10 certificate signing request (PEM, base64 or DER), parsed and its signature checked',
    run: (b) => {
      const csr = parseCsr(b);
      verifyCsr(csr);
      return csr;
    },
  },
  {
    name: 'pkcs7',
    about: 'a certs-only PKCS#7 bundle (EST answers), with its certificates parsed',
    run: (b) => decodeCertsOnly(b).map((c) => parseCertificate(c)),
  },
  {
    name: 'dps-register-json',
    about: 'a DPS register request body as JSON, as the MQTT and HTTPS transports read it',
    run: (b) => {
      // Both transports refuse a body over device.max_body_bytes before JSON reads it.
      if (b.length > MAX_BODY) throw new ZtError('BODY_TOO_LARGE', `body over ${MAX_BODY} bytes`);
      let body: unknown;
      try {
        body = JSON.parse(b.toString('utf8'));
      } catch {
        return undefined; // the transports answer invalid JSON themselves
      }
      return readRegisterBody(body, 'dev-01', '2025-07-01-preview');
    },
  },
  {
    name: 'mqtt-username',
    about: 'a DPS-over-MQTT user name',
    run: (b) => parseDpsUsername(b.toString('utf8')),
  },
  { name: 'sas', about: 'a SharedAccessSignature header', run: (b) => parseSas(b.toString('utf8')) },
  {
    name: 'server-toml',
    about: 'the server configuration file',
    run: (b) => applyToml(defaultConfig(), b.toString('utf8'), 'fuzz.toml'),
  },
  {
    name: 'agent-toml',
    about: "the agent's aziot-style config.toml",
    run: (b) =>
      parseAgentConfig(parseTomlText(b.toString('utf8'), 'config.toml') as never, ['config.toml'], {}),
  },
  {
    name: 'jitp-template',
    about:
      'a JITP provisioning template (JSON), checked and evaluated for a certificate with every subject field',
    run: (b) =>
      evaluateTemplate(parseTemplate(b.toString('utf8')), {
        'AWS::IoT::Certificate::Country': 'US',
        'AWS::IoT::Certificate::Organization': 'Acme',
        'AWS::IoT::Certificate::OrganizationalUnit': 'Line-1',
        'AWS::IoT::Certificate::DistinguishedNameQualifier': 'q',
        'AWS::IoT::Certificate::StateName': 'WA',
        'AWS::IoT::Certificate::CommonName': 'bulb-0001',
        'AWS::IoT::Certificate::SerialNumber': 'SN-0001',
        'AWS::IoT::Certificate::Id': 'ab'.repeat(32),
      }),
  },
  {
    name: 'iot-policy',
    about:
      'an IoT policy document (JSON), parsed and compiled with policy variables, then asked about a publish',
    run: (b) => {
      const { document } = parsePolicyDocument(b.toString('utf8'));
      compilePolicies([document], {
        'iot:ClientId': 'dev-1',
        'iot:Connection.Thing.ThingName': 'dev-1',
      }).allows('iot:Publish', 'arn:aws:iot:us-east-1:123456789012:topic/a/b');
    },
  },
  {
    name: 'hub-username',
    about: 'an MQTT user name as the builtin hub reads it ({hub}/{deviceId}/?api-version=...)',
    run: (b) => {
      if (!parseHubUsername(b.toString('utf8')))
        throw new ZtError('BAD_REQUEST', 'not an IoT Hub user name', { rule: 'hub-username' });
    },
  },
  {
    name: 'twin-patch',
    about: 'a reported-properties patch (JSON), bounded in depth and merged into a twin',
    run: (b) => {
      let patch: unknown;
      try {
        patch = JSON.parse(b.toString('utf8'));
      } catch {
        throw new ZtError('BAD_REQUEST', 'not JSON', { rule: 'json' });
      }
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch))
        throw new ZtError('BAD_REQUEST', 'not an object', { rule: 'not-object' });
      if (depthOf(patch, 10) > 10) throw new ZtError('BAD_REQUEST', 'too deep', { rule: 'depth' });
      mergeTwinPatch({ kept: { a: 1 } }, patch as Record<string, unknown>);
    },
  },
  {
    name: 'sigv4-request',
    about:
      'an Authorization header, a newline and a query string, as the AWS IoT face reads them before verifying',
    run: (b) => {
      const text = b.toString('utf8');
      const nl = text.indexOf('\n');
      try {
        parseAuthorization(nl < 0 ? text : text.slice(0, nl));
        parseQuery(nl < 0 ? '' : text.slice(nl + 1));
      } catch (e) {
        // The face answers these as AWS errors; here they are refusals like any other.
        if (e instanceof AwsError) throw new ZtError('BAD_REQUEST', e.message, { rule: e.type });
        throw e;
      }
    },
  },
];

/** The outcome of one input: accepted, refused with a catalogued code (and rule), or a bug. */
export type Outcome =
  | { kind: 'accepted' }
  | { kind: 'refused'; code: string; rule?: string; message: string }
  | { kind: 'bug'; error: unknown };

/** Runs one input through a target and classifies what happened. */
export function runTarget(t: FuzzTarget, input: Buffer): Outcome {
  try {
    t.run(input);
    return { kind: 'accepted' };
  } catch (e) {
    if (isZtError(e)) {
      const rule = typeof e.detail?.rule === 'string' ? e.detail.rule : undefined;
      return { kind: 'refused', code: e.code, ...(rule ? { rule } : {}), message: e.message };
    }
    return { kind: 'bug', error: e };
  }
}

/** A target by name. */
export function target(name: string): FuzzTarget {
  const t = TARGETS.find((x) => x.name === name);
  if (!t) throw new Error(`no fuzz target "${name}"; targets: ${TARGETS.map((x) => x.name).join(', ')}`);
  return t;
}
