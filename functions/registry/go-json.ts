/**
 * JSON read as Go's encoding/json reads it into a struct, which is how the registry (distribution),
 * containerd and cosign read manifests and payloads. Go matches a key to a field exactly or, failing
 * that, under Unicode simple case folding, and decodes every matching key, in document order, into
 * that one field: a string or number is overwritten (the last wins), but an array or object is decoded
 * INTO what the earlier key left (decode.go array(): "Decode into element" reuses v.Index(i)), so a
 * field the later list leaves out survives from the earlier one. JSON.parse keeps the last of two
 * identical keys whole, and two spellings apart. So `{"manifests":[A],"manifests":[B]}` is B to us and
 * A merged with B to the registry, and `{"manifests":[…],"Manifests":[…]}` is two lists to us.
 *
 * Hence: a document with a key twice in one object (exactly, or equal under Go's folding), at any
 * depth, is refused (parseGoJson, DuplicateKeyError); and a field is read under any spelling Go
 * accepts, but only when it is spelled one way (asGoStruct, AmbiguousFieldError). Never guessed at.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.ts';

const quoted = (keys: readonly string[]) => keys.map((k) => JSON.stringify(k)).join(', ');

/**
 * A field spelled more than one way in one object: Go decodes each into the one field (the last
 * scalar wins, arrays and objects are merged), JSON.parse keeps each.
 */
export class AmbiguousFieldError extends InvalidInputError {
  readonly field: string;
  /** The keys found, quoted and in document order, for messages. */
  readonly spelled: string;

  constructor(
    field: string,
    spellings: readonly string[],
    message = `field ${JSON.stringify(field)} is spelled more than one way (${quoted(spellings)})`,
    details: Record<string, unknown> = {},
  ) {
    super(message, { field, spellings, ...details });
    this.field = field;
    this.spelled = quoted(spellings);
  }
}

/**
 * A key twice in one object of a JSON text, exactly or under Go's folding (`"manifests"` twice, or
 * beside `"Manifests"`): `field` is its first spelling, `path` where the object is (`$`, `$.a[0]`).
 */
export class DuplicateKeyError extends AmbiguousFieldError {
  readonly path: string;
  /** The same spelling twice (not two spellings Go folds together). */
  readonly exact: boolean;

  constructor(path: string, first: string, again: string) {
    const what = first === again ? 'more than once' : `more than one way (${quoted([first, again])})`;
    super(first, [first, again], `the object at ${path} has the key ${JSON.stringify(first)} ${what}`, {
      path,
    });
    this.path = path;
    this.exact = first === again;
  }
}

/**
 * A key folded as Go folds it (encoding/json foldName). Exact for comparing with an ASCII field name:
 * the only non-ASCII runes whose fold set holds an ASCII letter are KELVIN SIGN (k) and LONG S (s);
 * any other non-ASCII rune is kept, so it never matches an ASCII name. Two keys it keeps apart that Go
 * would fold together (`"é"`, `"É"`) both fold to no ASCII field name, so no struct field merges them.
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

/**
 * Told of the text's tokens as the duplicate-key scan meets them, in document order: each object key
 * (decoded as Go decodes it) and each number as the text spells it. For what the parsed value cannot
 * say (a key JavaScript drops, how a number was written) without a second tokenizer of the same text.
 */
export interface JsonTokenListener {
  readonly key?: (key: string) => void;
  readonly number?: (token: string) => void;
}

/**
 * JSON.parse, refusing what Go would read otherwise: a text with a key twice in one object, exactly
 * or under Go's folding, at any depth, throws DuplicateKeyError. Not JSON throws JSON.parse's
 * SyntaxError, before any token is scanned or reported to `listener`. In the map-valued fields Go
 * keeps `"a"` and `"A"` apart (MAP_VALUED_FIELDS), so only exact duplicates are refused there;
 * elsewhere the scan cannot tell a map from a struct.
 */
export function parseGoJson(text: string, listener?: JsonTokenListener): unknown {
  const value: unknown = JSON.parse(text);
  assertNoDuplicateKeys(text, listener);
  return value;
}

/** An open object (its keys so far, folded, to their first spelling, and its current key) or array. */
type Frame =
  | { keys: Map<string, string>; key: string; expectKey: boolean; map: boolean }
  | { keys: undefined; index: number };

/**
 * Fields whose value Go decodes into a map, where `"a"` and `"A"` are two keys (OCI annotations,
 * cosign's optional claims): only exact duplicates are refused in them.
 */
const MAP_VALUED_FIELDS = new Set(['annotations', 'optional']);

const QUOTE = 0x22; // "
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_OBJECT = 0x7b; // {
const OPEN_ARRAY = 0x5b; // [
const CLOSE_OBJECT = 0x7d; // }
const CLOSE_ARRAY = 0x5d; // ]
const MINUS = 0x2d;
const DIGIT_0 = 0x30;
const DIGIT_9 = 0x39;
/** What a JSON number token is made of: `-+.eE` and digits. */
const NUMBER_CHARS = new Set([...'-+.eE0123456789'].map((ch) => ch.charCodeAt(0)));

/**
 * Throws DuplicateKeyError at the first object holding a key twice (see parseGoJson), telling
 * `listener` of each key and number met before that. `text` must be JSON that JSON.parse accepted: the
 * scan only tracks strings, brackets and commas (and numbers, when listened for), trusting the grammar
 * for the rest (on other text it ends, having thrown or not, and means nothing). One pass, each
 * character looked at once; nesting is an explicit stack, so a document nested a million deep costs
 * memory, never the call stack.
 */
export function assertNoDuplicateKeys(text: string, listener?: JsonTokenListener): void {
  const onNumber = listener?.number;
  const stack: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      // A string token: find its closing quote, skipping each escaped character (\" or \\).
      let end = i + 1;
      while (end < text.length && text.charCodeAt(end) !== QUOTE) {
        end += text.charCodeAt(end) === BACKSLASH ? 2 : 1;
      }
      const top = stack.at(-1);
      // In an object, the string after `{` or `,` is a key; the one after `:` is a value.
      if (top?.keys !== undefined && top.expectKey) {
        const token = text.slice(i, end + 1);
        // Decoded as Go decodes it: escapes (`"\u006danifests"` is "manifests"), and a lone
        // surrogate as U+FFFD.
        const key = (
          token.includes('\\') ? (JSON.parse(token) as string) : token.slice(1, -1)
        ).toWellFormed();
        const folded = top.map ? key : goFoldedName(key);
        const first = top.keys.get(folded);
        if (first !== undefined) throw new DuplicateKeyError(pathOf(stack), first, key);
        top.keys.set(folded, key);
        top.key = key;
        top.expectKey = false;
        listener?.key?.(key);
      }
      i = end;
    } else if (onNumber !== undefined && (c === MINUS || (c >= DIGIT_0 && c <= DIGIT_9))) {
      // Outside a string, only a number starts with `-` or a digit; it runs to the first other character.
      let end = i + 1;
      while (end < text.length && NUMBER_CHARS.has(text.charCodeAt(end))) end++;
      onNumber(text.slice(i, end));
      i = end - 1;
    } else if (c === OPEN_OBJECT) {
      const parent = stack.at(-1);
      // Inside a map the values are maps too (cosign's optional claims decode to map[string]any).
      const map = parent?.keys !== undefined && (parent.map || MAP_VALUED_FIELDS.has(parent.key));
      stack.push({ keys: new Map(), key: '', expectKey: true, map });
    } else if (c === OPEN_ARRAY) {
      stack.push({ keys: undefined, index: 0 });
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) {
      stack.pop(); // the object's keys are forgotten: the same key in another object is fine
    } else if (c === COMMA) {
      const top = stack.at(-1); // always there in JSON: a comma is inside an object or array
      if (top?.keys !== undefined) top.expectKey = true;
      else if (top !== undefined) top.index++;
    }
  }
}

/** Where the innermost open object is, as `$.manifests[0]`, for messages. */
function pathOf(stack: readonly Frame[]): string {
  let path = '$';
  for (const frame of stack.slice(0, -1)) {
    if (frame.keys === undefined) path += `[${frame.index}]`;
    else path += /^[A-Za-z_$][\w$]*$/.test(frame.key) ? `.${frame.key}` : `[${JSON.stringify(frame.key)}]`;
  }
  return path;
}
