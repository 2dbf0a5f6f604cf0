/**
 * The durable record of alerts decides whether a raise is a new incident, a repeat of an open one,
 * or the re-opening of a resolved one. Notifiers (Pub/Sub, webhook) act on that decision, so a
 * recurring incident is one alert with a count, not a page per occurrence.
 */

import { boundText, MAX_REASON_CHARS } from '../logging/bounded.ts';
import {
  type Alert,
  type AlertInput,
  AlertInputSchema,
  AlertSchema,
  alertKey,
  severityRank,
  storedAlertKey,
} from './alert.ts';
import { boundAlert, boundAlertInput, MAX_SUBJECT_CHARS } from './bounds.ts';

/**
 * `changed`: an open incident recurred in a way its channels must hear of, though it is no new
 * incident: its severity rose, it now concerns another digest (a tag moved again), or the raise
 * names another occurrence (`occurrence`: a tag tampered with again while its alert is open).
 */
export type RaiseStatus = 'new' | 'repeat' | 'reopened' | 'changed';

export interface RaisedAlert {
  alert: Alert;
  status: RaiseStatus;
}

/**
 * Where alerts are kept (Firestore `alerts` in production). `channels` are the notifiers to tell
 * of a change; they stay `undelivered` on the record until `markDelivered` says they were told.
 */
export interface AlertRecorder {
  record(input: AlertInput, channels?: readonly string[]): Promise<RaisedAlert>;
  /**
   * Marks the alert resolved; undefined when there is no open alert with this key, unless its
   * resolution is still undelivered to some channel (then the resolved alert, to tell them).
   */
  markResolved(key: string, reason: string, channels?: readonly string[]): Promise<Alert | undefined>;
  /** Channels told of the change made at `at`; a newer change keeps its own list. */
  markDelivered(key: string, at: string, channels: readonly string[]): Promise<void>;
  /** Channels told the raise that the resolution made at `at` overtook (withOvertakenTold). */
  markOvertakenTold(key: string, at: string, channels: readonly string[]): Promise<void>;
  /** Alerts with a notice still owed to `channel` (to any channel without one), the longest owed first. */
  listOwed(limit: number, channel?: string): Promise<Alert[]>;
  /** The alert as it is stored now. */
  get(key: string): Promise<Alert | undefined>;
}

/** `alert` without `delivered` in its undelivered channels, if `at` is still its last change. */
export function withDelivered(alert: Alert, at: string, delivered: readonly string[]): Alert | undefined {
  const pending = alert.undelivered;
  if (pending === undefined || pending.at !== at) return undefined;
  const channels = pending.channels.filter((c) => !delivered.includes(c));
  const { undelivered: _, ...rest } = alert;
  if (channels.length === 0) return rest;
  const { overtook, ...notice } = pending;
  return { ...rest, undelivered: { ...notice, channels, ...overtookUntold(overtook, delivered) } };
}

type Overtook = NonNullable<NonNullable<Alert['undelivered']>['overtook']>;

/** The overtaken raise still owed once `told` have heard it: none left when every channel has. */
function overtookUntold(overtook: Overtook | undefined, told: readonly string[]): { overtook?: Overtook } {
  const untold = overtook?.channels.filter((c) => !told.includes(c)) ?? [];
  return untold.length > 0 ? { overtook: { ...overtook!, channels: untold } } : {};
}

/**
 * `alert` with `told` crossed off the raise its resolution overtook (they were told it, not yet
 * the resolution), if `at` is still its last change; undefined when there is nothing to cross off.
 */
export function withOvertakenTold(alert: Alert, at: string, told: readonly string[]): Alert | undefined {
  const pending = alert.undelivered;
  if (pending?.overtook === undefined || pending.at !== at) return undefined;
  const { overtook, ...notice } = pending;
  if (!overtook.channels.some((c) => told.includes(c))) return undefined;
  return { ...alert, undelivered: { ...notice, ...overtookUntold(overtook, told) } };
}

/** The pending notice a change leaves for `channels`. */
function pendingFor(
  at: string,
  status: 'new' | 'reopened' | 'changed' | 'resolved',
  channels: readonly string[],
): Pick<Alert, 'undelivered'> {
  return channels.length === 0 ? {} : { undelivered: { at, status, channels: [...channels] } };
}

/** JSON round trip: drops undefined values (Firestore rejects them) and anything not JSON. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The alert a raise leads to, given what was stored before (if anything). */
export function nextAlert(
  input: AlertInput,
  previous: Alert | undefined,
  now: Date,
  channels: readonly string[] = [],
): RaisedAlert {
  const parsed = AlertInputSchema.parse(input);
  const at = now.toISOString();
  // The key from the full subject; what is stored, published and logged bounded (bounds.ts).
  const key = alertKey(parsed);
  const checked = boundAlertInput(parsed);
  if (previous === undefined) {
    const alert = AlertSchema.parse(
      plain({
        ...checked,
        key,
        schemaVersion: 1,
        state: 'open',
        count: 1,
        firstSeen: at,
        lastSeen: at,
        peakSeverity: checked.severity,
        ...pendingFor(at, 'new', channels),
      }),
    );
    return { alert, status: 'new' };
  }
  const { resolvedAt: _at, resolvedReason: _reason, undelivered, ...rest } = previous;
  const status =
    previous.state === 'resolved' ? 'reopened' : changedFrom(previous, checked) ? 'changed' : 'repeat';
  const alert = AlertSchema.parse(
    plain({
      // Its summary and evidence are replaced below: only what it keeps is bounded.
      ...rest,
      key: storedAlertKey(rest.key),
      subject: boundText(rest.subject, MAX_SUBJECT_CHARS),
      // A repeat keeps what its raise has still to tell; a re-opening or a change tells everyone again.
      ...(status !== 'repeat' ? pendingFor(at, status, channels) : undelivered ? { undelivered } : {}),
      // The newest occurrence's words and evidence; the first sighting stays in firstSeen. The
      // severity is the incident's highest while it is open: a lower repeat (an unannounced tree
      // move seen again as announced) does not sink it in the status page's order and reads.
      severity: status === 'reopened' ? checked.severity : higher(peakOf(previous), checked.severity),
      peakSeverity: status === 'reopened' ? checked.severity : higher(peakOf(previous), checked.severity),
      summary: checked.summary,
      evidence: checked.evidence,
      occurrence: checked.occurrence,
      state: 'open',
      count: previous.count + 1,
      lastSeen: at,
    }),
  );
  return { alert, status };
}

/** Records written before `peakSeverity` existed count their last severity as the peak. */
function peakOf(alert: Alert): Alert['severity'] {
  return alert.peakSeverity ?? alert.severity;
}

function higher(a: Alert['severity'], b: Alert['severity']): Alert['severity'] {
  return severityRank(b) > severityRank(a) ? b : a;
}

/**
 * Whether a recurrence of an open incident is news: a repeat is told only to channels that want
 * repeats (a NOTICE line), which would hide a log that went from rotating to flapping, or a tag that
 * moved on to yet another unsigned digest.
 */
function changedFrom(previous: Alert, next: AlertInput): boolean {
  // Above the highest it has been while open: a log flapping between MEDIUM and HIGH pages once.
  if (severityRank(next.severity) > severityRank(peakOf(previous))) return true;
  // Another occurrence of an incident still open (a forgery planted again): not a retried delivery.
  if (next.occurrence !== undefined && next.occurrence !== previous.occurrence) return true;
  const [before, now] = [previous.evidence.digest, next.evidence.digest];
  return before !== undefined && now !== undefined && before !== now;
}

export function resolvedAlert(
  previous: Alert,
  reason: string,
  now: Date,
  channels: readonly string[] = [],
): Alert {
  const { undelivered: owed, ...rest } = previous;
  const at = now.toISOString();
  // A raise still owed to some channels is not dropped: they are told it before the resolution.
  const overtaken =
    owed !== undefined && owed.status !== 'resolved' && owed.channels.length > 0
      ? { overtook: { status: owed.status, channels: [...owed.channels] } }
      : undefined;
  const told =
    overtaken === undefined ? channels : [...new Set([...channels, ...overtaken.overtook.channels])];
  const pending = pendingFor(at, 'resolved', told);
  return AlertSchema.parse({
    ...boundAlert(rest),
    state: 'resolved',
    resolvedAt: at,
    resolvedReason: boundText(reason, MAX_REASON_CHARS),
    ...(pending.undelivered === undefined ? {} : { undelivered: { ...pending.undelivered, ...overtaken } }),
  });
}

/**
 * What a resolve leads to: the resolved alert and whether it is news, or undefined when there is
 * nothing to resolve and nothing left to tell.
 */
export function resolution(
  previous: Alert | undefined,
  reason: string,
  now: Date,
  channels: readonly string[] = [],
): { alert: Alert; changed: boolean } | undefined {
  if (previous === undefined) return undefined;
  if (previous.state === 'open') {
    return { alert: resolvedAlert(previous, reason, now, channels), changed: true };
  }
  if (previous.undelivered?.status === 'resolved' && previous.undelivered.channels.length > 0) {
    return { alert: previous, changed: false };
  }
  return undefined;
}
