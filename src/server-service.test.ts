// Running the server as a service: `npm start` hands stop signals to the server itself, and the
// shipped systemd unit runs node directly and passes systemd's own check.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { scratchDir } from './testing/pki.ts';
import { hasCommand } from './testing/proxy.ts';

const repo = join(import.meta.dirname, '..');
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('the server as a service', () => {
  it('stops when a supervisor sends SIGTERM to npm start: the server is the process that gets it', async () => {
    const dataDir = scratchDir('zt-npm-start-');
    const npm = spawn('npm', ['start', '--silent'], {
      cwd: repo,
      env: {
        ...process.env,
        ZEROTOUCH_DATA_DIR: dataDir,
        ZEROTOUCH_ADMIN_PORT: '0',
        ZEROTOUCH_DEVICE_PORT: '0',
        ZEROTOUCH_DEVICE_MQTT_PORT: '0',
        ZEROTOUCH_AWS_PORT: '0',
        ZEROTOUCH_DEVICE_HOST: '127.0.0.1',
        ZEROTOUCH_AWS_HOST: '127.0.0.1',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    npm.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    npm.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((r) => npm.once('exit', (code) => r(code)));
    for (let i = 0; i < 300 && !out.includes('is running'); i++) await sleep(100);
    assert.match(out, /zerotouch \S+ is running/);
    // The process under npm is node running the server (no shell in between).
    const { stdout } = await promisify(execFile)('pgrep', ['-P', String(npm.pid)]);
    const child = Number(stdout.trim().split('\n')[0]);
    const cmdline = readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0');
    assert.match(cmdline[0]!, /node$/);
    assert.ok(cmdline.includes('server'), cmdline.join(' '));
    npm.kill('SIGTERM');
    await exited;
    for (let i = 0; i < 100 && alive(child); i++) await sleep(100);
    assert.equal(alive(child), false, 'the server exited with npm');
    assert.match(out, /SIGTERM/);
  });

  const unit = readFileSync(join(repo, 'contrib', 'systemd', 'zerotouch-server.service'), 'utf8');

  it('ships a unit that runs node directly on the checkout, as a user, keeping data in its state directory', () => {
    assert.match(
      unit,
      /^ExecStart=\/opt\/zerotouch\/node_modules\/\.bin\/node \/opt\/zerotouch\/src\/cli\/main\.ts server /m,
    );
    assert.match(unit, /^User=zerotouch$/m);
    assert.match(unit, /^StateDirectory=zerotouch$/m);
    assert.match(unit, /^Environment=ZEROTOUCH_DATA_DIR=\/var\/lib\/zerotouch$/m);
    assert.match(unit, /^NoNewPrivileges=yes$/m);
  });

  it(
    'passes systemd-analyze verify without a single complaint',
    { skip: hasCommand('systemd-analyze') ? false : 'needs systemd-analyze' },
    async () => {
      const dir = scratchDir('zt-server-unit-');
      const installed = join(dir, 'zerotouch-server.service');
      writeFileSync(installed, unit.replaceAll('/opt/zerotouch', repo));
      const { stdout, stderr } = await promisify(execFile)('systemd-analyze', [
        'verify',
        '--man=no',
        installed,
      ]);
      assert.equal((stdout + stderr).trim(), '');
    },
  );
});
