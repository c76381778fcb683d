/**
 * Writes the seed and regression corpus under fuzz/corpus: valid inputs of every target, and the
 * reproducers of the trust-core probe, named `accept--<what>` or `refuse--<rule or code>--<what>`.
 * Run once when a reproducer is added (`node fuzz/seed-corpus.ts`); the files are committed.
 * Certificates are valid from 2026 to 2049 under fuzz/corpus/anchors/root.pem.
 */
import { execFileSync } from 'node:child_process';
import { sign } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificatePem, parseCertificate } from '../src/pki/certificate.ts';
import { createCsr } from '../src/pki/csr.ts';
import * as der from '../src/pki/der.ts';
import { encodeBasicConstraints, encodeExtension, encodeKeyUsage } from '../src/pki/extensions.ts';
import { CertificateSigner } from '../src/pki/issue.ts';
import { exportPrivateKeyPem, generateKey, spkiDer } from '../src/pki/keys.ts';
import { encodeName } from '../src/pki/names.ts';
import { OID } from '../src/pki/oids.ts';
import { toPem } from '../src/pki/pem.ts';
import { encodeCertsOnly } from '../src/pki/pkcs7.ts';
import { flipEcdsaS, forgeCertificate, type ForgeOptions } from '../src/testing/forge.ts';
import { opensslCsr } from '../src/testing/pki.ts';

const root = new URL('./corpus/', import.meta.url).pathname;
const write = (target: string, name: string, data: Buffer | string) => {
  mkdirSync(join(root, target), { recursive: true });
  writeFileSync(join(root, target, name), data);
};
const NOT_BEFORE = new Date('2026-01-01T00:00:00Z');
const NOT_AFTER = new Date('2049-12-31T23:59:59Z');

const caKey = generateKey('p256');
const ca = parseCertificate(
  new CertificateSigner(caKey).selfSign({
    subject: { CN: 'Fuzz Root' },
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
  }),
);
write('anchors', 'root.pem', certificatePem(ca));
const issuer = { key: caKey, cert: ca };
const validity = der.seq(der.time(NOT_BEFORE), der.time(NOT_AFTER));
const cert = (name: string, o: ForgeOptions = {}) => {
  const parts = o.parts;
  write(
    'certificate',
    `${name}.der`,
    forgeCertificate(issuer, {
      ...o,
      parts: (p) => {
        p.validity = validity;
        parts?.(p);
      },
    }),
  );
};
const ext = (oid: string, value: Buffer, critical = false) => encodeExtension(oid, critical, value);
const utc = (s: string) => der.tlv(der.TAG.UTC_TIME, Buffer.from(s, 'latin1'));

// certificates
cert('accept--device');
cert('accept--device-high-s', { signature: flipEcdsaS });
cert('accept--explicit-v1', {
  parts: (p) => {
    p.version = der.explicit(0, der.integer(0));
    p.extensions = null;
  },
});
cert('accept--issuer-printable-uppercase', {
  parts: (p) =>
    (p.issuer = der.seq(der.setOf(der.seq(der.oid(OID.commonName), der.printable('FUZZ  ROOT'))))),
});
cert('refuse--signature-algorithm-mismatch--outer-oid-last-byte', {
  outerAlgorithm: (inner) => {
    const b = Buffer.from(inner);
    b[b.length - 1]! ^= 1;
    return b;
  },
});
cert('refuse--time-format--utctime-offset', {
  parts: (p) => (p.validity = der.seq(utc('2601011200+0100'), utc('491231235959Z'))),
});
cert('refuse--time-range--month-13', {
  parts: (p) => (p.validity = der.seq(utc('261301000000Z'), utc('491231235959Z'))),
});
cert('refuse--time-range--hour-25', {
  parts: (p) => (p.validity = der.seq(utc('260101250000Z'), utc('491231235959Z'))),
});
cert('refuse--boolean-length--zero-length-ca-flag', {
  parts: (p) => (p.extensions![0] = ext(OID.basicConstraints, der.seq(Buffer.from([1, 0])), true)),
});
cert('refuse--boolean-not-ff--critical-01', {
  parts: (p) =>
    (p.extensions![1] = der.seq(
      der.oid(OID.keyUsage),
      Buffer.from([1, 1, 1]),
      der.octetString(encodeKeyUsage(['digitalSignature'])),
    )),
});
cert('refuse--default-encoded--critical-false', {
  parts: (p) =>
    (p.extensions![1] = der.seq(
      der.oid(OID.keyUsage),
      der.bool(false),
      der.octetString(encodeKeyUsage(['digitalSignature'])),
    )),
});
cert('refuse--extension-duplicate--basic-constraints', {
  parts: (p) => p.extensions!.push(ext(OID.basicConstraints, encodeBasicConstraints({ ca: true }), true)),
});
cert('refuse--pathlen-negative', {
  parts: (p) =>
    (p.extensions![0] = ext(OID.basicConstraints, der.seq(der.bool(true), Buffer.from([2, 1, 0xff])), true)),
});
cert('refuse--oid-not-minimal', {
  parts: (p) =>
    p.extensions!.push(
      der.seq(der.tlv(der.TAG.OID, Buffer.from('5580811d', 'hex')), der.octetString(der.NULL)),
    ),
});
cert('refuse--oid-truncated--dangling-continuation', {
  parts: (p) =>
    p.extensions!.push(
      der.seq(der.tlv(der.TAG.OID, Buffer.from('551d8f', 'hex')), der.octetString(der.NULL)),
    ),
});
cert('refuse--oid-too-long--60kb-arc', {
  parts: (p) =>
    p.extensions!.push(
      der.seq(
        der.tlv(
          der.TAG.OID,
          Buffer.concat([Buffer.from([0x2b]), Buffer.alloc(60_000, 0x81), Buffer.from([1])]),
        ),
        der.octetString(der.NULL),
      ),
    ),
});
cert('refuse--der-trailing-data--after-signature', { outer: (c) => Buffer.concat([c, Buffer.from([0])]) });
cert('refuse--der-extra-element--after-signature-value', {
  outer: (c) => der.seq(...der.children(der.read(c)).map((n) => n.raw), der.NULL),
});
cert('refuse--der-extra-element--inside-tbs', { parts: (p) => p.trailing.push(der.NULL) });
cert('refuse--extensions-version--extensions-in-v1', { parts: (p) => (p.version = null) });
cert('refuse--serial-negative', { parts: (p) => (p.serial = Buffer.from([2, 1, 0xfb])) });
cert('refuse--serial-zero', { parts: (p) => (p.serial = der.integer(0)) });
cert('refuse--serial-too-long', { parts: (p) => (p.serial = der.integer(Buffer.alloc(21, 0x41))) });
cert('refuse--CHAIN_CRITICAL_EXTENSION--critical-certificate-policies', {
  parts: (p) =>
    p.extensions!.push(ext(OID.certificatePolicies, der.seq(der.seq(der.oid('2.5.29.32.0'))), true)),
});
{
  const subject = encodeName({ CN: 'dev-01' });
  const longForm = Buffer.concat([Buffer.from([0x30, 0x81, subject.length - 2]), subject.subarray(2)]);
  cert('refuse--der-length-not-minimal--subject', {
    tbs: (t) => {
      const i = t.indexOf(subject);
      const inner = Buffer.concat([
        t.subarray(t[1]! & 0x80 ? 2 + (t[1]! & 0x7f) : 2, i),
        longForm,
        t.subarray(i + subject.length),
      ]);
      return der.seq(inner);
    },
  });
}

// CSRs
const devKey = generateKey('p256');
write(
  'csr',
  'accept--zerotouch.der',
  createCsr(devKey, { CN: 'dev-01' }, [{ type: 'dns', value: 'dev-01.example' }]),
);
const csrWith = (info: Buffer) =>
  der.seq(info, der.seq(der.oid(OID.ecdsaWithSha256)), der.bitString(sign('sha256', info, devKey)));
const attrs = (...a: Buffer[]) => der.implicit(0, Buffer.concat(a), true);
const extReq = der.seq(
  der.oid(OID.extensionRequest),
  der.setOf(der.seq(ext(OID.subjectAltName, der.seq(der.implicit(2, Buffer.from('a.example')))))),
);
write(
  'csr',
  'refuse--csr-version--version-2.der',
  csrWith(der.seq(der.integer(2), encodeName({ CN: 'dev-01' }), spkiDer(devKey), attrs())),
);
write(
  'csr',
  'refuse--der-missing--no-attributes-field.der',
  csrWith(der.seq(der.integer(0), encodeName({ CN: 'dev-01' }), spkiDer(devKey))),
);
write(
  'csr',
  'refuse--csr-attribute--two-extension-requests.der',
  csrWith(der.seq(der.integer(0), encodeName({ CN: 'dev-01' }), spkiDer(devKey), attrs(extReq, extReq))),
);
write(
  'csr',
  'refuse--der-trailing-data--after-request.der',
  Buffer.concat([createCsr(devKey, { CN: 'dev-01' }), Buffer.from([0, 0])]),
);
{
  const good = createCsr(devKey, { CN: 'dev-01' });
  const altered = Buffer.from(good);
  altered[altered.indexOf(Buffer.from('dev-01'))] = 0x44; // 'D': the signature no longer matches
  write('csr', 'refuse--CSR_BAD_SIGNATURE--altered-subject.der', altered);
}

// openssl-made inputs
const tmp = mkdtempSync(join(tmpdir(), 'zt-seed-'));
try {
  const f = (n: string) => join(tmp, n);
  writeFileSync(f('ca.pem'), certificatePem(ca));
  writeFileSync(f('ca.key'), exportPrivateKeyPem(caKey));
  const openssl = (...a: string[]) => execFileSync('openssl', a, { stdio: ['ignore', 'pipe', 'pipe'] });
  opensslCsr(f('l'), '/CN=openssl-device', [
    '-addext',
    'subjectAltName=DNS:openssl-device.example',
    '-addext',
    'extendedKeyUsage=clientAuth',
  ]);
  openssl('req', '-in', f('l.csr.der'), '-inform', 'DER', '-out', f('l.csr'));
  write('csr', 'accept--openssl.pem', readFileSync(f('l.csr')));
  writeFileSync(f('ext.cnf'), 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n');
  openssl(
    'x509',
    '-req',
    '-in',
    f('l.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-set_serial',
    '0x1234',
    '-days',
    '7000',
    '-extfile',
    f('ext.cnf'),
    '-outform',
    'DER',
    '-out',
    f('l.der'),
  );
  write('certificate', 'accept--openssl.der', readFileSync(f('l.der')));
  writeFileSync(f('l.pem'), toPem('CERTIFICATE', readFileSync(f('l.der'))));
  openssl(
    'crl2pkcs7',
    '-nocrl',
    '-certfile',
    f('l.pem'),
    '-certfile',
    f('ca.pem'),
    '-outform',
    'DER',
    '-out',
    f('b.p7'),
  );
  write('pkcs7', 'accept--openssl-crl2pkcs7.der', readFileSync(f('b.p7')));
  write('pem', 'accept--openssl-x509-text.pem', openssl('x509', '-in', f('l.pem'), '-subject', '-issuer'));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// PKCS#7, PEM, generic input
const leaf = readFileSync(join(root, 'certificate', 'accept--device.der'));
write('pkcs7', 'accept--zerotouch-est-answer.der', encodeCertsOnly([leaf, ca.der]));
write('pkcs7', 'refuse--der-truncated--cut.der', encodeCertsOnly([leaf]).subarray(0, 100));
write('pem', 'accept--chain.pem', toPem('CERTIFICATE', leaf) + certificatePem(ca));
write('pem', 'refuse--pem-no-end--begin-spam.pem', '-----BEGIN CERTIFICATE-----\n'.repeat(2300));
write(
  'pem',
  'refuse--pem-base64--not-base64.pem',
  '-----BEGIN CERTIFICATE-----\nMII*A\n-----END CERTIFICATE-----\n',
);
write('pem', 'refuse--pem-end-mismatch.pem', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END X509 CRL-----\n');
write('input', 'accept--base64-lines.txt', leaf.toString('base64').replace(/.{64}/g, '$&\n'));
write('input', 'accept--der.der', leaf);
write('input', 'refuse--PEM_MALFORMED--garbage.txt', 'this is not a certificate\n');
write('der', 'accept--certificate.der', leaf);
write('der', 'refuse--der-indefinite-length.der', Buffer.from('3080050000000000', 'hex'));
write('der', 'refuse--der-length-not-minimal.der', Buffer.from('30810105 00'.replace(' ', ''), 'hex'));
write('der', 'refuse--der-high-tag.der', Buffer.from('1f8101020000', 'hex'));
// Found by npm run fuzz: huge SETs cost time per element before they were capped.
write(
  'der',
  'refuse--der-too-many-elements--2000-nulls.der',
  der.seq(...Array.from({ length: 2000 }, () => der.NULL)),
);
write(
  'pkcs7',
  'refuse--der-too-many-elements--100-certificates.der',
  der.seq(
    der.oid(OID.signedData),
    der.explicit(
      0,
      der.seq(
        der.integer(1),
        der.setOf(),
        der.seq(der.oid(OID.data)),
        der.implicit(0, Buffer.from(Buffer.alloc(200).map((_v, k) => (k % 2 ? 0 : 0x30))), true),
        der.setOf(),
      ),
    ),
  ),
);

// JSON bodies, MQTT user names, SAS tokens
write('dps-register-json', 'accept--plain.json', '{"registrationId":"dev-01"}');
write(
  'dps-register-json',
  'accept--payload-and-csr.json',
  JSON.stringify({ registrationId: 'dev-01', payload: { model: 'x' }, csr: 'MIIB' }),
);
write(
  'dps-register-json',
  'refuse--BAD_REQUEST--payload-string.json',
  '{"registrationId":"dev-01","payload":"text"}',
);
write('dps-register-json', 'refuse--REGISTRATION_ID_MISMATCH--other-id.json', '{"registrationId":"dev-02"}');
write(
  'dps-register-json',
  'refuse--BAD_REQUEST--csr-too-long.json',
  JSON.stringify({ csr: 'A'.repeat(40_000) }),
);
write(
  'mqtt-username',
  'accept--azure-sdk.txt',
  '0ne00000001/registrations/dev-01/api-version=2019-03-31&ClientVersion=azure-iot-provisioning-device%2F1.9.1',
);
write(
  'sas',
  'accept--token.txt',
  'SharedAccessSignature sr=dps.example.com&sig=abc%3D&se=1900000000&skn=provisioningserviceowner',
);

// configuration files
write(
  'server-toml',
  'accept--example.toml',
  'data_dir = "/var/lib/zerotouch"\n[device]\nport = 443\ntls_names = ["dps.example.com"]\n[admin]\nport = 8080\n',
);
write('server-toml', 'refuse--CONFIG_INVALID--unknown-key.toml', '[device]\nprot = 1\n');
write('server-toml', 'refuse--CONFIG_INVALID--deep-dotted-key.toml', `a${'.a'.repeat(20_000)} = 1\n`);
write(
  'agent-toml',
  'accept--dps-x509-file.toml',
  `[provisioning]\nsource = "dps"\nglobal_endpoint = "https://dps.example.com"\nid_scope = "0ne00A1B2C3"\n\n[provisioning.attestation]\nmethod = "x509"\nregistration_id = "edge-device-01"\nidentity_cert = "file:///var/secrets/edge-device-01-full-chain.cert.pem"\nidentity_pk = "file:///var/secrets/edge-device-01.key.pem"\n`,
);
write('agent-toml', 'refuse--CONFIG_INVALID--not-toml.toml', '[provisioning\nsource = \n');
// provisioning templates
write(
  'jitp-template',
  'accept--dg-jitp-template.json',
  readFileSync(new URL('../src/features/templates/testdata/dg-jitp-template.json', import.meta.url), 'utf8'),
);
write(
  'jitp-template',
  'refuse--TEMPLATE_INVALID--undeclared-ref.json',
  '{"Resources":{"c":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":{"Ref":"Id"}}}}}',
);
write(
  'jitp-template',
  'refuse--PROVISIONING_FAILED--select-past-end.json',
  '{"Parameters":{"AWS::IoT::Certificate::Id":{"Type":"String"}},"Resources":{"c":{"Type":"AWS::IoT::Certificate","Properties":{"CertificateId":{"Ref":"AWS::IoT::Certificate::Id"}}},"t":{"Type":"AWS::IoT::Thing","Properties":{"ThingName":{"Fn::Select":["5",{"Fn::Split":["-",{"Ref":"AWS::IoT::Certificate::Id"}]}]}}}}}',
);
write(
  'iot-policy',
  'accept--thing-scoped.json',
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["iot:Publish","iot:Receive"],"Resource":"arn:aws:iot:us-east-1:123456789012:topic/things/${iot:Connection.Thing.ThingName}/*"},{"Effect":"Deny","Action":"iot:*","Resource":"arn:aws:iot:*:*:topic/$aws/*"}]}',
);
write(
  'iot-policy',
  'refuse--BAD_REQUEST--policy-document--condition.json',
  '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:Connect","Resource":"*","Condition":{"Bool":{"iot:Connection.Thing.IsAttached":"true"}}}]}',
);
write('iot-policy', 'refuse--BAD_REQUEST--policy-document--not-json.json', '{"Statement": ');
write(
  'sigv4-request',
  'accept--sdk-request.txt',
  'AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20261202/us-east-1/iot/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=' +
    'ab'.repeat(32) +
    '\nmaxResults=50&attributeName=parity&attributeValue=odd',
);
write(
  'sigv4-request',
  'refuse--BAD_REQUEST--IncompleteSignatureException--no-signature.txt',
  'AWS4-HMAC-SHA256 Credential=AKIAAAAAAAAAAAAAAAAA/20261202/us-east-1/iot/aws4_request, SignedHeaders=host\n',
);
write(
  'sigv4-request',
  'refuse--BAD_REQUEST--InvalidRequestException--bad-escape.txt',
  'AWS4-HMAC-SHA256 Credential=A/20261202/us-east-1/iot/aws4_request, SignedHeaders=host, Signature=' +
    'cd'.repeat(32) +
    '\nmarker=%E0%A4%A',
);
write(
  'hub-username',
  'accept--azure-sdk.txt',
  'hub.example.com/dev-01/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4',
);
write('hub-username', 'accept--host-with-port.txt', 'localhost:8883/dev-01/?api-version=2021-04-12');
write(
  'hub-username',
  'refuse--BAD_REQUEST--hub-username--dps-path.txt',
  '0ne00A1B2C3/registrations/dev-01/api-version=2021-06-01',
);
write(
  'hub-username',
  'refuse--BAD_REQUEST--hub-username--no-api-version.txt',
  'hub.example.com/dev-01/?DeviceClientType=x',
);
write(
  'twin-patch',
  'accept--nested.json',
  '{"firmware":{"version":"1.2.3","installed":null},"temperature":21.5}',
);
write('twin-patch', 'refuse--BAD_REQUEST--depth--deep.json', '{"a":'.repeat(12) + '1' + '}'.repeat(12));
write('twin-patch', 'refuse--BAD_REQUEST--not-object--array.json', '[1,2,3]');
process.stdout.write(`corpus written to ${root}\n`);
