// server.workers: a supervisor and two worker processes sharing the listeners on one SQLite file.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultConfig } from './config/config.ts';
import { adminClient } from './testing/admin.ts';
import { registerAndWait } from './testing/dps-client.ts';
import { makeDevice } from './testing/dps.ts';
import { createFleet } from './testing/fleet.ts';
import { scratchDir } from './testing/pki.ts';
import { spawnServer } from './testing/server-process.ts';
import { workerCount } from './workers.ts';

const bin = join(import.meta.dirname, '..', 'bin', 'zerotouch');
const REDIS = 'redis://127.0.0.1:6379';

/** User plus system CPU ticks a process has used (from /proc). */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

function workerPids(log: string): number[] {
  return [...log.matchAll(/"pid":(\d+),"msg":"worker listening"/g)].map((m) => Number(m[1]));
}

describe('server.workers', () => {
  it('chooses one per core with Redis, one without, and refuses several without Redis', () => {
    const c = defaultConfig();
    assert.equal(workerCount(c, 8).count, 1);
    assert.match(workerCount(c, 8).why, /device\.mqtt_redis_url/);
    c.device.mqttRedisUrl = REDIS;
    assert.equal(workerCount(c, 8).count, 8);
    c.server.workers = 3;
    assert.equal(workerCount(c, 8).count, 3);
    c.device.mqttRedisUrl = '';
    assert.throws(
      () => workerCount(c, 8),
      (e: Error & { code?: string }) =>
        e.code === 'CONFIG_INVALID' && /needs device\.mqtt_redis_url/.test(e.message),
    );
  });

  it('spreads devices over two workers on one SQLite file, restarts a killed worker and stops on SIGTERM', async () => {
    const dataDir = scratchDir('zt-workers-');
    const server = await spawnServer(
      [
        bin,
        'server',
        '--server-workers',
        '2',
        '--device-mqtt-redis-url',
        REDIS,
        '--dps-retry-after-seconds',
        '1',
      ],
      dataDir,
    );
    try {
      assert.match(server.stderr(), /workers:\s+2 /);
      // The banner (stderr) and the workers' log lines (stdout) come down different pipes: the
      // second "worker listening" line can arrive just after the banner.
      for (let i = 0; i < 50 && new Set(workerPids(server.stdout())).size < 2; i++) await sleep(100);
      const pids = workerPids(server.stdout());
      assert.equal(new Set(pids).size, 2, server.stdout());
      const adminToken = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      const api = adminClient({ adminUrl: server.adminUrl, adminToken });
      const fleet = await createFleet(api, 'workers');
      const ca = readFileSync(join(dataDir, 'pki/certs/dev-root.cert.pem'), 'utf8');
      const register = async (ids: string[]) =>
        Promise.all(
          ids.map((id) =>
            registerAndWait(
              server.devicePort,
              ca,
              fleet.idScope,
              makeDevice(fleet.root, id),
              {},
              { pollMs: 100 },
            ),
          ),
        );

      // Each device opens its own connection; the supervisor hands connections out in turn.
      const before = pids.map(cpuTicks);
      const ops = await register(Array.from({ length: 40 }, (_, i) => `w-dev-${i}`));
      const used = pids.map((p, i) => cpuTicks(p) - before[i]!);
      assert.deepEqual(
        ops.map((o) => o.status),
        Array(40).fill('assigned'),
      );
      const total = used[0]! + used[1]!;
      console.log(`CPU ticks per worker for 40 registrations: ${used.join(', ')}`);
      for (const u of used) assert.ok(u >= total * 0.2, `one worker did almost nothing: ${used.join(', ')}`);
      const list = await api('GET', `/v1/tenants/${fleet.idScope}/registrations?max=100`);
      assert.equal(list.body.items.length, 40);

      // /metrics sums every worker's counters, whichever worker answers the scrape.
      for (let i = 0; i < 4; i++) {
        const m = await fetch(`${server.adminUrl}/metrics`, {
          headers: { authorization: `Bearer ${adminToken}` },
        });
        assert.match(await m.text(), /zerotouch_registrations_total\{result="assigned"\} 40\n/);
      }

      // A worker that dies is replaced; devices keep registering meanwhile.
      process.kill(pids[0]!, 'SIGKILL');
      while (workerPids(server.stdout()).length < 3) await sleep(100);
      assert.match(server.stdout(), /worker died; starting another/);
      const again = await register(Array.from({ length: 10 }, (_, i) => `w-late-${i}`));
      assert.ok(again.every((o) => o.status === 'assigned'));

      const exited = new Promise<number | null>((r) => server.child.once('exit', r));
      server.child.kill('SIGTERM');
      assert.equal(await exited, 0);
      for (const pid of workerPids(server.stdout())) assert.throws(() => process.kill(pid, 0), /ESRCH/);
    } finally {
      server.child.kill('SIGKILL');
    }
  });
});
