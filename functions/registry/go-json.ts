/**
 * JSON read as Go's encoding/json reads it into a struct, which is how the registry (distribution),
 * containerd and cosign read manifests and payloads. Go matches a key to a field exactly or, failing
 * that, under Unicode simple case folding, and with several matching keys keeps the last; JSON.parse
 * keeps them apart. So `{"manifests":[…],"Manifests":[…]}` is two lists to us and one (the second)
 * to the registry. Here a field is read under any spelling Go accepts, but only when it is spelled
 * one way: a document that spells it more than one way is refused, never guessed at.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.ts';

/** A field spelled more than one way in one object: Go would read the last, JSON.parse keeps each. */
export class AmbiguousFieldError extends InvalidInputError {
  readonly field: string;
  /** The keys found, quoted and in document order, for messages. */
  readonly spelled: string;

  constructor(field: string, spellings: readonly string[]) {
    const spelled = spellings.map((s) => JSON.stringify(s)).join(', ');
    super(`field ${JSON.stringify(field)} is spelled more than one way (${spelled})`, { field, spellings });
    this.field = field;
    this.spelled = spelled;
  }
}

/**
 * A key folded as Go folds it (encoding/json foldName). Exact for comparing with an ASCII field name,
 * the only use here: the only non-ASCII runes whose fold set holds an ASCII letter are KELVIN SIGN (k)
 * and LONG S (s); any other non-ASCII rune is kept, so it never matches an ASCII name.
 */
export function goFoldedName(key: string): string {
  let folded = '';
  for (const ch of key) {
    folded += ch === '\u212A' ? 'K' : ch === '\u017F' ? 'S' : ch < '\x80' ? ch.toUpperCase() : ch;
  }
  return folded;
}

/** The keys of `object` that Go would read into the field named `field`. */
function spellingsOf(object: object, field: string): string[] {
  const folded = goFoldedName(field);
  return Object.keys(object).filter((key) => key === field || goFoldedName(key) === folded);
}

/**
 * An object's fields as Go reads them into a struct with these (ASCII) field names, under those exact
 * names; other keys are dropped. Anything but a plain object is returned as it is, for a schema to
 * judge. Throws AmbiguousFieldError when a field is spelled more than one way.
 */
export function asGoStruct(value: unknown, fields: readonly string[]): unknown {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  const struct: Record<string, unknown> = {};
  for (const field of fields) {
    const spellings = spellingsOf(value, field);
    if (spellings.length > 1) throw new AmbiguousFieldError(field, spellings);
    const [key] = spellings;
    if (key !== undefined) struct[field] = (value as Record<string, unknown>)[key];
  }
  return struct;
}

/** A zod schema for an object read as Go reads it into a struct with `fields` (see asGoStruct). */
export const goStruct = <T extends z.ZodType>(fields: readonly string[], schema: T) =>
  z.preprocess((value) => asGoStruct(value, fields), schema);
