/** RFC 7512 PKCS#11 URIs: read their attributes and show them without the PIN. */

/** The URI's attributes (path and query), decoded. */
export function pkcs11Attributes(uri: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const part of uri.replace(/^pkcs11:/, '').split(/[;?&]/)) {
    const i = part.indexOf('=');
    if (i > 0) m.set(part.slice(0, i), decodeURIComponent(part.slice(i + 1)));
  }
  return m;
}

/** Any text with every `pin-value=...` replaced by `pin-value=***` (for messages and logs). */
export function maskPin(text: string): string {
  return text.replace(/pin-value=[^;?&\s)]*/g, 'pin-value=***');
}
