import type { Alert, AlertInput, AlertSink } from './alert.ts';
import { nextAlert, type RaisedAlert } from './record.ts';

/** A channel told about an alert once it is recorded: Pub/Sub, the log, a webhook. */
export interface AlertNotifier {
  /** Names the channel in delivery errors (never its address: a webhook URL is a secret). */
  readonly name: string;
  /** Whether this channel also wants repeats of an open alert (the others hear new and re-opened ones). */
  readonly wantsRepeats: boolean;
  notify(raised: RaisedAlert): Promise<void>;
  resolved(alert: Alert): Promise<void>;
}

/**
 * A notifier used on its own as an AlertSink: with no record to consult, every raise is new.
 * Resolving by key is impossible without the record, so it only says so.
 */
export function notifierAsSink(notifier: AlertNotifier, now: () => Date = () => new Date()): AlertSink {
  return {
    raise: (input: AlertInput) => notifier.notify(nextAlert(input, undefined, now())),
    resolve: async () => {},
  };
}
