/**
 * Bounds for text others wrote (a certificate's SAN or issuer, a statement's predicate type, a
 * registry's error, a tag name) where it is stored, shown or logged: a signature may be megabytes,
 * and Firestore refuses an entity over 1 MiB, Cloud Logging a LogEntry over 256 KB. What is cut is
 * said, with the whole text's length and SHA-256, so the evidence stays useful and two values that
 * differ only past the kept prefix stay distinct.
 *
 * `fitJson` caps a whole object the same way (an alert's evidence, a log line): the fields that do
 * not fit are left out and named, with the whole's size and hash.
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

/** `value` as JSON, a bigint as its digits (JSON.stringify throws on one); '' where JSON has nothing. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v)) ?? '';
}

/** Size of `value` as JSON in UTF-8 bytes (what Firestore and Cloud Logging count, near enough). */
export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(toJson(value), 'utf8');
}

/** How `fitJson` fits an object under a cap: the cap, what to keep first, and the cut marker. */
export interface JsonFit {
  /** The most UTF-8 bytes the object's JSON may take. */
  maxBytes: number;
  /** Each string's bound (`boundStrings`). */
  maxStringChars: number;
  /** Fields always kept, first, whatever their size: a log line's own. */
  pinned?: readonly string[];
  /** Fields tried first, in this order, when some must go; the others follow in their own order. */
  first?: readonly string[];
  /** An array that does not fit whole keeps as many of its first items as fit, instead of going. */
  keepArrayPrefix?: boolean;
  /** The field that names what was cut; a field of that name that was kept takes its words. */
  marker: string;
  /**
   * The value may carry the marker of an earlier fit (evidence is bounded again when it is stored
   * and when it is logged): that one is not counted, so fitting again changes nothing.
   */
  refits?: boolean;
  /** Bytes of the cap kept for that field: 0 where the cap leaves it aside. */
  markerRoom: number;
  /** Its most characters. */
  markerChars: number;
  /** Its opening, saying what the whole was by its UTF-8 size and SHA-256; `; cut: …` follows. */
  describeWhole: (bytes: number, sha256: string) => string;
}

/**
 * `value` with every string bounded; if its JSON is still over `fit.maxBytes`, as many of its
 * fields as fit, tried in order (each whole, or an array's first items), so what does not fit is
 * left out and named in `fit.marker` with the whole's size and hash. `json` is `value`'s JSON when
 * the caller has already written it. With `fit.refits`, fitting twice changes nothing.
 */
export function fitJson(
  value: Record<string, unknown>,
  fit: JsonFit,
  json?: string,
): Record<string, unknown> {
  const bounded = boundStrings(value, fit.maxStringChars) as Record<string, unknown>;
  const { [fit.marker]: _earlierMarker, ...unmarked } = bounded;
  // An earlier fit's marker is not counted: fitting again keeps it as it is.
  const fields = fit.refits ? unmarked : bounded;
  if (jsonBytes(fields) <= fit.maxBytes) return bounded;
  const whole = json ?? toJson(value);
  const pinned = fit.pinned ?? [];
  const first = fit.first ?? [];
  const rank = (key: string) => {
    const i = first.indexOf(key);
    return i === -1 ? first.length : i;
  };
  const out: Record<string, unknown> = {};
  for (const key of pinned) out[key] = fields[key];
  const cut: string[] = [];
  let used = jsonBytes(out) + fit.markerRoom;
  const rest = Object.entries(fields)
    .filter(([key]) => !pinned.includes(key))
    .sort(([a], [b]) => rank(a) - rank(b));
  for (const [key, field] of rest) {
    const fieldBytes = jsonBytes(field);
    // JSON leaves it out (undefined, a function): nothing to keep, nothing to name as cut.
    if (fieldBytes === 0) continue;
    const head = jsonBytes(key) + 2; // "key": and a comma
    if (used + head + fieldBytes <= fit.maxBytes) {
      out[key] = field;
      used += head + fieldBytes;
      continue;
    }
    if (fit.keepArrayPrefix && Array.isArray(field)) {
      const kept: unknown[] = [];
      let size = head + 2; // []
      for (const item of field) {
        const cost = jsonBytes(item) + 1;
        if (used + size + cost > fit.maxBytes) break;
        kept.push(item);
        size += cost;
      }
      if (kept.length > 0) {
        out[key] = kept;
        used += size;
      }
      cut.push(`${key} (${kept.length} of ${field.length} kept)`);
      continue;
    }
    cut.push(key);
  }
  const hash = crypto.createHash('sha256').update(whole, 'utf8').digest('hex');
  out[fit.marker] = boundText(
    `${fit.describeWhole(Buffer.byteLength(whole, 'utf8'), hash)}; cut: ${cut.join(', ')}`,
    fit.markerChars,
  );
  return out;
}

/**
 * Line breaks inside a value of others' text (CR LF as one): a reader, a terminal or a chat client
 * starts a new line at each, so outputs that keep a value on its line show them instead.
 */
export const LINE_BREAKS = /\r\n|[\n\r\u000b\u000c\u0085\u2028\u2029]/g;

/**
 * Characters that change what text displays without showing themselves: ASCII controls but tab
 * and newline, DEL, C1 controls, the bidirectional marks, embeddings, overrides and isolates that
 * reorder it (Unicode TR9; "Trojan Source"), and the zero-width characters that make two names
 * look alike (a SAN `release@vendor\u200b.com` reads as `release@vendor.com`).
 */
const UNPRINTABLE =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g;

/** `text` with each such character shown as its `\uXXXX` escape. */
export function showUnprintable(text: string): string {
  return text.replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
