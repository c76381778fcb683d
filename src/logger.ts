/** The structured logger: pino JSON lines, with every secret-bearing field redacted. */
import pino, { type Logger } from 'pino';

/** Paths pino removes from every log line, wherever they appear. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'headers.authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.privateKey',
  '*.key',
  'password',
  'secret',
  'token',
  // One level deeper (a hub record's mosquitto.password or webhook.secret inside a logged object).
  '*.*.password',
  '*.*.secret',
  '*.*.token',
  '*.*.privateKey',
];

/** A logger at `level` writing to `destination` (stdout by default). */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'zerotouch' } },
    destination,
  );
}
