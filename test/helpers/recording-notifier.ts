/** Test helpers for the alert pipeline: a channel that records what it was told, and an alert. */
import type { AlertInput } from '../../functions/alerts/alert.ts';
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

/** A rogue-signature alert for log entry `logIndex`, as the monitor raises it. */
export const rogue = (logIndex = 7): AlertInput => ({
  kind: 'rogue-signature',
  severity: 'CRITICAL',
  subject: 'kms:projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
  key: `rogue-signature:log:${logIndex}`,
  summary: `entry ${logIndex} signed outside sigsentry`,
  evidence: { logIndex, uuid: 'abc', entryBodyDigest: 'sha256:00' },
});
