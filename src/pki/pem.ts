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

/** Largest PEM, base64 or DER input read at all (a CA bundle is far smaller). */
export const MAX_INPUT_BYTES = 1024 * 1024;
/** Most PEM blocks read from one input. */
export const MAX_PEM_BLOCKS = 256;

function tooLarge(n: number): never {
  throw new ZtError(
    'PEM_MALFORMED',
    `the input of ${n} bytes is larger than the ${MAX_INPUT_BYTES}-byte limit`,
    {
      rule: 'input-too-large',
    },
  );
}

const B64_ALPHABET = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/')
  B64_ALPHABET[c.charCodeAt(0)] = 1;

/**
 * True when `s` is base64 (any line layout, padding only at the end). One pass over the
 * characters: a regex over a 1 MiB slice of a larger string costs several times more.
 */
function isBase64(s: string): boolean {
  let n = 0;
  let pad = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13 || c === 32 || c === 9) continue;
    if (c === 61) {
      if (++pad > 2) return false;
    } else if (pad || c > 127 || !B64_ALPHABET[c]) return false;
    n++;
  }
  return n > 0 && n % 4 !== 1;
}

/** The base64 body of one PEM block as DER: header lines ("Proc-Type: ...") skipped, whitespace ignored. */
function pemBody(body: string, label: string): Buffer {
  // Encrypted legacy PEM has "Proc-Type:" headers; keep them out of the base64.
  const text = body.includes(':')
    ? body
        .split('\n')
        .filter((l) => !l.includes(':'))
        .join('\n')
    : body;
  if (!isBase64(text) && text.trim() !== '') {
    throw new ZtError('PEM_MALFORMED', `PEM block "${label}" contains characters that are not base64`, {
      rule: 'pem-base64',
    });
  }
  // Node's decoder skips the whitespace the check allowed.
  return Buffer.from(text, 'base64');
}

/**
 * Every PEM block in `text`, in order; text between blocks (openssl's "subject=" lines) is
 * ignored. One forward scan with indexOf, so the time is linear in the input whatever it holds.
 */
export function parsePem(text: string): PemBlock[] {
  if (text.length > MAX_INPUT_BYTES) tooLarge(text.length);
  const out: PemBlock[] = [];
  let pos = 0;
  for (;;) {
    const begin = text.indexOf('-----BEGIN ', pos);
    if (begin < 0) break;
    const labelStart = begin + 11;
    const labelEnd = text.indexOf('-----', labelStart);
    if (labelEnd < 0 || labelEnd - labelStart > 64) {
      throw new ZtError('PEM_MALFORMED', 'a PEM BEGIN line is not closed by "-----"', { rule: 'pem-begin' });
    }
    const label = text.slice(labelStart, labelEnd);
    if (!/^[A-Z0-9 #]+$/.test(label)) {
      throw new ZtError('PEM_MALFORMED', `PEM label "${label.slice(0, 64)}" is not valid`, {
        rule: 'pem-label',
      });
    }
    const bodyStart = labelEnd + 5;
    const end = text.indexOf('-----END ', bodyStart);
    if (end < 0) {
      throw new ZtError(
        'PEM_MALFORMED',
        `PEM block "${label}" has a BEGIN line without a matching END line`,
        {
          rule: 'pem-no-end',
        },
      );
    }
    const trailer = `-----END ${label}-----`;
    if (!text.startsWith(trailer, end)) {
      throw new ZtError('PEM_MALFORMED', `PEM block "${label}" ends with a different END line`, {
        rule: 'pem-end-mismatch',
      });
    }
    const body = text.slice(bodyStart, end);
    if (body.includes('-----')) {
      throw new ZtError('PEM_MALFORMED', `PEM block "${label}" contains another PEM line inside it`, {
        rule: 'pem-nested',
      });
    }
    if (out.length >= MAX_PEM_BLOCKS) {
      throw new ZtError('PEM_MALFORMED', `the input has more than ${MAX_PEM_BLOCKS} PEM blocks`, {
        rule: 'pem-too-many',
      });
    }
    out.push({ label, der: pemBody(body, label) });
    pos = end + trailer.length;
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
  if (input.length > MAX_INPUT_BYTES) tooLarge(input.length);
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
  const text = buf.toString('latin1');
  if (isBase64(text)) {
    const der = Buffer.from(text, 'base64');
    if (der.length > 0 && der[0] === 0x30) return [der];
  }
  throw new ZtError('PEM_MALFORMED', `expected ${what} as PEM, base64 or DER; the input is none of these`);
}
