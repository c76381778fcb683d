/** Test helper: the server as a separate process (bin shim or `npm start`), on free ports. */
import { type ChildProcess, spawn } from 'node:child_process';

export interface ServerProcess {
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** What it printed on stdout (the JSON log stream) and on stderr (the banner). */
  stdout(): string;
  stderr(): string;
  adminUrl: string;
  devicePort: number;
  mqttPort: number;
}

/**
 * Spawns `command` (e.g. ["npm", "start", "--"]) with a data directory and port-0 flags, and
 * resolves once the start-up banner shows where everything is.
 */
export async function spawnServer(
  command: string[],
  dataDir: string,
  opts: {
    cwd?: string;
    detached?: boolean;
    ports?: Partial<Record<'device' | 'mqtt' | 'admin' | 'aws', number>>;
    env?: NodeJS.ProcessEnv;
    /** false: stop keeping the output once the banner is read (a long bench run logs a lot). */
    keepOutput?: boolean;
  } = {},
): Promise<ServerProcess> {
  const p = opts.ports ?? {};
  const flags = [
    '--data-dir',
    dataDir,
    '--device-port',
    String(p.device ?? 0),
    '--device-mqtt-port',
    String(p.mqtt ?? 0),
    '--admin-port',
    String(p.admin ?? 0),
    '--aws-port',
    String(p.aws ?? 0),
  ];
  const child = spawn(command[0]!, [...command.slice(1), ...flags], {
    cwd: opts.cwd,
    detached: opts.detached,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let stdout = '';
  let stderr = '';
  let keep = true;
  child.stdout!.on('data', (d) => {
    if (!keep) return;
    out += d;
    stdout += d;
  });
  child.stderr!.on('data', (d) => {
    if (!keep) return;
    out += d;
    stderr += d;
  });
  return new Promise<ServerProcess>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start-up banner: ${out}`)), 60_000);
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`${command.join(' ')} exited ${code}: ${out}`));
    };
    child.once('exit', onExit);
    const look = () => {
      const admin = /admin API:\s+(http:\/\/\S+)/.exec(out);
      const device = /device API:\s+https:\/\/\S+:(\d+)/.exec(out);
      const mqtt = /device MQTT:\s+mqtts:\/\/\S+:(\d+)/.exec(out);
      if (!admin || !device || !mqtt || !out.includes('admin token')) return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.stdout!.off('data', look);
      child.stderr!.off('data', look);
      keep = opts.keepOutput !== false;
      resolve({
        child,
        output: () => out,
        stdout: () => stdout,
        stderr: () => stderr,
        adminUrl: admin[1]!,
        devicePort: Number(device[1]),
        mqttPort: Number(mqtt[1]),
      });
    };
    child.stdout!.on('data', look);
    child.stderr!.on('data', look);
  });
}
