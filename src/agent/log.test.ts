import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { scratchDir } from '../testing/pki.ts';
import { agentLogger, RotatingFile } from './log.ts';

describe('agent log', () => {
  it('writes JSON lines with one msg, echoes them readably, and redacts secrets as the server does', () => {
    const file = join(scratchDir('zt-agentlog-'), 'agent.log');
    const echoed: string[] = [];
    const log = agentLogger({
      file,
      echo: (l) => echoed.push(l),
      now: () => new Date('2026-12-01T10:00:00Z'),
    });
    log.info({ hub: 'hub-1', password: 'hunter22', proxy: { secret: 's3' } }, 'assigned');
    const line = readFileSync(file, 'utf8').trim();
    const entry = JSON.parse(line);
    assert.equal(entry.msg, 'assigned');
    assert.equal(line.split('"msg":').length, 2);
    assert.equal(entry.time, '2026-12-01T10:00:00.000Z');
    assert.equal(entry.password, '[redacted]');
    assert.equal(entry.proxy.secret, '[redacted]');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(echoed[0]!, /^2026-12-01T10:00:00.000Z INFO assigned hub=hub-1 password=\[redacted\]/);
    assert.doesNotMatch(echoed.join('\n') + line, /hunter22|s3"/);
  });

  it('moves agent.log aside to agent.log.1 when it passes the size limit, keeping one older file', () => {
    const file = join(scratchDir('zt-agentlog-'), 'agent.log');
    const f = new RotatingFile(file, 1000);
    for (let i = 0; i < 50; i++) f.write(`${JSON.stringify({ i, pad: 'x'.repeat(40) })}\n`);
    assert.ok(existsSync(`${file}.1`));
    assert.ok(statSync(file).size <= 1000);
    assert.ok(statSync(`${file}.1`).size <= 1000);
    const last = readFileSync(file, 'utf8').trim().split('\n').at(-1)!;
    assert.equal(JSON.parse(last).i, 49);
  });
});
