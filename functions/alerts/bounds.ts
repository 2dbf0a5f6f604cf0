/**
 * Bounds on an alert as it is stored (a Firestore entity: at most 1 MiB), published and logged (a
 * Cloud Logging LogEntry: at most 256 KB, and the ALERT line is what pages). An alert quotes what
 * others wrote (a certificate identity, a tag name, a log's error text), so each text is bounded and
 * the evidence as a whole is capped, with a marker saying what was cut (logging/bounded.ts).
 */
import crypto from 'node:crypto';
import {
  boundOptional,
  boundStrings,
  boundText,
  jsonBytes,
  MAX_IDENTITY_CHARS,
  MAX_REASON_CHARS,
} from '../logging/bounded.ts';
import { type Alert, type AlertInput, type Evidence, storedAlertKey } from './alert.ts';

export const MAX_SUBJECT_CHARS = MAX_IDENTITY_CHARS;
export const MAX_SUMMARY_CHARS = MAX_REASON_CHARS;
/** Each string in the evidence. */
export const MAX_EVIDENCE_STRING_CHARS = MAX_REASON_CHARS;
/** The evidence as JSON, the truncation marker aside. */
export const MAX_EVIDENCE_BYTES = 64 * 1024;
/** The field of evidence that was cut: what was cut, and the size and hash of the whole. */
export const EVIDENCE_TRUNCATED = 'evidenceTruncated';

/** Evidence fields in the schema's order (alert.ts EvidenceSchema) come first when some must go. */
const FIRST = [
  'image',
  'digest',
  'tag',
  'logUrl',
  'logIndex',
  'uuid',
  'entryBodyDigest',
  'keyVersion',
  'identity',
  'verifierOutput',
  'checkpoints',
];
const rank = (key: string) => {
  const i = FIRST.indexOf(key);
  return i === -1 ? FIRST.length : i;
};

/**
 * `evidence` with each string bounded and, when its JSON is still over MAX_EVIDENCE_BYTES, as many
 * of its fields as fit (the schema's own first, a long array's first items), plus EVIDENCE_TRUNCATED.
 * Bounding twice changes nothing.
 */
export function boundEvidence(evidence: Evidence): Evidence {
  const bounded = boundStrings(evidence, MAX_EVIDENCE_STRING_CHARS) as Record<string, unknown>;
  // A marker left by an earlier bound is not counted: bounding again keeps it as it is.
  const { [EVIDENCE_TRUNCATED]: _marker, ...fields } = bounded;
  if (jsonBytes(fields) <= MAX_EVIDENCE_BYTES) return bounded as Evidence;
  const whole = JSON.stringify(evidence);
  const entries = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => rank(a) - rank(b));
  const out: Record<string, unknown> = {};
  const cut: string[] = [];
  let used = 2; // {}
  for (const [key, value] of entries) {
    const head = jsonBytes(key) + 2; // "key": and a comma
    if (used + head + jsonBytes(value) <= MAX_EVIDENCE_BYTES) {
      out[key] = value;
      used += head + jsonBytes(value);
      continue;
    }
    if (Array.isArray(value)) {
      const kept: unknown[] = [];
      let size = head + 2;
      for (const item of value) {
        const cost = jsonBytes(item) + 1;
        if (used + size + cost > MAX_EVIDENCE_BYTES) break;
        kept.push(item);
        size += cost;
      }
      if (kept.length > 0) {
        out[key] = kept;
        used += size;
      }
      cut.push(`${key} (${kept.length} of ${value.length} kept)`);
      continue;
    }
    cut.push(key);
  }
  const hash = crypto.createHash('sha256').update(whole, 'utf8').digest('hex');
  out[EVIDENCE_TRUNCATED] = boundText(
    `the evidence was ${Buffer.byteLength(whole, 'utf8')} bytes of JSON (sha256:${hash}); cut: ${cut.join(', ')}`,
    2048,
  );
  return out as Evidence;
}

/** An alert input with its subject, summary and evidence bounded (the key is alert.ts alertKey's). */
export function boundAlertInput(input: AlertInput): AlertInput {
  return {
    ...input,
    subject: boundText(input.subject, MAX_SUBJECT_CHARS),
    summary: boundText(input.summary, MAX_SUMMARY_CHARS),
    evidence: boundEvidence(input.evidence),
  };
}

/** An alert with every text of others bounded; one bounded already is returned equal. */
export function boundAlert(alert: Alert): Alert {
  const resolvedReason = boundOptional(alert.resolvedReason, MAX_REASON_CHARS);
  return {
    ...alert,
    key: storedAlertKey(alert.key),
    subject: boundText(alert.subject, MAX_SUBJECT_CHARS),
    summary: boundText(alert.summary, MAX_SUMMARY_CHARS),
    evidence: boundEvidence(alert.evidence),
    ...(resolvedReason === undefined ? {} : { resolvedReason }),
  };
}
