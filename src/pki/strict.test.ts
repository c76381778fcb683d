import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { type ErrorCode, isZtError } from '../errors.ts';
import {
  assembleTbs,
  deviceParts,
  flipEcdsaS,
  forgeCertificate,
  type ForgeIssuer,
  replaceBytes,
  signTbs,
} from '../testing/forge.ts';
import { makeRoot } from '../testing/pki.ts';
import { type Certificate, parseCertificate } from './certificate.ts';
import { validateChain } from './chain.ts';
import * as der from './der.ts';
import {
  encodeBasicConstraints,
  encodeExtension,
  encodeGeneralName,
  encodeKeyUsage,
  encodeSubjectAltName,
  encodeSubjectKeyIdentifier,
} from './extensions.ts';
import { keyIdentifier } from './issue.ts';
import { generateKey, spkiDer } from './keys.ts';
import { encodeName } from './names.ts';
import { OID } from './oids.ts';

const root = makeRoot('Strict Root');
const issuer: ForgeIssuer = { key: root.key, cert: root.cert };

/** Asserts that parsing refuses the certificate under `rule` (CERT_MALFORMED). */
function refused(certDer: Buffer, rule: string): void {
  assert.throws(
    () => parseCertificate(certDer),
    (e) => {
      assert.ok(isZtError(e, 'CERT_MALFORMED'), `expected CERT_MALFORMED, got ${String(e)}`);
      assert.equal(e.detail?.rule, rule, e.message);
      return true;
    },
  );
}

function chainRefused(
  leaf: Certificate,
  anchors: Certificate[],
  code: ErrorCode,
  pattern: RegExp,
  untrusted: Certificate[] = [],
): void {
  assert.throws(
    () => validateChain(leaf, untrusted, anchors, { requiredEku: OID.clientAuth }),
    (e) => {
      assert.ok(isZtError(e), String(e));
      assert.equal(e.code, code, e.message);
      assert.match(e.message, pattern);
      return true;
    },
  );
}

const ext = (oid: string, value: Buffer, critical = false) => encodeExtension(oid, critical, value);
const utc = (s: string) => der.tlv(der.TAG.UTC_TIME, Buffer.from(s, 'latin1'));
const gen = (s: string) => der.tlv(der.TAG.GENERALIZED_TIME, Buffer.from(s, 'latin1'));

describe('strict certificate parsing: the reproducers', () => {
  it('refuses an outer signatureAlgorithm that differs from the inner one (crashed the MQTT listener)', () => {
    const cert = forgeCertificate(issuer, {
      outerAlgorithm: (inner) => {
        const b = Buffer.from(inner);
        b[b.length - 1] ^= 0x01;
        return b;
      },
    });
    refused(cert, 'signature-algorithm-mismatch');
  });

  it('accepts an explicit v1 version field, as OpenSSL does, and validates the v1 leaf', () => {
    const cert = forgeCertificate(issuer, {
      parts: (p) => {
        p.version = der.explicit(0, der.integer(0));
        p.extensions = null;
      },
    });
    const parsed = parseCertificate(cert);
    assert.equal(parsed.version, 1);
    assert.equal(new X509Certificate(cert).subject, 'CN=dev-01');
    validateChain(parsed, [], [root.cert], { requiredEku: OID.clientAuth });
  });

  it('refuses a UTCTime with an offset, without seconds, or with a fraction', () => {
    for (const t of ['2601011200+0100', '2601011200Z', '260101120000.5Z', '260101120000+0000']) {
      refused(
        forgeCertificate(issuer, { parts: (p) => (p.validity = der.seq(utc(t), utc('491231235959Z'))) }),
        'time-format',
      );
    }
  });

  it('refuses month 13, hour 25 and 30 February instead of normalising them', () => {
    for (const t of ['261301000000Z', '260101250000Z', '260230000000Z', '260101006000Z']) {
      refused(
        forgeCertificate(issuer, { parts: (p) => (p.validity = der.seq(utc(t), utc('491231235959Z'))) }),
        'time-range',
      );
    }
  });

  it('refuses a GeneralizedTime before 2050 and a validity that ends before it starts', () => {
    refused(
      forgeCertificate(issuer, {
        parts: (p) => (p.validity = der.seq(gen('20260101000000Z'), utc('491231235959Z'))),
      }),
      'time-generalized-before-2050',
    );
    refused(
      forgeCertificate(issuer, {
        parts: (p) => (p.validity = der.seq(utc('300101000000Z'), utc('290101000000Z'))),
      }),
      'validity-inverted',
    );
  });

  it('refuses a zero-length BOOLEAN (read as CA:TRUE before), BOOLEAN 01 and an encoded critical FALSE', () => {
    const bcValue = der.seq(Buffer.from([der.TAG.BOOLEAN, 0]));
    refused(
      forgeCertificate(issuer, {
        parts: (p) => (p.extensions![0] = ext(OID.basicConstraints, bcValue, true)),
      }),
      'boolean-length',
    );
    const one = der.seq(
      der.oid(OID.keyUsage),
      Buffer.from([1, 1, 1]),
      der.octetString(encodeKeyUsage(['digitalSignature'])),
    );
    refused(forgeCertificate(issuer, { parts: (p) => (p.extensions![1] = one) }), 'boolean-not-ff');
    const falseCrit = der.seq(
      der.oid(OID.keyUsage),
      der.bool(false),
      der.octetString(encodeKeyUsage(['digitalSignature'])),
    );
    refused(forgeCertificate(issuer, { parts: (p) => (p.extensions![1] = falseCrit) }), 'default-encoded');
  });

  it('refuses duplicate extensions instead of letting the last one win', () => {
    refused(
      forgeCertificate(issuer, {
        parts: (p) =>
          p.extensions!.push(ext(OID.basicConstraints, encodeBasicConstraints({ ca: true }), true)),
      }),
      'extension-duplicate',
    );
  });

  it('refuses a negative pathLen (read as 255 before) and a pathLen without cA', () => {
    const neg = der.seq(der.bool(true), Buffer.from([der.TAG.INTEGER, 1, 0xff]));
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.extensions![0] = ext(OID.basicConstraints, neg, true)) }),
      'pathlen-negative',
    );
    const noCa = der.seq(der.integer(1));
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.extensions![0] = ext(OID.basicConstraints, noCa, true)) }),
      'pathlen-without-ca',
    );
  });

  it('refuses non-minimal OID arcs, a dangling continuation octet and over-long OIDs', () => {
    const nonMinimal = der.tlv(der.TAG.OID, Buffer.from('5580811d', 'hex')); // 2.5.(0x80 0x81 0x1d)
    refused(
      forgeCertificate(issuer, {
        parts: (p) => p.extensions!.push(der.seq(nonMinimal, der.octetString(der.NULL))),
      }),
      'oid-not-minimal',
    );
    const dangling = der.tlv(der.TAG.OID, Buffer.from('551d8f', 'hex'));
    refused(
      forgeCertificate(issuer, {
        parts: (p) => p.extensions!.push(der.seq(dangling, der.octetString(der.NULL))),
      }),
      'oid-truncated',
    );
    // The 60 KB OID that cost half a second per connection.
    const huge = der.tlv(
      der.TAG.OID,
      Buffer.concat([Buffer.from([0x2b]), Buffer.alloc(60_000, 0x81), Buffer.from([1])]),
    );
    refused(
      forgeCertificate(issuer, {
        parts: (p) => p.extensions!.push(der.seq(huge, der.octetString(der.NULL))),
      }),
      'oid-too-long',
    );
  });

  it('refuses non-minimal lengths, indefinite lengths and high tag numbers', () => {
    const subject = encodeName({ CN: 'dev-01' });
    const longForm = Buffer.concat([Buffer.from([0x30, 0x81, subject.length - 2]), subject.subarray(2)]);
    refused(
      forgeCertificate(issuer, { tbs: (t) => reseq(replaceBytes(t, subject, longForm)) }),
      'der-length-not-minimal',
    );
    refused(Buffer.from('3080020101', 'hex'), 'der-indefinite-length');
    refused(Buffer.from('3f8101', 'hex'), 'der-high-tag');
  });

  it('refuses bytes after the signature, inside the certificate and inside the TBS', () => {
    const good = forgeCertificate(issuer);
    refused(Buffer.concat([good, Buffer.from([0])]), 'der-trailing-data');
    refused(
      forgeCertificate(issuer, {
        outer: (c) => der.seq(...der.children(der.read(c)).map((n) => n.raw), der.NULL),
      }),
      'der-extra-element',
    );
    refused(forgeCertificate(issuer, { parts: (p) => p.trailing.push(der.NULL) }), 'der-extra-element');
  });

  it('refuses unused bits in the signature, unknown versions, extensions in v1 and an empty extension list', () => {
    refused(
      forgeCertificate(issuer, {
        outer: (c) => {
          const [tbs, alg, sig] = der.children(der.read(c));
          const bytes = Buffer.from(sig!.content.subarray(1));
          bytes[bytes.length - 1]! &= 0xfe;
          return der.seq(tbs!.raw, alg!.raw, der.bitString(bytes, 1));
        },
      }),
      'bitstring-unused-bits',
    );
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.version = der.explicit(0, der.integer(3))) }),
      'version-unknown',
    );
    refused(forgeCertificate(issuer, { parts: (p) => (p.version = null) }), 'extensions-version');
    refused(forgeCertificate(issuer, { parts: (p) => (p.extensions = []) }), 'extensions-empty');
  });

  it('refuses negative, zero and 21-octet serials', () => {
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.serial = Buffer.from([2, 1, 0xfb])) }),
      'serial-negative',
    );
    refused(forgeCertificate(issuer, { parts: (p) => (p.serial = der.integer(0)) }), 'serial-zero');
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.serial = der.integer(Buffer.alloc(21, 0x41))) }),
      'serial-too-long',
    );
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.serial = Buffer.from([2, 2, 0, 1])) }),
      'integer-not-minimal',
    );
  });

  it('holds algorithm and key parameters to their definitions', () => {
    const withNull = der.seq(der.oid(OID.ecdsaWithSha256), der.NULL);
    refused(
      signTbs(
        issuer.key,
        assembleTbs({ ...deviceParts(issuer, generateKey('p256')), signature: withNull }),
        {},
        withNull,
      ),
      'algorithm-parameters',
    );
    const spki = spkiDer(generateKey('p256'));
    const [, bits] = der.children(der.read(spki));
    const explicitCurve = der.seq(der.seq(der.oid(OID.ecPublicKey), der.seq(der.integer(1))), bits!.raw);
    refused(forgeCertificate(issuer, { parts: (p) => (p.spki = explicitCurve) }), 'der-unexpected-tag');
  });

  it('refuses keyUsage with trailing zero bits or no bit, critical key identifiers and bad SAN addresses', () => {
    const padded = der.bitString(Buffer.from([0x80, 0x00]), 0);
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.extensions![1] = ext(OID.keyUsage, padded, true)) }),
      'bitstring-trailing-zero',
    );
    refused(
      forgeCertificate(issuer, {
        parts: (p) => (p.extensions![1] = ext(OID.keyUsage, der.bitString(Buffer.alloc(0)), true)),
      }),
      'key-usage-empty',
    );
    const ski = ext(OID.subjectKeyIdentifier, encodeSubjectKeyIdentifier(Buffer.alloc(20, 1)), true);
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.extensions![3] = ski) }),
      'extension-must-not-be-critical',
    );
    const badIp = der.seq(der.implicit(7, Buffer.alloc(5)));
    refused(
      forgeCertificate(issuer, { parts: (p) => p.extensions!.push(ext(OID.subjectAltName, badIp)) }),
      'ip-length',
    );
  });

  it('refuses names with an empty RDN or characters outside their string type', () => {
    refused(
      forgeCertificate(issuer, {
        parts: (p) => (p.subject = der.seq(der.tlv(der.TAG.SET, Buffer.alloc(0)))),
      }),
      'name-empty-rdn',
    );
    const atv = (v: Buffer) => der.seq(der.setOf(der.seq(der.oid(OID.commonName), v)));
    refused(
      forgeCertificate(issuer, { parts: (p) => (p.subject = atv(der.printable('dev@01'))) }),
      'string-charset',
    );
    refused(
      forgeCertificate(issuer, {
        parts: (p) => (p.subject = atv(der.tlv(der.TAG.UTF8_STRING, Buffer.from([0xc3, 0x28])))),
      }),
      'string-charset',
    );
  });

  it('parses a high-S ECDSA signature: it verifies, with a new thumbprint but the same signed content', () => {
    const key = generateKey('p256');
    const low = parseCertificate(forgeCertificate(issuer, {}, key));
    const high = parseCertificate(forgeCertificate(issuer, { signature: flipEcdsaS }, key));
    assert.notEqual(high.sha256, low.sha256);
    assert.equal(high.tbsSha256, low.tbsSha256);
    assert.equal(high.serialNumber, low.serialNumber);
    validateChain(high, [], [root.cert], { requiredEku: OID.clientAuth });
  });
});

describe('path validation as RFC 5280 has it where devices meet it', () => {
  it('chains an issuer name that differs from the CA subject only in string type, case and spaces', () => {
    const printableUpper = der.seq(
      der.setOf(der.seq(der.oid(OID.commonName), der.printable('STRICT   ROOT '))),
    );
    const leaf = parseCertificate(forgeCertificate(issuer, { parts: (p) => (p.issuer = printableUpper) }));
    const { path } = validateChain(leaf, [], [root.cert], { requiredEku: OID.clientAuth });
    assert.equal(path.length, 2);
    // OpenSSL agrees: it canonicalises names the same way.
    assert.ok(new X509Certificate(leaf.der).checkIssued(new X509Certificate(root.cert.der)));
  });

  it('refuses a critical policy extension: policies are not processed', () => {
    const policies = der.seq(der.seq(der.oid('2.5.29.32.0')));
    const leaf = parseCertificate(
      forgeCertificate(issuer, {
        parts: (p) => p.extensions!.push(ext(OID.certificatePolicies, policies, true)),
      }),
    );
    chainRefused(leaf, [root.cert], 'CHAIN_CRITICAL_EXTENSION', /certificatePolicies/);
    const nonCritical = parseCertificate(
      forgeCertificate(issuer, { parts: (p) => p.extensions!.push(ext(OID.certificatePolicies, policies)) }),
    );
    validateChain(nonCritical, [], [root.cert]);
  });

  it('refuses a TLS client leaf whose keyUsage allows neither digitalSignature nor keyAgreement', () => {
    const leaf = parseCertificate(
      forgeCertificate(issuer, {
        parts: (p) => (p.extensions![1] = ext(OID.keyUsage, encodeKeyUsage(['keyEncipherment']), true)),
      }),
    );
    chainRefused(leaf, [root.cert], 'CHAIN_KEY_USAGE', /digitalSignature/);
    const agreement = parseCertificate(
      forgeCertificate(issuer, {
        parts: (p) => (p.extensions![1] = ext(OID.keyUsage, encodeKeyUsage(['keyAgreement']), true)),
      }),
    );
    validateChain(agreement, [], [root.cert], { requiredEku: OID.clientAuth });
  });

  describe('name constraints (critical, processed)', () => {
    const caKey = generateKey('p256');
    const subtrees = (names: Buffer[]) => Buffer.concat(names.map((n) => der.seq(n)));
    function constrainedCa(permitted: Buffer[], excluded: Buffer[] = []): ForgeIssuer {
      const nc = der.seq(
        ...(permitted.length ? [der.implicit(0, subtrees(permitted), true)] : []),
        ...(excluded.length ? [der.implicit(1, subtrees(excluded), true)] : []),
      );
      const certDer = forgeCertificate(
        issuer,
        {
          parts: (p) => {
            p.subject = encodeName({ O: 'Acme', CN: 'Constrained CA' });
            p.extensions = [
              ext(OID.basicConstraints, encodeBasicConstraints({ ca: true }), true),
              ext(OID.keyUsage, encodeKeyUsage(['keyCertSign', 'cRLSign']), true),
              ext(OID.subjectKeyIdentifier, encodeSubjectKeyIdentifier(keyIdentifier(spkiDer(caKey)))),
              ext(OID.nameConstraints, nc, true),
            ];
          },
        },
        caKey,
      );
      return { key: caKey, cert: parseCertificate(certDer) };
    }
    const dns = (v: string) => encodeGeneralName({ type: 'dns', value: v });
    const leafWith = (
      ca: ForgeIssuer,
      subject: Parameters<typeof encodeName>[0],
      sans: Parameters<typeof encodeSubjectAltName>[0] = [],
    ) =>
      parseCertificate(
        forgeCertificate(ca, {
          parts: (p) => {
            p.subject = encodeName(subject);
            if (sans.length) p.extensions!.push(ext(OID.subjectAltName, encodeSubjectAltName(sans)));
          },
        }),
      );

    it('permits DNS names inside the subtree and refuses others; excluded wins', () => {
      const ca = constrainedCa([dns('example.com')], [dns('bad.example.com')]);
      const ok = leafWith(ca, { CN: 'dev-01' }, [{ type: 'dns', value: 'dev-01.devices.example.com' }]);
      validateChain(ok, [ca.cert], [root.cert], { requiredEku: OID.clientAuth });
      chainRefused(
        leafWith(ca, { CN: 'dev-02' }, [{ type: 'dns', value: 'dev-02.evil.com' }]),
        [root.cert],
        'CHAIN_NAME_CONSTRAINTS',
        /outside the permitted subtrees/,
        [ca.cert],
      );
      chainRefused(
        leafWith(ca, { CN: 'dev-03' }, [{ type: 'dns', value: 'x.bad.example.com' }]),
        [root.cert],
        'CHAIN_NAME_CONSTRAINTS',
        /excluded subtree/,
        [ca.cert],
      );
      chainRefused(
        leafWith(ca, { CN: 'dev-04' }, [{ type: 'dns', value: '*.example.com' }]),
        [root.cert],
        'CHAIN_NAME_CONSTRAINTS',
        /excluded subtree/,
        [ca.cert],
      );
      // "host1.example.com" is not below "host.example.com".
      const host = constrainedCa([dns('host.example.com')]);
      chainRefused(
        leafWith(host, { CN: 'd' }, [{ type: 'dns', value: 'host1.example.com' }]),
        [root.cert],
        'CHAIN_NAME_CONSTRAINTS',
        /permitted/,
        [host.cert],
      );
    });

    it('applies directoryName constraints to the subject, and email constraints to its emailAddress', () => {
      const ca = constrainedCa([
        der.explicit(4, encodeName({ O: 'Acme' })),
        encodeGeneralName({ type: 'email', value: 'acme.example' }),
      ]);
      validateChain(
        leafWith(ca, { O: 'ACME', CN: 'dev-01', emailAddress: 'ops@acme.example' }),
        [ca.cert],
        [root.cert],
      );
      chainRefused(
        leafWith(ca, { O: 'Other', CN: 'dev-02' }),
        [root.cert],
        'CHAIN_NAME_CONSTRAINTS',
        /dirName/,
        [ca.cert],
      );
      chainRefused(
        leafWith(ca, { O: 'Acme', CN: 'dev-03', emailAddress: 'ops@evil.example' }),
        [root.cert],
        'CHAIN_NAME_CONSTRAINTS',
        /email:ops@evil.example/,
        [ca.cert],
      );
    });

    it('checks IP constraints by address and mask, and refuses forms it does not process when critical', () => {
      const net = der.implicit(7, Buffer.from([10, 1, 0, 0, 255, 255, 0, 0]));
      const ca = constrainedCa([net]);
      validateChain(leafWith(ca, { CN: 'a' }, [{ type: 'ip', value: '10.1.2.3' }]), [ca.cert], [root.cert]);
      chainRefused(
        leafWith(ca, { CN: 'b' }, [{ type: 'ip', value: '10.2.0.1' }]),
        [root.cert],
        'CHAIN_NAME_CONSTRAINTS',
        /ip:10.2.0.1/,
        [ca.cert],
      );
      const registered = constrainedCa([der.implicit(8, der.oid('1.2.3').subarray(2))]);
      chainRefused(leafWith(registered, { CN: 'c' }), [root.cert], 'CHAIN_NAME_CONSTRAINTS', /registeredId/, [
        registered.cert,
      ]);
    });
  });
});

/** Re-wraps a TBS whose inner lengths changed (replaceBytes keeps the outer header). */
function reseq(tbs: Buffer): Buffer {
  const head = tbs[1]! & 0x80 ? 2 + (tbs[1]! & 0x7f) : 2;
  return der.seq(tbs.subarray(head));
}
