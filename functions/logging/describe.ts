/**
 * Text for values others wrote (JSON read from a bundle, an in-toto statement, a payload, a log
 * entry; a value a library threw) where a reason quotes them. Never String(), a template literal
 * or `+` on such a value: those call its own `toString`/`valueOf`, which JSON can make a
 * non-function (`{"toString":1}`), and then throw a TypeError ("Cannot convert object to primitive
 * value") in the middle of judging a signature. Found by review: a junk bundle referrer anyone can
 * push made checkBundleSignature throw, the tag an error of the reverify pass, and its old `valid`
 * verdict stand for a day.
 */
import { boundText, MAX_IDENTITY_CHARS } from '../logging/bounded.ts';

/**
 * A string as it is, anything else as its JSON (or `(type)` where there is none: undefined, a
 * bigint, a cycle), bounded to `max` characters. Never throws.
 */
export function describeValue(value: unknown, max: number = MAX_IDENTITY_CHARS): string {
  if (typeof value === 'string') return boundText(value, max);
  try {
    const json = JSON.stringify(value);
    if (typeof json === 'string') return boundText(json, max);
  } catch {
    // A bigint, a cycle, or a toJSON that throws: described by its type alone.
  }
  return `(${value === null ? 'null' : typeof value})`;
}

/** What `err` says: an Error's message, anything else thrown described as a value. Never throws. */
export function errorMessage(err: unknown): string {
  try {
    if (err instanceof Error) return describeValue(err.message, Number.MAX_SAFE_INTEGER);
  } catch {
    // A `message` getter that throws.
  }
  return describeValue(err, Number.MAX_SAFE_INTEGER);
}

/** `err` as String() shows an Error (`TypeError: …`), for anything thrown. Never throws. */
export function describeError(err: unknown): string {
  let name: unknown;
  try {
    name = err instanceof Error ? err.name : undefined;
  } catch {
    name = undefined;
  }
  const message = errorMessage(err);
  return typeof name === 'string' && name !== '' ? `${name}: ${message}` : message;
}
