import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { COMMANDS } from './commands.ts';
import { buildProgram } from './main.ts';

const bin = join(import.meta.dirname, '..', '..', 'bin', 'zerotouch');

describe('the zerotouch command', () => {
  it('lists in its top-level help exactly the commands the full tree registers, with their descriptions', async () => {
    const full = await buildProgram(['node', 'zerotouch'], true);
    assert.deepEqual(
      Object.fromEntries(full.commands.map((c) => [c.name(), c.description()])),
      COMMANDS,
      'src/cli/commands.ts lists every top-level command as registered',
    );
    const light = await buildProgram(['node', 'zerotouch', '--help']);
    assert.deepEqual(
      light.commands.map((c) => c.name()),
      Object.keys(COMMANDS),
    );
  });

  it('prints its version, and runs from bin/zerotouch on the pinned Node.js', async () => {
    const version = JSON.parse(
      readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8'),
    ).version;
    const { stdout } = await promisify(execFile)(bin, ['--version']);
    assert.equal(stdout.trim(), version);
    const help = await promisify(execFile)(bin, ['--help']);
    for (const name of Object.keys(COMMANDS)) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
  });
});
