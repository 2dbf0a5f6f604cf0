/** Test helper: an alert channel that records what it was told, and fails on demand. */
import type { AlertNotifier } from '../../functions/alerts/notifier.ts';
import type { RaisedAlert } from '../../functions/alerts/record.ts';

export class RecordingNotifier implements AlertNotifier {
  readonly name: string;
  readonly wantsRepeats: boolean;
  readonly seen: RaisedAlert[] = [];
  readonly resolvedSeen: string[] = [];
  /** Raises fail while set. */
  fail = false;
  /** Resolutions fail while set. */
  failResolved = false;
  constructor(name: string, wantsRepeats = false) {
    this.name = name;
    this.wantsRepeats = wantsRepeats;
  }
  async notify(raised: RaisedAlert): Promise<void> {
    if (this.fail) throw new Error(`${this.name} is down`);
    this.seen.push(raised);
  }
  async resolved(alert: { key: string }): Promise<void> {
    if (this.failResolved) throw new Error(`${this.name} is down`);
    this.resolvedSeen.push(alert.key);
  }
}
