// The guides, followed literally: every shell command of a guide runs in a fresh directory with
// the checkout's bin/zerotouch, and the output the guide shows after a command (a "# ..." line)
// is checked. Commands that need a host of the reader's (example.com) are the only ones skipped.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scratchDir } from './testing/pki.ts';

const repo = join(import.meta.dirname, '..');

/** The commands of a guide's sh blocks (continuation lines joined), each with the output it shows. */
function commands(markdown: string): Array<{ command: string; expect: string[] }> {
  const out: Array<{ command: string; expect: string[] }> = [];
  for (const block of markdown.matchAll(/```sh\n([\s\S]*?)```/g)) {
    const lines = block[1]!.replace(/\\\n\s*/g, ' ').split('\n');
    for (const line of lines) {
      if (!line.trim()) continue;
      if (line.startsWith('# ')) out[out.length - 1]?.expect.push(line.slice(2).trim());
      else out.push({ command: line, expect: [] });
    }
  }
  return out;
}

describe('the guides, followed literally in a fresh directory', () => {
  it('docs/pki-toolkit.md', () => {
    const dir = scratchDir('zt-guide-pki-');
    const all = commands(readFileSync(join(repo, 'docs', 'pki-toolkit.md'), 'utf8'));
    // The setup lines name the reader's own paths; this test stands in for them.
    const run = all.filter(
      (c) => !/\/path\/to\/|^mkdir -p ~|example\.com\/|> cacerts\.b64|cacerts\.b64 --json/.test(c.command),
    );
    assert.ok(run.length >= 10, `read ${run.length} commands`);
    for (const c of run) {
      const command = c.command.replaceAll('npx zerotouch', join(repo, 'bin', 'zerotouch'));
      let output: string;
      try {
        output = execFileSync('bash', ['-c', command], {
          cwd: dir,
          encoding: 'utf8',
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, PATH: `${join(repo, 'bin')}:${process.env.PATH}` },
        });
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string };
        assert.fail(`"${c.command}" failed: ${err.stderr ?? ''}${err.stdout ?? ''}`);
      }
      for (const want of c.expect)
        assert.ok(output.includes(want), `"${c.command}" shows "${want}"; got: ${output}`);
    }
  });
});
