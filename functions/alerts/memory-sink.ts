/**
 * Alerts kept in memory with the same dedup rules as Firestore: for tests where the sink is not
 * what is under test, and for a CLI run without a project.
 */
import type { Alert, AlertInput, AlertSink } from './alert.ts';
import { alertKey, storedAlertKey } from './alert.ts';
import {
  type AlertRecorder,
  nextAlert,
  type RaisedAlert,
  resolution,
  withDelivered,
  withOvertakenTold,
} from './record.ts';

export class MemoryAlertSink implements AlertSink, AlertRecorder {
  /** Every raise, in order, as it was received. */
  readonly raised: AlertInput[] = [];
  readonly alerts = new Map<string, Alert>();
  private readonly now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.now = now;
  }

  async record(input: AlertInput, channels: readonly string[] = []): Promise<RaisedAlert> {
    this.raised.push(input);
    const key = alertKey(input);
    const raised = nextAlert(input, this.alerts.get(key), this.now(), channels);
    this.alerts.set(key, raised.alert);
    return raised;
  }

  async raise(input: AlertInput): Promise<void> {
    await this.record(input);
  }

  async resolve(key: string, reason: string): Promise<void> {
    await this.markResolved(key, reason);
  }

  async markResolved(
    key: string,
    reason: string,
    channels: readonly string[] = [],
  ): Promise<Alert | undefined> {
    const stored = storedAlertKey(key);
    const resolved = resolution(this.alerts.get(stored), reason, this.now(), channels);
    if (resolved?.changed) this.alerts.set(stored, resolved.alert);
    return resolved?.alert;
  }

  async markDelivered(key: string, at: string, channels: readonly string[]): Promise<void> {
    this.updateStored(key, (alert) => withDelivered(alert, at, channels));
  }

  async markOvertakenTold(key: string, at: string, channels: readonly string[]): Promise<void> {
    this.updateStored(key, (alert) => withOvertakenTold(alert, at, channels));
  }

  /** Stores `update` of the alert with this key, if there is one; undefined from it: nothing to store. */
  private updateStored(key: string, update: (alert: Alert) => Alert | undefined): void {
    const stored = storedAlertKey(key);
    const alert = this.alerts.get(stored);
    const updated = alert === undefined ? undefined : update(alert);
    if (updated !== undefined) this.alerts.set(stored, updated);
  }

  async get(key: string): Promise<Alert | undefined> {
    return this.alerts.get(storedAlertKey(key));
  }

  async listOwed(limit: number, channel?: string): Promise<Alert[]> {
    return [...this.alerts.values()]
      .filter((a) => a.undelivered !== undefined)
      .filter((a) => channel === undefined || a.undelivered!.channels.includes(channel))
      .sort((a, b) => a.undelivered!.at.localeCompare(b.undelivered!.at))
      .slice(0, limit);
  }

  ofKind(kind: Alert['kind']): Alert[] {
    return [...this.alerts.values()].filter((a) => a.kind === kind);
  }
}
