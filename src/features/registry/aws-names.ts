/**
 * AWS IoT's name rules (MODEL patterns): things, thing types, thing groups and billing groups,
 * thing attributes. Names that break them are refused with what to change, since AWS refuses
 * them too and templates must port both ways.
 */

const RESOURCE_NAME = /^[a-zA-Z0-9:_-]{1,128}$/;
const ATTRIBUTE_NAME = /^[a-zA-Z0-9_.,@/:#-]{1,128}$/;
const ATTRIBUTE_VALUE = /^[a-zA-Z0-9_.,@/:#=[\]-]{0,800}$/;

/** The characters of `value` a pattern's class does not allow, for the message. */
function offending(value: string, allowed: RegExp): string {
  const bad = [...new Set([...value].filter((c) => !allowed.test(c)))];
  return bad.map((c) => (c === ' ' ? 'a space' : JSON.stringify(c))).join(', ');
}

/** Why `name` cannot name a thing, thing type, thing group or billing group; undefined when it can. */
export function resourceNameProblem(name: string): string | undefined {
  if (RESOURCE_NAME.test(name)) return undefined;
  if (name.length === 0) return 'it is empty';
  if (name.length > 128) return `it is ${name.length} characters long; the limit is 128`;
  return `it holds ${offending(name, /[a-zA-Z0-9:_-]/)}; AWS allows only letters, digits, ":", "_" and "-"`;
}

/** Why `name` cannot name a thing attribute; undefined when it can. */
export function attributeNameProblem(name: string): string | undefined {
  if (ATTRIBUTE_NAME.test(name)) return undefined;
  if (name.length === 0 || name.length > 128) return 'it must be 1 to 128 characters long';
  return `it holds ${offending(name, /[a-zA-Z0-9_.,@/:#-]/)}; AWS allows letters, digits and _ . , @ / : # -`;
}

/** Why `value` cannot be a thing attribute's value; undefined when it can. */
export function attributeValueProblem(value: string): string | undefined {
  if (ATTRIBUTE_VALUE.test(value)) return undefined;
  if (value.length > 800) return `it is ${value.length} characters long; the limit is 800`;
  return `it holds ${offending(value, /[a-zA-Z0-9_.,@/:#=[\]-]/)}; AWS allows letters, digits and _ . , @ / : # = [ ] - (no spaces)`;
}

/** Most attributes a thing may have: 3 without a thing type, 50 with one (AWS quota). */
export function maxAttributes(hasThingType: boolean): number {
  return hasThingType ? 50 : 3;
}
