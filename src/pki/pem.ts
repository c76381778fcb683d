/** PEM and base64 framing, plus "whatever the user gave us" input detection (PEM, base64 or DER). */
import { ZtError } from '../errors.ts';

export interface PemBlock {
  label: string;
  der: Buffer;
}

/** Base64 in 64-column lines, each ending with a newline (what EST clients and openssl expect). */
export function base64Lines(der: Buffer): string {
  const b64 = der.toString('base64');
  let out = '';
  for (let i = 0; i < b64.length; i += 64) out += b64.slice(i, i + 64) + '\n';
  return out;
}

/** One PEM block with the given label. */
export function toPem(label: string, der: Buffer): string {
  return `-----BEGIN ${label}-----\n${base64Lines(der)}-----END ${label}-----\n`;
}

const BLOCK = /-----BEGIN ([A-Z0-9 #]+)-----([\s\S]*?)-----END \1-----/g;
const B64 = /^[A-Za-z0-9+/=\s]*$/;

/** Every PEM block in `text`, in order; text between blocks (openssl's "subject=" lines) is ignored. */
export function parsePem(text: string): PemBlock[] {
  const out: PemBlock[] = [];
  for (const m of text.matchAll(BLOCK)) {
    const body = m[2];
    // Encrypted legacy PEM has "Proc-Type:" headers; keep them out of the base64.
    const lines = body.split(/\r?\n/).filter((l) => l.trim() !== '' && !l.includes(':'));
    const b64 = lines.join('');
    if (!B64.test(b64))
      throw new ZtError('PEM_MALFORMED', `PEM block "${m[1]}" contains characters that are not base64`);
    out.push({ label: m[1], der: Buffer.from(b64, 'base64') });
  }
  if (out.length === 0 && text.includes('-----BEGIN')) {
    throw new ZtError('PEM_MALFORMED', 'PEM input has a BEGIN line without a matching END line');
  }
  return out;
}

/** True when the input looks like PEM text. */
export function isPem(input: Buffer | string): boolean {
  const s = typeof input === 'string' ? input : input.subarray(0, 4096).toString('latin1');
  return s.includes('-----BEGIN ');
}

/**
 * Decodes input that may be PEM (any number of blocks with `labels`), bare base64 in any line layout,
 * or raw DER, into DER values. Used wherever users paste or upload certificates.
 */
export function decodeInput(input: Buffer | string, labels: string[], what: string): Buffer[] {
  if (isPem(input)) {
    const blocks = parsePem(typeof input === 'string' ? input : input.toString('latin1'));
    const wanted = blocks.filter((b) => labels.includes(b.label));
    if (wanted.length === 0) {
      const found = blocks.map((b) => b.label).join(', ');
      throw new ZtError('PEM_MALFORMED', `expected ${what} (PEM "${labels[0]}"), found PEM blocks: ${found}`);
    }
    return wanted.map((b) => b.der);
  }
  const buf = typeof input === 'string' ? Buffer.from(input, 'latin1') : input;
  if (buf.length === 0) throw new ZtError('PEM_MALFORMED', `expected ${what}, got empty input`);
  if (buf[0] === 0x30) return [buf];
  const text = buf.toString('latin1').trim();
  if (B64.test(text) && text.length > 0) {
    const der = Buffer.from(text.replace(/\s+/g, ''), 'base64');
    if (der.length > 0 && der[0] === 0x30) return [der];
  }
  throw new ZtError('PEM_MALFORMED', `expected ${what} as PEM, base64 or DER; the input is none of these`);
}
