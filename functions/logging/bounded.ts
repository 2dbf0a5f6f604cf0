/**
 * Bounds for text others wrote (a certificate's SAN or issuer, a statement's predicate type, a
 * registry's error, a tag name) where it is stored, shown or logged: a signature may be megabytes,
 * and Firestore refuses an entity over 1 MiB, Cloud Logging a LogEntry over 256 KB. What is cut is
 * said, with the whole text's length and SHA-256, so the evidence stays useful and two values that
 * differ only past the kept prefix stay distinct.
 *
 * Only for what is stored, shown and logged: a decision (which signer a signature claims, whether
 * two identities are equal) is made on the full value, never on a bounded one.
 */
import crypto from 'node:crypto';

/** One identity-like value: a SAN, an issuer, a predicate type, a media type, a reference. */
export const MAX_IDENTITY_CHARS = 1024;
/** One sentence built from such values: a finding's reason, a verdict's reason, an alert summary. */
export const MAX_REASON_CHARS = 4096;
/** The shortest bound: a marker alone is about 100 characters. */
const MIN_BOUND = 160;

/**
 * `text` if it has at most `max` characters (UTF-16 code units); otherwise its prefix and a marker
 * `…[truncated: N bytes, sha256:HEX]` (N and the hash of the whole text's UTF-8), `max` characters
 * in all. Bounding twice changes nothing.
 */
export function boundText(text: string, max: number = MAX_IDENTITY_CHARS): string {
  const limit = Math.max(MIN_BOUND, Math.floor(max));
  if (text.length <= limit) return text;
  const whole = Buffer.from(text, 'utf8');
  const marker = `…[truncated: ${whole.length} bytes, sha256:${crypto.createHash('sha256').update(whole).digest('hex')}]`;
  let keep = limit - marker.length;
  // Never end on half a surrogate pair.
  const last = text.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep--;
  return `${text.slice(0, keep)}${marker}`;
}

/** `boundText` for a value that may be absent. */
export function boundOptional(text: string | undefined, max?: number): string | undefined {
  return text === undefined ? undefined : boundText(text, max);
}

/** Below this depth a value is replaced rather than walked (evidence is a few levels deep). */
const MAX_DEPTH = 12;

/**
 * A copy of `value` (JSON-like) with every string bounded to `max` characters, object keys
 * included; cut below MAX_DEPTH. Other values are kept as they are.
 */
export function boundStrings(value: unknown, max: number = MAX_REASON_CHARS, depth = 0): unknown {
  if (typeof value === 'string') return boundText(value, max);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) return value.map((v) => boundStrings(v, max, depth + 1));
  if (value instanceof Date) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[boundText(k, MAX_IDENTITY_CHARS)] = boundStrings(v, max, depth + 1);
  }
  return out;
}

/** Size of `value` as JSON in UTF-8 bytes (what Firestore and Cloud Logging count, near enough). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/**
 * Line breaks inside a value of others' text (CR LF as one): a reader, a terminal or a chat client
 * starts a new line at each, so outputs that keep a value on its line show them instead.
 */
export const LINE_BREAKS = /\r\n|[\n\r\u000b\u000c\u0085\u2028\u2029]/g;
