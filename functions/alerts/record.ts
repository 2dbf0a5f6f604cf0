/**
 * The durable record of alerts decides whether a raise is a new incident, a repeat of an open one,
 * or the re-opening of a resolved one. Notifiers (Pub/Sub, webhook) act on that decision, so a
 * recurring incident is one alert with a count, not a page per occurrence.
 */
import { type Alert, type AlertInput, AlertInputSchema, AlertSchema, alertKey } from './alert.ts';

export type RaiseStatus = 'new' | 'repeat' | 'reopened';

export interface RaisedAlert {
  alert: Alert;
  status: RaiseStatus;
}

/** Where alerts are kept (Firestore `alerts` in production). */
export interface AlertRecorder {
  record(input: AlertInput): Promise<RaisedAlert>;
  /** Marks the alert resolved; undefined when there is no open alert with this key. */
  markResolved(key: string, reason: string): Promise<Alert | undefined>;
}

/** JSON round trip: drops undefined values (Firestore rejects them) and anything not JSON. */
function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** The alert a raise leads to, given what was stored before (if anything). */
export function nextAlert(input: AlertInput, previous: Alert | undefined, now: Date): RaisedAlert {
  const checked = AlertInputSchema.parse(input);
  const at = now.toISOString();
  const key = alertKey(checked);
  if (previous === undefined) {
    const alert = AlertSchema.parse(
      plain({ ...checked, key, schemaVersion: 1, state: 'open', count: 1, firstSeen: at, lastSeen: at }),
    );
    return { alert, status: 'new' };
  }
  const { resolvedAt: _at, resolvedReason: _reason, ...rest } = previous;
  const alert = AlertSchema.parse(
    plain({
      ...rest,
      // The newest occurrence's words and evidence; the first sighting stays in firstSeen.
      severity: checked.severity,
      summary: checked.summary,
      evidence: checked.evidence,
      state: 'open',
      count: previous.count + 1,
      lastSeen: at,
    }),
  );
  return { alert, status: previous.state === 'resolved' ? 'reopened' : 'repeat' };
}

export function resolvedAlert(previous: Alert, reason: string, now: Date): Alert {
  return AlertSchema.parse({
    ...previous,
    state: 'resolved',
    resolvedAt: now.toISOString(),
    resolvedReason: reason,
  });
}
