import { InvalidInputError } from '../../errors.ts';

/**
 * Nesting allowed in a canonicalised value. Rekor bodies and SET payloads nest a handful of levels;
 * the bound keeps hostile input (and cycles) from exhausting the stack with a RangeError.
 */
export const CANONICAL_JSON_MAX_DEPTH = 64;

/**
 * Canonical JSON as Rekor and sigstore use it (RFC 8785 for the values Rekor bodies hold: keys
 * sorted, no whitespace). Bodies, signed entry timestamps and intoto hashes depend on exact bytes.
 * Throws InvalidInputError for values nested deeper than CANONICAL_JSON_MAX_DEPTH.
 */
export function canonicalJson(value: unknown): string {
  return canonical(value, 0);
}

function canonical(value: unknown, depth: number): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (depth >= CANONICAL_JSON_MAX_DEPTH) {
    throw new InvalidInputError(`JSON nested deeper than ${CANONICAL_JSON_MAX_DEPTH} levels`, {
      maxDepth: CANONICAL_JSON_MAX_DEPTH,
    });
  }
  if (Array.isArray(value))
    return `[${value.map((v) => canonical(v === undefined ? null : v, depth + 1)).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(obj[k], depth + 1)}`).join(',')}}`;
}
