/**
 * The agent's log: pino with the server's redaction, JSON lines in the state directory's
 * agent.log (rotated at 1 MiB into agent.log.1, so it never fills a device's disk), and the same
 * line in readable form on stderr, which systemd hands to journald.
 */
import { appendFileSync, existsSync, renameSync, statSync } from 'node:fs';
import pino, { type Logger } from 'pino';
import { REDACT_PATHS } from '../logger.ts';

/** Size at which agent.log moves to agent.log.1 (the one older file kept). */
export const MAX_LOG_BYTES = 1024 * 1024;

/** A pino destination appending to `file`, moving it aside once it passes `maxBytes`. */
export class RotatingFile {
  private readonly file: string;
  private readonly maxBytes: number;
  private size: number;

  constructor(file: string, maxBytes = MAX_LOG_BYTES) {
    this.file = file;
    this.maxBytes = maxBytes;
    this.size = existsSync(file) ? statSync(file).size : 0;
  }

  write(line: string): void {
    if (this.size > 0 && this.size + line.length > this.maxBytes) {
      renameSync(this.file, `${this.file}.1`);
      this.size = 0;
    }
    appendFileSync(this.file, line, { mode: 0o600 });
    this.size += Buffer.byteLength(line);
  }
}

/** One JSON log line as people read it: `time LEVEL message key=value ...`. */
export function readableLine(json: string): string {
  try {
    const { time, level, msg, pid: _pid, hostname: _host, service: _service, ...rest } = JSON.parse(json);
    const label = typeof level === 'number' ? (pino.levels.labels[level] ?? String(level)) : String(level);
    const extra = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join(' ');
    return `${time} ${label.toUpperCase()} ${msg}${extra ? ` ${extra}` : ''}`;
  } catch {
    return json.trimEnd();
  }
}

/** The agent's logger: to `file` as JSON and to `echo` readably; times from `now`. */
export function agentLogger(o: { file: string; echo: (line: string) => void; now: () => Date }): Logger {
  const file = new RotatingFile(o.file);
  return pino(
    {
      level: 'info',
      base: { service: 'zerotouch-agent' },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: () => `,"time":"${o.now().toISOString()}"`,
    },
    {
      write(line: string) {
        file.write(line);
        o.echo(readableLine(line));
      },
    },
  );
}
