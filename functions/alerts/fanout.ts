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

/** The alert as channels see it: which channels were told is the record's business. */
function withoutBookkeeping(alert: Alert): Alert {
  const { undelivered: _, ...rest } = alert;
  return rest;
}

/**
 * An alert as a notice of news (new, re-opened, changed) tells it: at the highest severity the open
 * incident reached. A notice owed since a rise to CRITICAL and told after a MEDIUM repeat still says
 * CRITICAL; the record keeps the latest occurrence's severity.
 */
function asNews(alert: Alert): Alert {
  const notice = withoutBookkeeping(alert);
  return notice.peakSeverity === undefined ? notice : { ...notice, severity: notice.peakSeverity };
}

/** Failures in a row after which a channel is left for the next run (down, not one bad notice). */
const CHANNEL_DOWN_AFTER = 3;

/** What one pass over the owed notices did. */
export interface OwedRedelivery {
  /** Notices sent, one per alert and channel. */
  told: number;
  /** Owed to channels this deployment does not have (no webhook configured): crossed off. */
  dropped: Array<{ key: string; channel: string }>;
  failures: Array<{ key: string; sink: string; error: unknown }>;
}

export class FanOutAlertSink implements AlertSink {
  private readonly recorder: AlertRecorder;
  private readonly notifiers: AlertNotifier[];
  private readonly owedElsewhere: readonly string[];
  private readonly now: () => Date;

  constructor(opts: {
    recorder: AlertRecorder;
    notifiers: AlertNotifier[];
    /**
     * Channels this sink cannot reach but the deployment can (a CLI run: Cloud Logging, and the
     * webhook when the operator's shell has no URL). Each change stays owed to them on the record
     * until the deployed functions' `redeliverOwed` tells them.
     */
    owedElsewhere?: readonly string[];
    now?: () => Date;
  }) {
    this.recorder = opts.recorder;
    this.notifiers = opts.notifiers;
    this.owedElsewhere = opts.owedElsewhere ?? [];
    this.now = opts.now ?? (() => new Date());
  }

  async raise(input: AlertInput): Promise<void> {
    await this.deliver(input);
  }

  /**
   * Raises and tells the caller what the record decided. Throws AlertDeliveryError on any failure.
   * The record lists the channels still to be told of the raise; a repeat (the caller's retry, or
   * the next occurrence) tells those again, so a channel that failed once is not skipped for good.
   */
  async deliver(input: AlertInput): Promise<RaisedAlert> {
    const failures: Array<{ sink: string; error: unknown }> = [];
    let raised: RaisedAlert;
    let recorded = true;
    try {
      raised = await this.recorder.record(input, this.channels());
    } catch (error) {
      // Without the record nobody knows whether this is news: tell every channel rather than none.
      failures.push({ sink: 'record', error });
      recorded = false;
      raised = nextAlert(input, undefined, this.now());
    }
    const owed = raised.alert.undelivered;
    const told: string[] = [];
    await Promise.all(
      this.notifiers.map(async (n) => {
        const isOwed = owed !== undefined && owed.status !== 'resolved' && owed.channels.includes(n.name);
        if (raised.status === 'repeat' && !n.wantsRepeats && !isOwed) return;
        // An owed notice goes out as what it was (new, re-opened), not as a repeat.
        const status =
          raised.status === 'repeat' && isOwed ? (owed!.status as RaisedAlert['status']) : raised.status;
        try {
          const alert = status === 'repeat' ? withoutBookkeeping(raised.alert) : asNews(raised.alert);
          await n.notify({ alert, status });
          if (isOwed || raised.status !== 'repeat') told.push(n.name);
        } catch (error) {
          failures.push({ sink: n.name, error });
        }
      }),
    );
    if (recorded && owed !== undefined && told.length > 0) await this.delivered(raised.alert, owed.at, told);
    if (failures.length > 0) throw new AlertDeliveryError(alertKey(input), recorded, failures);
    return raised;
  }

  /**
   * Tells a channel of a resolution; first, when the resolution overtook a raise never told to this
   * channel, of the raise, as the open incident it was. The raise told is crossed off at once, so a
   * resolution the channel refuses is retried alone.
   */
  private async tellResolved(notifier: AlertNotifier, alert: Alert): Promise<void> {
    const pending = alert.undelivered;
    const overtook = pending?.overtook;
    if (pending !== undefined && overtook?.channels.includes(notifier.name)) {
      const { resolvedAt: _at, resolvedReason: _reason, ...raised } = asNews(alert);
      await notifier.notify({ alert: { ...raised, state: 'open' }, status: overtook.status });
      try {
        await this.recorder.markOvertakenTold(alert.key, pending.at, [notifier.name]);
      } catch {
        // As in delivered(): the worst it leaves is the raise told once more with the resolution.
      }
    }
    await notifier.resolved(withoutBookkeeping(alert));
  }

  /** Resolves, and tells every channel; a retry tells those a failed attempt left untold. */
  async resolve(key: string, reason: string): Promise<void> {
    const alert: Alert | undefined = await this.recorder.markResolved(key, reason, this.channels());
    if (alert === undefined) return;
    const owed = alert.undelivered;
    const targets = this.notifiers.filter(
      (n) => owed === undefined || (owed.status === 'resolved' && owed.channels.includes(n.name)),
    );
    const results = await Promise.allSettled(targets.map((n) => this.tellResolved(n, alert)));
    const failures = results.flatMap((r, i) =>
      r.status === 'rejected' ? [{ sink: targets[i]!.name, error: r.reason }] : [],
    );
    const told = targets.filter((_, i) => results[i]!.status === 'fulfilled').map((n) => n.name);
    if (owed !== undefined && told.length > 0) await this.delivered(alert, owed.at, told);
    if (failures.length > 0) throw new AlertDeliveryError(key, true, failures);
  }

  /**
   * Tells every channel the notices still owed to it: a delivery that failed, or a change made where
   * the channel could not be reached (a CLI run). Without this a notice waited for the same alert to
   * be raised again, which a monitor alert (one per log entry) never is.
   *
   * - Each channel's notices are listed on their own, oldest first, so a channel that is down for
   *   good (its backlog) never hides another's (the ALERT line that pages).
   * - A channel that fails CHANNEL_DOWN_AFTER times in a row is left for the next run (one notice it
   *   refuses does not hold the others), and the whole pass stops at `budgetMs`: a webhook outage
   *   must not hold the monitor's run.
   * - Notices younger than `minAgeMs` are left to a delivery that may still be under way (the
   *   webhook retries for about a minute at worst), and each alert is read again right before it is
   *   told, so a notice superseded meanwhile (resolved, changed) is not sent as it was.
   * - Channels this deployment does not have are crossed off and reported: every deployed function
   *   has the same channels.
   */
  async redeliverOwed(
    opts: { limit?: number; minAgeMs?: number; budgetMs?: number } = {},
  ): Promise<OwedRedelivery> {
    const result: OwedRedelivery = { told: 0, dropped: [], failures: [] };
    const limit = opts.limit ?? 200;
    const newest = this.now().getTime() - (opts.minAgeMs ?? 5 * 60_000);
    const deadline = Date.now() + (opts.budgetMs ?? 120_000);
    for (const notifier of this.notifiers) {
      let failedInARow = 0;
      for (const listed of await this.recorder.listOwed(limit, notifier.name)) {
        if (Date.parse(listed.undelivered!.at) > newest || Date.now() > deadline) break;
        const alert = await this.recorder.get(listed.key);
        const owed = alert?.undelivered;
        if (alert === undefined || owed === undefined || !owed.channels.includes(notifier.name)) continue;
        if (Date.parse(owed.at) > newest) continue;
        try {
          if (owed.status === 'resolved') await this.tellResolved(notifier, alert);
          else await notifier.notify({ alert: asNews(alert), status: owed.status });
        } catch (error) {
          result.failures.push({ key: alert.key, sink: notifier.name, error });
          // One notice the channel refuses must not hold the others back; several in a row, it is down.
          if (++failedInARow >= CHANNEL_DOWN_AFTER) break;
          continue;
        }
        failedInARow = 0;
        result.told++;
        await this.delivered(alert, owed.at, [notifier.name]);
      }
    }
    result.dropped = await this.dropUnknownChannels(limit);
    return result;
  }

  /** Crosses off notices owed to channels no notifier here has (a webhook this deployment lacks). */
  private async dropUnknownChannels(limit: number): Promise<OwedRedelivery['dropped']> {
    const known = new Set(this.notifiers.map((n) => n.name));
    const dropped: OwedRedelivery['dropped'] = [];
    for (const alert of await this.recorder.listOwed(limit)) {
      const owed = alert.undelivered!;
      const unknown = owed.channels.filter((c) => !known.has(c));
      if (unknown.length === 0) continue;
      await this.delivered(alert, owed.at, unknown);
      for (const channel of unknown) dropped.push({ key: alert.key, channel });
    }
    return dropped;
  }

  private channels(): string[] {
    return [...this.notifiers.map((n) => n.name), ...this.owedElsewhere];
  }

  /**
   * Crosses told channels off the record. A failure here is not a failed delivery: the channels
   * were told, and the worst it leaves is one more notice on the next raise or resolve.
   */
  private async delivered(alert: Alert, at: string, told: string[]): Promise<void> {
    try {
      await this.recorder.markDelivered(alert.key, at, told);
    } catch {
      // see above
    }
  }
}
