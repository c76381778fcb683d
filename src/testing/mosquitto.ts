/**
 * A real Mosquitto 2 broker for tests: Debian's mosquitto with its dynamic-security plugin, an
 * admin listener (user name and password) and a TLS listener that takes the device certificate's
 * CN as the user name (`use_identity_as_username`), both on free ports.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { opensslRoot, opensslSigned } from './jitp.ts';
import { freePort } from './proxy.ts';

/** Where Debian installs the dynamic-security plugin. */
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export interface TestMosquitto {
  adminUrl: string;
  adminUser: string;
  adminPassword: string;
  /** The TLS listener devices use. */
  tlsPort: number;
  /** The CA that signs the broker's server certificate (mosquitto_pub --cafile). */
  serverCaFile: string;
  /** Runs `mosquitto_ctrl dynsec <args>` as the admin; returns its output. */
  ctrl(args: string[]): string;
  /** Publishes one dynamic-security command as the admin (for what mosquitto_ctrl cannot say). */
  command(c: Record<string, unknown>): void;
  stop(): Promise<void>;
}

/** Whether this machine can run the broker. */
export function canRunMosquitto(): boolean {
  return existsSync(DYNSEC_PLUGIN) && existsSync('/usr/sbin/mosquitto');
}

/** Starts a broker in `dir` trusting device certificates under the CAs in `deviceCaFile`. */
export async function startMosquitto(dir: string, deviceCaFile: string): Promise<TestMosquitto> {
  const adminUser = 'zt-admin';
  const adminPassword = 'admin-password-for-tests';
  const dynsec = join(dir, 'dynamic-security.json');
  execFileSync('mosquitto_ctrl', ['dynsec', 'init', dynsec, adminUser, adminPassword], { stdio: 'ignore' });
  const ca = opensslRoot(dir, 'broker-ca');
  const server = opensslSigned(dir, 'broker', '/CN=localhost', ca, 'ec');
  const [adminPort, tlsPort] = [await freePort(), await freePort()];
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(
    conf,
    [
      'per_listener_settings false',
      // Tests run as root; mosquitto would otherwise switch to a user that cannot read the keys.
      'user root',
      `plugin ${DYNSEC_PLUGIN}`,
      `plugin_opt_config_file ${dynsec}`,
      `listener ${adminPort} 127.0.0.1`,
      `listener ${tlsPort} 127.0.0.1`,
      `cafile ${deviceCaFile}`,
      `certfile ${server.pem}`,
      `keyfile ${server.key}`,
      'require_certificate true',
      'use_identity_as_username true',
      '',
    ].join('\n'),
  );
  const child = spawn('mosquitto', ['-c', conf, '-v'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (log += d));
  for (let i = 0; !log.includes('running'); i++) {
    if (child.exitCode !== null || i > 100) throw new Error(`mosquitto did not start:\n${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    adminUrl: `mqtt://127.0.0.1:${adminPort}`,
    adminUser,
    adminPassword,
    tlsPort,
    serverCaFile: ca.pem,
    ctrl: (args) =>
      execFileSync(
        'mosquitto_ctrl',
        ['-h', '127.0.0.1', '-p', String(adminPort), '-u', adminUser, '-P', adminPassword, 'dynsec', ...args],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      ),
    command: (c) =>
      execFileSync('mosquitto_pub', [
        ...['-h', '127.0.0.1', '-p', String(adminPort), '-u', adminUser, '-P', adminPassword],
        ...['-q', '1', '-t', '$CONTROL/dynamic-security/v1', '-m', JSON.stringify({ commands: [c] })],
      ]),
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill();
      await new Promise((r) => child.once('exit', r));
    },
  };
}
