// The guides, followed literally: every shell command of a guide runs in a fresh directory with
// the checkout's bin/zerotouch, and the output the guide shows after a command (a "# ..." line,
// "..." standing for anything) is checked. Skipped are only the lines that name the reader's
// own paths; values the guide shows as examples (an ID scope, a serial, port 8443) are replaced
// by the ones this run produced.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { certificatePem } from './pki/certificate.ts';
import { identitydRegister } from './testing/dps-client.ts';
import { scratchDir } from './testing/pki.ts';
import { startTestServer, type TestServer } from './testing/server.ts';

const repo = join(import.meta.dirname, '..');

/** The commands of a guide's sh blocks (continued lines joined), each with the output it shows. */
function commands(markdown: string): Array<{ command: string; expect: string[] }> {
  const out: Array<{ command: string; expect: string[] }> = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!
      .replace(/\\\n\s*/g, ' ')
      .replace(/\|\n\s*/g, '| ')
      .split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (!line.trim()) continue;
      if (line.startsWith('# ')) {
        out[out.length - 1]?.expect.push(line.slice(2).trim());
        continue;
      }
      // A here-document is one command, up to its terminator line.
      const here = /<<\s*'?(\w+)'?\s*$/.exec(line);
      let command = line;
      if (here) {
        const end = lines.indexOf(here[1]!, i + 1);
        assert.ok(end > i, `here-document ${here[1]} is not closed`);
        command = lines.slice(i, end + 1).join('\n');
        i = end;
      }
      out.push({ command, expect: [] });
    }
  }
  return out;
}

const SETUP = /\/path\/to\/|^mkdir -p ~/;

interface Walk {
  skip?: RegExp;
  env?: Record<string, string>;
  /** After a command matching `after`, `re`'s first group replaces `example` in later commands. */
  captures?: Array<{ after: RegExp; re: RegExp; example: string }>;
  replace?: Array<[string, string]>;
  /** Runs before a command matching `before` (what happens off the page, e.g. a device registering). */
  hooks?: Array<{
    before: RegExp;
    run: (dir: string, env: Record<string, string | undefined>) => Promise<void>;
  }>;
  /** Sets up the fresh directory (e.g. where the guide expects the server's data). */
  prepare?: (dir: string) => void;
}

/** Runs a guide; returns how many commands ran (asynchronously: a server in this process must answer). */
async function walk(guide: string, o: Walk = {}): Promise<number> {
  const dir = scratchDir('zt-guide-');
  const replace = [...(o.replace ?? [])];
  o.prepare?.(dir);
  let ran = 0;
  let env: Record<string, string | undefined> = {
    ...process.env,
    ...o.env,
    PATH: `${join(repo, 'bin')}:${process.env.PATH}`,
  };
  for (const c of commands(readFileSync(join(repo, 'docs', guide), 'utf8'))) {
    if (SETUP.test(c.command) || o.skip?.test(c.command)) continue;
    let command = c.command.replaceAll('npx zerotouch', 'zerotouch');
    for (const [from, to] of replace) command = command.replaceAll(from, to);
    // Variables the guide sets (exported or not) are kept for the commands after it.
    const exported = /^(?:export )?(\w+)=(\S*|\$\(.*\))$/.exec(command);
    if (exported) {
      let value = exported[2]!.replace(/^"(.*)"$/, '$1');
      // VAR=$(command): the shell's value of it.
      if (value.startsWith('$('))
        value = (await promisify(execFile)('bash', ['-c', `printf %s "${value}"`], { cwd: dir, env })).stdout;
      env = { ...env, [exported[1]!]: value };
      continue;
    }
    for (const h of o.hooks ?? []) if (h.before.test(command)) await h.run(dir, env);
    let output: string;
    try {
      ({ stdout: output } = await promisify(execFile)('bash', ['-o', 'pipefail', '-c', command], {
        cwd: dir,
        encoding: 'utf8',
        env,
        timeout: 60_000,
      }));
    } catch (e) {
      const err = e as { stdout?: string; stderr?: string };
      assert.fail(`${guide}: "${command}" failed: ${err.stderr ?? ''}${err.stdout ?? ''}`);
    }
    ran++;
    for (const want of c.expect) {
      let text = want;
      for (const [from, to] of replace) text = text.replaceAll(from, to);
      // An example value not known yet (captured from this very output) stands for anything.
      for (const cap of o.captures ?? []) text = text.replaceAll(cap.example, '...');
      const re = new RegExp(
        text
          .split('...')
          .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('.*'),
      );
      assert.match(output, re, `${guide}: "${command}" shows "${want}"`);
    }
    for (const cap of o.captures ?? [])
      if (cap.after.test(command)) {
        const m = cap.re.exec(output);
        assert.ok(m, `${guide}: "${command}" output has ${cap.re}: ${output}`);
        replace.push([cap.example, m[1]!]);
      }
  }
  return ran;
}

describe('the guides, followed literally in a fresh directory', () => {
  let server: TestServer | undefined;
  after(async () => {
    await server?.dispose();
  });

  it('docs/pki-toolkit.md', async () => {
    // The last two lines fetch from an EST server of the reader's.
    assert.ok((await walk('pki-toolkit.md', { skip: /est\.example\.com|cacerts\.b64/ })) >= 10);
  });

  it('docs/dps-seed-scenario.md, against a server, with the device of section 8 registering', async () => {
    // As the guide starts it (its TLS name; the port stays free for the test).
    const dps = await startTestServer({
      flags: { 'dps.retry_after_seconds': 1, 'device.tls_names': ['dps.example.com'] },
    });
    try {
      const ran = await walk('dps-seed-scenario.md', {
        // The server runs already (this test's); the reader's own host names stay as written.
        skip: /zerotouch server /,
        env: { ZEROTOUCH_URL: dps.adminUrl, ZEROTOUCH_DATA_DIR: dps.config.dataDir },
        captures: [
          { after: /tenant create/, re: /ID scope (\S+)/, example: '0ne00A1B2C3' },
          { after: /ca verification-code/, re: /verification code: (\S+)/, example: '3F1C...' },
          {
            after: /pki verification-cert/,
            re: /certificate: (\S+)/,
            example: 'certs/verification-3F1C2B7E9F0D.cert.pem',
          },
          { after: /enrollment create edge-devices/, re: /etag ("[^"]+")/, example: "'<etag>'" },
        ],
        hooks: [
          {
            // Section 8: the device registers (aziot-identityd's requests) before the lists.
            before: /registration list/,
            run: async (dir, env) => {
              const device = {
                registrationId: 'edge-device-01',
                chainPem: readFileSync(join(dir, 'certs/edge-device-01-full-chain.cert.pem'), 'utf8'),
                keyPem: readFileSync(join(dir, 'private/edge-device-01.key.pem'), 'utf8'),
                sha256: '',
              };
              await identitydRegister(
                dps.devicePort,
                certificatePem(dps.devPki.root.certificate),
                env.ZEROTOUCH_SCOPE!,
                device,
                50,
              );
            },
          },
        ],
      });
      assert.ok(ran >= 15, `ran ${ran} commands`);
    } finally {
      await dps.dispose();
    }
  });

  it('docs/getting-started.md, against a server started as it says', async () => {
    const gs = await startTestServer();
    try {
      const admin = new URL(gs.adminUrl);
      const ran = await walk('getting-started.md', {
        // Cloning, installing and starting are this test's own; the last is an example for elsewhere.
        skip: /^git clone|^npm ci|zerotouch server /,
        prepare: (dir) => symlinkSync(gs.config.dataDir, join(dir, 'data')),
        replace: [
          ['127.0.0.1:8080', admin.host],
          ['localhost:8443', `localhost:${gs.devicePort}`],
        ],
        captures: [{ after: /v1\/tenants$/, re: /"idScope":"(\w+)"/, example: '0ne00A1B2C3' }],
      });
      assert.ok(ran >= 5, `ran ${ran} commands`);
    } finally {
      await gs.dispose();
    }
  });

  it('docs/est-seed-scenario.md, against a server', async () => {
    server = await startTestServer();
    const ran = await walk('est-seed-scenario.md', {
      env: { ZEROTOUCH_URL: server.adminUrl, ZEROTOUCH_DATA_DIR: server.config.dataDir },
      replace: [['localhost:8443', `localhost:${server.devicePort}`]],
      captures: [
        { after: /tenant create/, re: /ID scope (\S+)/, example: '0ne00A1B2C3' },
        { after: /cert list --subject device-01/, re: /^([0-9A-F]{16,})\s/m, example: '6F0A...' },
      ],
    });
    assert.ok(ran >= 15, `ran ${ran} commands`);
  });

  it('docs/jitp.md, against a server, with mosquitto_pub and mosquitto_sub as the devices', async () => {
    const jitp = await startTestServer();
    try {
      const ran = await walk('jitp.md', {
        // A webhook receiver of the reader's own.
        skip: /ops\.example\.com/,
        env: { ZEROTOUCH_URL: jitp.adminUrl, ZEROTOUCH_DATA_DIR: jitp.config.dataDir },
        replace: [['-p 8883', `-p ${jitp.mqttPort}`]],
        captures: [{ after: /tenant create/, re: /ID scope (\S+)/, example: '0ne00A1B2C3' }],
      });
      assert.ok(ran >= 30, `ran ${ran} commands`);
    } finally {
      await jitp.dispose();
    }
  });
});
