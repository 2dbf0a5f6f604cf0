/**
 * One alert schema for the whole product. Every part that finds something wrong raises an
 * `AlertInput` through an `AlertSink`; the sinks (Firestore, Pub/Sub `signing-alerts`, an ALERT
 * log line, an optional webhook) deliver it. The same incident has the same `key`, so it is one
 * alert with a count, re-opened if it recurs after it was resolved.
 */
import crypto from 'node:crypto';
import { z } from 'zod';
import { boundText, MAX_IDENTITY_CHARS } from '../logging/bounded.ts';

export const AlertKindSchema = z.enum([
  'rogue-signature',
  'log-inconsistent',
  'log-tree-changed',
  'log-stalled',
  'checkpoint-invalid',
  'entry-unparseable',
  'unsigned-image',
  'signature-invalid',
  'signature-missing',
  'tag-moved',
  'key-disabled',
  'signing-failed',
  'signing-refused',
  'verification-stale',
]);
export type AlertKind = z.infer<typeof AlertKindSchema>;

export const SeveritySchema = z.enum(['LOW', 'MEDIUM', 'HIGH', 'CRITICAL']);
export type AlertSeverity = z.infer<typeof SeveritySchema>;

/** How severe, for comparing: LOW 0 up to CRITICAL 3 (the schema lists them in that order). */
export function severityRank(severity: AlertSeverity): number {
  return SeveritySchema.options.indexOf(severity);
}

export const EvidenceSchema = z
  .object({
    image: z.string().optional(),
    digest: z.string().optional(),
    tag: z.string().optional(),
    logUrl: z.string().optional(),
    logIndex: z.number().int().nonnegative().optional(),
    uuid: z.string().optional(),
    entryBodyDigest: z.string().optional(),
    checkpoints: z.array(z.string()).optional(),
    keyVersion: z.string().optional(),
    identity: z.string().optional(),
    verifierOutput: z.string().optional(),
  })
  .catchall(z.unknown());
export type Evidence = z.infer<typeof EvidenceSchema>;

/** What a detector raises. */
export const AlertInputSchema = z.object({
  kind: AlertKindSchema,
  severity: SeveritySchema,
  /** What the alert is about: an image reference, a log, a key version. */
  subject: z.string().min(1),
  summary: z.string().min(1),
  evidence: EvidenceSchema,
  /** Stable identity of the incident; defaults to kind + subject. */
  key: z.string().min(1).optional(),
  /**
   * Which occurrence of the incident this raise reports (reverifyImages: when the tag's verdict
   * changed). A raise of another occurrence than the open alert's is news (`changed`): a forgery
   * planted again while the first one's alert is still open pages again. The same occurrence raised
   * again (a delivery retried) is a repeat. Absent: severity and digest alone decide.
   */
  occurrence: z.string().min(1).max(200).optional(),
});
export type AlertInput = z.infer<typeof AlertInputSchema>;

export const AlertStateSchema = z.enum(['open', 'resolved']);

/** An alert as stored and published. */
export const AlertSchema = AlertInputSchema.extend({
  schemaVersion: z.literal(1),
  key: z.string().min(1),
  state: AlertStateSchema,
  count: z.number().int().positive(),
  firstSeen: z.string(),
  lastSeen: z.string(),
  /** The highest severity since the incident last opened: a rise past it is news, a flap under it is not. */
  peakSeverity: SeveritySchema.optional(),
  resolvedAt: z.string().optional(),
  /** Why it was resolved, as the resolver said. */
  resolvedReason: z.string().optional(),
  /**
   * The channels (notifier names) not yet told of the alert's last change (raised, re-opened,
   * changed or resolved, at `at`): a raise or resolve that failed part-way is completed by the next one.
   */
  undelivered: z
    .object({
      at: z.string(),
      status: z.enum(['new', 'reopened', 'changed', 'resolved']),
      channels: z.array(z.string()),
      /**
       * On a resolution: the raise it overtook (new, re-opened, changed) and the channels never told
       * of it. Each is told the raise, then the resolution, so a channel that was down when the
       * incident opened does not hear only that it closed.
       */
      overtook: z
        .object({ status: z.enum(['new', 'reopened', 'changed']), channels: z.array(z.string()) })
        .optional(),
    })
    .optional(),
});
export type Alert = z.infer<typeof AlertSchema>;

/**
 * An incident's key as stored: a key (a subject) made of others' text may be as long as that text, so
 * a long one is its prefix, its length and its SHA-256 (logging/bounded.ts): two keys stay two.
 * Every key a caller gives is taken through this, so the full key and the stored one name one alert.
 */
export function storedAlertKey(key: string): string {
  return boundText(key, MAX_IDENTITY_CHARS);
}

export function alertKey(input: Pick<AlertInput, 'kind' | 'subject' | 'key'>): string {
  return storedAlertKey(input.key ?? `${input.kind}:${input.subject}`);
}

/** Firestore document ids may not contain `/`: the stored id is a hash of the (stored) key. */
export function alertDocumentId(key: string): string {
  return crypto.createHash('sha256').update(storedAlertKey(key)).digest('hex');
}

export interface AlertSink {
  /** Raises (or re-raises) an incident. */
  raise(alert: AlertInput): Promise<void>;
  /** Marks the incident with this key resolved, if it is open. */
  resolve(key: string, reason: string): Promise<void>;
}
