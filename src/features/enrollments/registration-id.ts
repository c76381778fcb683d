/** DPS registration ID rules: for X.509 the leaf certificate's CN, compared case-insensitively. */
import { ZtError } from '../../errors.ts';

const RE = /^[A-Za-z0-9._:-]*[A-Za-z0-9-]$/;

/** Why `id` is not a valid registration ID, or undefined when it is. */
export function registrationIdProblem(id: string | undefined): string | undefined {
  if (!id) return 'it is empty (the device certificate needs a subject CN)';
  if (id.length > 128) return `it is ${id.length} characters long; the limit is 128`;
  if (!RE.test(id)) {
    return 'it may hold only letters, digits, "-", ".", "_" and ":" and must end in a letter, digit or "-"';
  }
  return undefined;
}

/** Throws REGISTRATION_ID_INVALID with the rule that `id` breaks. */
export function assertRegistrationId(id: string | undefined, what = 'registration ID'): string {
  const problem = registrationIdProblem(id);
  if (problem) throw new ZtError('REGISTRATION_ID_INVALID', `${what} "${id ?? ''}" is not valid: ${problem}`);
  return id!;
}
