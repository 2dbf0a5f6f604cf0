/** Test helper: an AlertSink that records every call and which incidents are open. */
import { type AlertInput, type AlertSink, alertKey } from '../../functions/alerts/alert.ts';

export class RecordingAlertSink implements AlertSink {
  readonly calls: Array<{ op: 'raise'; alert: AlertInput } | { op: 'resolve'; key: string; reason: string }> =
    [];
  readonly open = new Map<string, AlertInput>();

  async raise(alert: AlertInput): Promise<void> {
    this.calls.push({ op: 'raise', alert });
    this.open.set(alertKey(alert), alert);
  }

  async resolve(key: string, reason: string): Promise<void> {
    this.calls.push({ op: 'resolve', key, reason });
    this.open.delete(key);
  }

  /** Kinds of the open alerts about `subject`, sorted. */
  openKinds(subject: string): string[] {
    return [...this.open.values()]
      .filter((a) => a.subject === subject)
      .map((a) => a.kind)
      .sort();
  }

  /** The calls about tags, without each pass's own `verification-stale` raise or resolve. */
  get tagCalls(): RecordingAlertSink['calls'] {
    return this.calls.filter(
      (c) => (c.op === 'raise' ? c.alert.kind : c.key.split(':')[0]) !== 'verification-stale',
    );
  }

  raisedSince(mark: number): AlertInput[] {
    return this.calls.slice(mark).flatMap((c) => (c.op === 'raise' ? [c.alert] : []));
  }
}
