/**
 * The bare mutual-TLS baseline as its own process: a node:tls server with the device listener's
 * TLS options and the given certificate chain and key that answers every connection's first
 * request with one fixed HTTP response. Prints "listening <port>"; SIGTERM ends it cleanly (so
 * that --cpu-prof writes its profile).
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:tls';
import { deviceTlsOptions } from '../src/transports/device-tls.ts';
import { BARE_RESPONSE } from './baseline-tls.ts';

const [chainPath, keyPath] = process.argv.slice(2);
if (!chainPath || !keyPath) {
  process.stderr.write('usage: bare-tls-server.ts <chain.pem> <key.pem>\n');
  process.exit(2);
}
const server = createServer(
  deviceTlsOptions({ cert: readFileSync(chainPath, 'utf8'), key: readFileSync(keyPath, 'utf8') }),
  (s) => {
    s.once('data', () => s.end(BARE_RESPONSE));
    s.on('error', () => {});
  },
);
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening ${(server.address() as { port: number }).port}\n`);
});
process.once('SIGTERM', () => process.exit(0));
