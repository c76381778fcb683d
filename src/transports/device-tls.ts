/**
 * TLS settings of the device-facing listeners (HTTPS and MQTT): TLS 1.2 and 1.3, client
 * certificates requested but judged by the application, since each tenant trusts its own CAs
 * and OpenSSL cannot decide during the handshake.
 */
export interface DeviceTls {
  /** PEM server certificate chain, leaf first. */
  cert: string;
  /** PEM private key. */
  key: string;
}

/** TLS options shared by the device listeners and the handshake benchmark's baseline. */
export function deviceTlsOptions(tls: DeviceTls) {
  return {
    cert: tls.cert,
    key: tls.key,
    requestCert: true,
    rejectUnauthorized: false,
    minVersion: 'TLSv1.2' as const,
    // A client that opens a connection and never finishes the handshake is dropped after 10 s.
    handshakeTimeout: 10_000,
  };
}
