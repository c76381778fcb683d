// The agent trusts what aziot trusts: the OS store and NODE_EXTRA_CA_CERTS, besides its config's roots.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { certificatePem } from '../pki/certificate.ts';
import { makeRoot, scratchDir } from '../testing/pki.ts';

it('trusts a private root named by NODE_EXTRA_CA_CERTS, with the OS store and the bundled roots', () => {
  const root = certificatePem(makeRoot('Private Plant Root').cert);
  const file = join(scratchDir('zt-trust-'), 'extra.pem');
  writeFileSync(file, root);
  // NODE_EXTRA_CA_CERTS is read when a process starts: ask a fresh one.
  const script = `import(${JSON.stringify(join(import.meta.dirname, 'network.ts'))}).then((m) => {
    const { getCACertificates } = require('node:tls');
    const store = m.trustStore();
    const pem = require('node:fs').readFileSync(${JSON.stringify(file)}, 'utf8').replace(/\\s+/g, '');
    console.log(JSON.stringify({
      extra: store.some((c) => c.replace(/\\s+/g, '') === pem),
      system: getCACertificates('system').every((c) => store.includes(c)),
      bundled: getCACertificates('bundled').every((c) => store.includes(c)),
    }));
  })`;
  const out = execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, NODE_EXTRA_CA_CERTS: file },
    encoding: 'utf8',
  });
  assert.deepEqual(JSON.parse(out), { extra: true, system: true, bundled: true });
});
