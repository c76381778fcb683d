import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { isZtError } from '../errors.ts';
import { makeRoot, openssl } from '../testing/pki.ts';
import { certificatePem, loadCertificate, loadCertificates, parseCertificate } from './certificate.ts';
import { describeExtension } from './extensions.ts';
import { generateKey, spkiDer } from './keys.ts';
import { formatName } from './names.ts';
import { OID } from './oids.ts';

describe('certificates', () => {
  const root = makeRoot('Fields Root');
  const key = generateKey('p256');
  const der = root.signer.issue({
    profile: 'server',
    subject: {
      C: 'US',
      ST: 'WA',
      L: 'Redmond',
      O: 'Acme',
      OU: ['Edge', 'Lab'],
      CN: 'gw-7',
      serialNumber: 'SN123',
      dnQualifier: 'q1',
    },
    spki: spkiDer(key),
    subjectAltNames: [
      { type: 'dns', value: 'gw-7.example' },
      { type: 'ip', value: '10.1.2.3' },
      { type: 'uri', value: 'urn:dev:gw-7' },
    ],
    validityDays: 10,
  });
  const cert = parseCertificate(der);

  it('reads every subject field, SANs, validity and thumbprints (cross-checked with OpenSSL)', () => {
    assert.equal(
      formatName(cert.subject),
      'C=US, ST=WA, L=Redmond, O=Acme, OU=Edge, OU=Lab, CN=gw-7, serialNumber=SN123, dnQualifier=q1',
    );
    assert.equal(cert.commonName, 'gw-7');
    assert.deepEqual(cert.subjectAltNames, [
      { type: 'dns', value: 'gw-7.example' },
      { type: 'ip', value: '10.1.2.3' },
      { type: 'uri', value: 'urn:dev:gw-7' },
    ]);
    const x = new X509Certificate(der);
    assert.equal(x.fingerprint.replaceAll(':', ''), cert.sha1);
    assert.equal(x.fingerprint256.replaceAll(':', ''), cert.sha256);
    assert.equal(x.serialNumber.replace(/^00/, ''), cert.serialNumber);
    assert.equal(new Date(x.validTo).getTime(), cert.notAfter.getTime());
    assert.deepEqual(cert.extKeyUsage, [OID.serverAuth]);
    assert.deepEqual(cert.basicConstraints, { ca: false });
    const subject = openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], certificatePem(cert));
    assert.match(subject, /CN=gw-7/);
    assert.match(subject, /serialNumber=SN123/);
    assert.match(subject, /dnQualifier=q1/);
  });

  it('describes extensions for people', () => {
    const lines = cert.extensions.map(describeExtension);
    assert.ok(lines.includes('basicConstraints (critical): CA:FALSE'));
    assert.ok(lines.includes('extKeyUsage: serverAuth'));
    assert.ok(lines.includes('subjectAltName: DNS:gw-7.example, IP:10.1.2.3, URI:urn:dev:gw-7'));
  });

  it('loads PEM chains, base64 in any layout and DER', () => {
    const pem = certificatePem(cert) + certificatePem(root.cert);
    assert.deepEqual(
      loadCertificates(pem).map((c) => c.commonName),
      ['gw-7', 'Fields Root'],
    );
    assert.equal(loadCertificate(der.toString('base64')).sha256, cert.sha256);
    assert.equal(loadCertificate(der.toString('base64').replace(/(.{76})/g, '$1\r\n')).sha256, cert.sha256);
    assert.equal(loadCertificate(der).sha256, cert.sha256);
  });

  it('reads certificates made by openssl', () => {
    const made = openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      '/dev/null',
      '-subj',
      '/CN=from-openssl/O=Ext',
      '-days',
      '2',
      '-addext',
      'subjectAltName=DNS:a.example',
    ]);
    const c = loadCertificate(made);
    assert.equal(c.commonName, 'from-openssl');
    assert.equal(c.basicConstraints?.ca, true);
    assert.deepEqual(c.subjectAltNames, [{ type: 'dns', value: 'a.example' }]);
  });

  it('rejects malformed input with a clear error, never a crash', () => {
    const cases: [Buffer | string, string][] = [
      ['', 'PEM_MALFORMED'],
      ['hello world', 'PEM_MALFORMED'],
      ['-----BEGIN CERTIFICATE-----\nAAAA', 'PEM_MALFORMED'],
      ['-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----', 'PEM_MALFORMED'],
      ['-----BEGIN CERTIFICATE-----\nMAMCAQE=\n-----END CERTIFICATE-----', 'CERT_MALFORMED'],
      [der.subarray(0, der.length - 10), 'CERT_MALFORMED'],
      [Buffer.concat([der, Buffer.from([0])]), 'CERT_MALFORMED'],
    ];
    for (const [input, code] of cases) {
      assert.throws(
        () => loadCertificate(input),
        (e) => isZtError(e) && e.code === code,
        `${code} for ${String(input).slice(0, 20)}`,
      );
    }
  });
});
