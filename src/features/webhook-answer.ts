/**
 * Reading a webhook's answer: at most `maxBytes` of it, so a receiver that streams without end
 * cannot make the server buffer it; then JSON.
 */

/** Largest webhook answer read (allocation and pre-provisioning hooks answer a small JSON object). */
export const MAX_WEBHOOK_ANSWER_BYTES = 64 * 1024;

/** The answer's JSON; throws when it is larger than `maxBytes` or not JSON (the message says which). */
export async function readJsonAnswer(res: Response, maxBytes = MAX_WEBHOOK_ANSWER_BYTES): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (res.body) {
    for await (const chunk of res.body) {
      size += chunk.byteLength;
      if (size > maxBytes) {
        await res.body.cancel().catch(() => undefined);
        throw new Error(`its answer is larger than ${maxBytes} bytes`);
      }
      chunks.push(chunk);
    }
  }
  const text = Buffer.concat(chunks).toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    throw new Error('its answer is not JSON');
  }
}
