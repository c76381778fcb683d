/**
 * Scenario (a): certificate issuance from a CSR (parse, verify its signature, issue a device
 * certificate) against its crypto floor: what raw node:crypto must do for the same request, one
 * CSR-signature verification with the CSR's public key (given as SPKI DER, as a CSR carries it)
 * plus one signature over a certificate-sized body with the CA key.
 */
import { sign, verify } from 'node:crypto';
import { createCsr, csrPem, parseCsr, verifyCsr } from '../src/pki/csr.ts';
import { CertificateSigner } from '../src/pki/issue.ts';
import { generateKey } from '../src/pki/keys.ts';
import { makeIntermediate, makeRoot } from '../src/testing/pki.ts';
import { type Scenario, timeSync } from './harness.ts';

/** Distinct CSRs so that no cache can help; cycled through during the run. */
const CSR_COUNT = 256;

export const issuance: Scenario = {
  name: 'issue device certificate from CSR (P-256)',
  unit: 'certs/s',
  baselineName: 'crypto floor (verify + sign)',
  target: 0.5,
  async setup() {
    const root = makeRoot('Bench Root');
    const ca = makeIntermediate(root, 'Bench Issuing CA');
    const signer = new CertificateSigner(ca.key, ca.cert);
    const csrs = Array.from({ length: CSR_COUNT }, (_, i) =>
      csrPem(createCsr(generateKey('p256'), { CN: `bench-device-${i}` })),
    );
    const parsed = csrs.map((p) => parseCsr(p));
    // A to-be-signed blob the size of a real device TBSCertificate.
    const tbs = signer
      .issue({ profile: 'device', subject: parsed[0].subject.der, spki: parsed[0].spki })
      .subarray(0, 400);
    return {
      scenario: timeSync((i) => {
        const csr = parseCsr(csrs[i % CSR_COUNT]);
        verifyCsr(csr);
        signer.issue({ profile: 'device', subject: csr.subject.der, spki: csr.spki, validityDays: 365 });
      }),
      baseline: timeSync((i) => {
        const c = parsed[i % CSR_COUNT];
        if (!verify('sha256', c.info, { key: c.spki, format: 'der', type: 'spki' }, c.signature)) {
          throw new Error('baseline verification failed');
        }
        sign('sha256', tbs, ca.key);
      }),
      async teardown() {},
    };
  },
};
