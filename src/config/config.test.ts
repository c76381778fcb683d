import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scratchDir } from '../testing/pki.ts';
import { CONFIG_KEYS, loadConfig } from './config.ts';

describe('config', () => {
  const dir = scratchDir('zt-config-');
  const file = (text: string) => {
    const f = join(dir, `c${Math.random().toString(36).slice(2)}.toml`);
    writeFileSync(f, text);
    return f;
  };

  it('has embedded defaults: SQLite in ./data, device on 8443, admin on loopback 8080', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.store.url, '');
    assert.equal(c.device.port, 8443);
    assert.equal(c.admin.host, '127.0.0.1');
    assert.equal(c.admin.port, 8080);
    assert.ok(c.dataDir.endsWith('/data'));
  });

  it('takes file, then environment, then flags, each overriding the one before', () => {
    const f = file(
      'log_level = "debug"\n[device]\nport = 9000\ntls_names = ["dps.example"]\n[admin]\nport = 9001\n',
    );
    let c = loadConfig({ file: f, env: {} });
    assert.deepEqual(
      [c.logLevel, c.device.port, c.admin.port, c.device.tlsNames],
      ['debug', 9000, 9001, ['dps.example']],
    );
    c = loadConfig({
      file: f,
      env: { ZEROTOUCH_DEVICE_PORT: '9100', ZEROTOUCH_DEVICE_TLS_NAMES: 'a.example, b.example' },
    });
    assert.deepEqual([c.device.port, c.device.tlsNames], [9100, ['a.example', 'b.example']]);
    c = loadConfig({
      env: { ZEROTOUCH_CONFIG: f, ZEROTOUCH_DEVICE_PORT: '9100' },
      flags: { 'device.port': '9200' },
    });
    assert.equal(c.device.port, 9200);
    assert.equal(c.admin.port, 9001);
  });

  it('names the key and the source of every bad value', () => {
    assert.throws(
      () => loadConfig({ file: file('[device]\nprot = 1\n'), env: {} }),
      /unknown key "device\.prot"; known keys: .*device\.port/,
    );
    assert.throws(
      () => loadConfig({ file: file('[device]\nport = 70000\n'), env: {} }),
      /device\.port: must be a whole number from 0 to 65535 \(got 70000\)/,
    );
    assert.throws(
      () => loadConfig({ file: file('[device]\nport = "8443"\n'), env: {} }),
      /config file .*device\.port/,
    );
    assert.throws(
      () => loadConfig({ env: { ZEROTOUCH_LOG_LEVEL: 'loud' } }),
      /environment ZEROTOUCH_LOG_LEVEL: log_level: must be one of "fatal", .*\(got "loud"\)/,
    );
    assert.throws(() => loadConfig({ env: {}, flags: { 'admin.port': '-1' } }), /flag --admin-port/);
    assert.throws(
      () => loadConfig({ env: { ZEROTOUCH_SERVER_WORKERS: 'many' } }),
      /server\.workers: must be "auto" or a whole number from 1 to 256 \(got "many"\)/,
    );
    assert.equal(loadConfig({ env: { ZEROTOUCH_SERVER_WORKERS: '3' } }).server.workers, 3);
    assert.throws(
      () => loadConfig({ env: { ZEROTOUCH_STORE_SQLITE_SYNCHRONOUS: 'off' } }),
      /store\.sqlite_synchronous/,
    );
    assert.throws(() => loadConfig({ file: file('port = \n'), env: {} }), /not valid TOML/);
    assert.throws(
      () => loadConfig({ file: join(dir, 'absent.toml'), env: {} }),
      (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /cannot be read/.test(e.message),
    );
  });

  it('documents every key, its environment variable and its default in docs/configuration.md', () => {
    const doc = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'configuration.md'), 'utf8');
    for (const k of CONFIG_KEYS) {
      assert.ok(doc.includes(`\`${k.toml}\``), `docs/configuration.md lacks ${k.toml}`);
      assert.ok(doc.includes(k.env), `docs/configuration.md lacks ${k.env}`);
      assert.ok(doc.includes(k.flag), `docs/configuration.md lacks ${k.flag}`);
    }
  });
});
