/**
 * Bounds on an alert as it is stored (a Firestore entity: at most 1 MiB), published and logged (a
 * Cloud Logging LogEntry: at most 256 KB, and the ALERT line is what pages). An alert quotes what
 * others wrote (a certificate identity, a tag name, a log's error text), so each text is bounded and
 * the evidence as a whole is capped, with a marker saying what was cut (logging/bounded.ts).
 */
import {
  boundOptional,
  boundText,
  fitJson,
  type JsonFit,
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

const EVIDENCE_FIT: JsonFit = {
  maxBytes: MAX_EVIDENCE_BYTES,
  maxStringChars: MAX_EVIDENCE_STRING_CHARS,
  // The schema's fields (alert.ts EvidenceSchema), in its order, are kept before others.
  first: [
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
  ],
  keepArrayPrefix: true,
  marker: EVIDENCE_TRUNCATED,
  refits: true,
  // MAX_EVIDENCE_BYTES leaves the marker aside.
  markerRoom: 0,
  markerChars: 2048,
  describeWhole: (bytes, sha256) => `the evidence was ${bytes} bytes of JSON (sha256:${sha256})`,
};

/**
 * `evidence` with each string bounded and, when its JSON is still over MAX_EVIDENCE_BYTES, as many
 * of its fields as fit (the schema's own first, a long array's first items), plus EVIDENCE_TRUNCATED.
 * Bounding twice changes nothing.
 */
export function boundEvidence(evidence: Evidence): Evidence {
  return fitJson(evidence, EVIDENCE_FIT) as Evidence;
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
