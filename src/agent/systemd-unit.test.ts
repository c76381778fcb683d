// The shipped systemd unit: systemd itself accepts every line, and it starts the agent with the
// paths the agent uses by default.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { scratchDir } from '../testing/pki.ts';
import { hasCommand } from '../testing/proxy.ts';
import { parseAgentConfig } from './config.ts';

const repo = join(import.meta.dirname, '..', '..');
const unitFile = join(repo, 'contrib', 'systemd', 'zerotouch-agent.service');

describe('contrib/systemd/zerotouch-agent.service', () => {
  const unit = readFileSync(unitFile, 'utf8');

  it('runs the agent on the default config file and keeps state where the agent keeps it', () => {
    assert.match(unit, /^ExecStart=\/usr\/bin\/zerotouch agent run -c \/etc\/aziot\/config\.toml$/m);
    assert.match(unit, /^StateDirectory=zerotouch-agent$/m);
    const cfg = parseAgentConfig(
      {
        provisioning: {
          source: 'dps',
          global_endpoint: 'https://dps.example.com',
          id_scope: 's',
          attestation: { method: 'x509', identity_cert: 'file:///c', identity_pk: 'file:///k' },
        },
      },
      ['/etc/aziot/config.toml'],
      {},
    );
    assert.equal(cfg.stateDir, '/var/lib/zerotouch-agent');
    assert.match(unit, new RegExp(`^ReadWritePaths=${cfg.stateDir}$`, 'm'));
  });

  it(
    'passes systemd-analyze verify without a single complaint',
    { skip: hasCommand('systemd-analyze') ? false : 'needs systemd-analyze' },
    async () => {
      // As installed by docs/agent.md: /usr/bin/zerotouch is this checkout's bin/zerotouch.
      const dir = scratchDir('zt-unit-');
      const installed = join(dir, 'zerotouch-agent.service');
      writeFileSync(installed, unit.replace('/usr/bin/zerotouch', join(repo, 'bin', 'zerotouch')));
      const { stdout, stderr } = await promisify(execFile)('systemd-analyze', [
        'verify',
        '--man=no',
        installed,
      ]);
      assert.equal((stdout + stderr).trim(), '', 'systemd reports no unknown or malformed setting');
    },
  );
});
