/** Write-only secrets: answers show a mask, and a mask sent back means "keep the stored one". */
import Type from 'typebox';

/** What an answer shows in place of a stored secret. */
export const MASKED_SECRET = '********';

/** The secret to store: the stored one when the caller sent back the mask, else what it sent. */
export function unmasked(sent: string | undefined, stored: string | undefined): string | undefined {
  return sent === MASKED_SECRET ? stored : sent;
}

/** An HMAC key of 16 to 256 characters, or the mask an answer showed (keeps the stored key). */
export function hmacSecretSchema(description: string) {
  return Type.Union([Type.String({ minLength: 16, maxLength: 256 }), Type.Literal(MASKED_SECRET)], {
    description: `${description}; write-only: answers show ${MASKED_SECRET}, and sending that back keeps the stored one`,
  });
}
