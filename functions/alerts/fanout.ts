/**
 * One AlertSink for every channel. The record (Firestore) is written first and decides whether the
 * raise is news; then every notifier is tried, each on its own, so a webhook that is down does not
 * stop Pub/Sub and a Pub/Sub outage does not undo the Firestore record. Failures are collected into
 * one AlertDeliveryError, which says whether the durable record was kept.
 */
import { SigsentryError } from '../errors.ts';
import { type Alert, type AlertInput, type AlertSink, alertKey } from './alert.ts';
import type { AlertNotifier } from './notifier.ts';
import { type AlertRecorder, nextAlert, type RaisedAlert } from './record.ts';

export class AlertDeliveryError extends SigsentryError {
  /** False when the durable record failed: the alert exists only in the channels that worked. */
  readonly recorded: boolean;
  readonly failures: Array<{ sink: string; error: unknown }>;

  constructor(key: string, recorded: boolean, failures: Array<{ sink: string; error: unknown }>) {
    super(
      'ALERT_DELIVERY_FAILED',
      `alert ${key} was not delivered to ${failures.map((f) => f.sink).join(', ')}`,
      {
        retryable: true,
        details: {
          key,
          recorded,
          failures: failures.map((f) => ({
            sink: f.sink,
            error: String((f.error as Error)?.message ?? f.error),
          })),
        },
      },
    );
    this.recorded = recorded;
    this.failures = failures;
  }
}

export class FanOutAlertSink implements AlertSink {
  private readonly recorder: AlertRecorder;
  private readonly notifiers: AlertNotifier[];
  private readonly now: () => Date;

  constructor(opts: { recorder: AlertRecorder; notifiers: AlertNotifier[]; now?: () => Date }) {
    this.recorder = opts.recorder;
    this.notifiers = opts.notifiers;
    this.now = opts.now ?? (() => new Date());
  }

  async raise(input: AlertInput): Promise<void> {
    await this.deliver(input);
  }

  /** Raises and tells the caller what the record decided. Throws AlertDeliveryError on any failure. */
  async deliver(input: AlertInput): Promise<RaisedAlert> {
    const failures: Array<{ sink: string; error: unknown }> = [];
    let raised: RaisedAlert;
    let recorded = true;
    try {
      raised = await this.recorder.record(input);
    } catch (error) {
      // Without the record nobody knows whether this is news: tell every channel rather than none.
      failures.push({ sink: 'record', error });
      recorded = false;
      raised = nextAlert(input, undefined, this.now());
    }
    const targets = this.notifiers.filter((n) => raised.status !== 'repeat' || n.wantsRepeats);
    const results = await Promise.allSettled(targets.map((n) => n.notify(raised)));
    results.forEach((r, i) => {
      if (r.status === 'rejected') failures.push({ sink: targets[i]!.name, error: r.reason });
    });
    if (failures.length > 0) throw new AlertDeliveryError(alertKey(input), recorded, failures);
    return raised;
  }

  async resolve(key: string, reason: string): Promise<void> {
    const alert: Alert | undefined = await this.recorder.markResolved(key, reason);
    if (alert === undefined) return;
    const results = await Promise.allSettled(this.notifiers.map((n) => n.resolved(alert)));
    const failures = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ sink: this.notifiers[i]!.name, error: r.reason }] : [],
    );
    if (failures.length > 0) throw new AlertDeliveryError(key, true, failures);
  }
}
