/**
 * Firestore `alerts`: one document per incident (id `alertDocumentId(key)`), written in a
 * transaction so that two instances raising the same incident at once count it twice instead of
 * overwriting each other. This is the record of truth; the other sinks are notifications.
 */
import type { Firestore } from '@google-cloud/firestore';
import { DependencyError } from '../errors.ts';
import {
  type Alert,
  type AlertInput,
  AlertSchema,
  type AlertSink,
  alertDocumentId,
  alertKey,
} from './alert.ts';
import {
  type AlertRecorder,
  nextAlert,
  type RaisedAlert,
  resolution,
  withDelivered,
  withOvertakenTold,
} from './record.ts';

export const ALERTS_COLLECTION = 'alerts';

export class FirestoreAlertStore implements AlertRecorder, AlertSink {
  private readonly db: Firestore;
  private readonly now: () => Date;

  constructor(db: Firestore, now: () => Date = () => new Date()) {
    this.db = db;
    this.now = now;
  }

  private ref(key: string) {
    return this.db.collection(ALERTS_COLLECTION).doc(alertDocumentId(key));
  }

  async record(input: AlertInput, channels: readonly string[] = []): Promise<RaisedAlert> {
    const ref = this.ref(alertKey(input));
    try {
      return await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const previous = snap.exists ? AlertSchema.parse(snap.data()) : undefined;
        const raised = nextAlert(input, previous, this.now(), channels);
        tx.set(ref, raised.alert);
        return raised;
      });
    } catch (err) {
      throw new DependencyError('firestore', `could not record alert ${alertKey(input)}`, {}, err);
    }
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
    const ref = this.ref(key);
    try {
      // Most resolves find no alert (a fresh signing looks for an earlier failure's): one read
      // says so, where a transaction costs two or three round trips. An alert raised after this
      // read is one raised after the resolve, as it would be had the transaction run first.
      if (!(await ref.get()).exists) return undefined;
      return await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const previous = snap.exists ? AlertSchema.parse(snap.data()) : undefined;
        const resolved = resolution(previous, reason, this.now(), channels);
        if (resolved?.changed) tx.set(ref, resolved.alert);
        return resolved?.alert;
      });
    } catch (err) {
      throw new DependencyError('firestore', `could not resolve alert ${key}`, {}, err);
    }
  }

  async markDelivered(key: string, at: string, channels: readonly string[]): Promise<void> {
    await this.updateStored(key, (alert) => withDelivered(alert, at, channels));
  }

  async markOvertakenTold(key: string, at: string, channels: readonly string[]): Promise<void> {
    await this.updateStored(key, (alert) => withOvertakenTold(alert, at, channels));
  }

  /** Writes `update` of the stored alert in a transaction; undefined from it: nothing to write. */
  private async updateStored(key: string, update: (alert: Alert) => Alert | undefined): Promise<void> {
    const ref = this.ref(key);
    try {
      await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        if (!snap.exists) return;
        const updated = update(AlertSchema.parse(snap.data()));
        if (updated !== undefined) tx.set(ref, updated);
      });
    } catch (err) {
      throw new DependencyError('firestore', `could not record the delivery of alert ${key}`, {}, err);
    }
  }

  async listOwed(limit: number, channel?: string): Promise<Alert[]> {
    try {
      // Ordering by a field selects the documents that have it: only alerts with a notice owed.
      let query = this.db.collection(ALERTS_COLLECTION).orderBy('undelivered.at');
      // With a channel: a composite index (infra/firestore.tf), so one channel's backlog never hides
      // another's notices.
      if (channel !== undefined) query = query.where('undelivered.channels', 'array-contains', channel);
      const snap = await query.limit(limit).get();
      return snap.docs.map((d) => AlertSchema.parse(d.data()));
    } catch (err) {
      throw new DependencyError('firestore', 'could not list alerts with notices owed', {}, err);
    }
  }

  async get(key: string): Promise<Alert | undefined> {
    const snap = await this.ref(key).get();
    return snap.exists ? AlertSchema.parse(snap.data()) : undefined;
  }

  /** Alerts, most recently seen first; `severities` keeps only those (with `open`: a composite index). */
  async list(
    opts: { open?: boolean; severities?: readonly Alert['severity'][]; limit?: number } = {},
  ): Promise<Alert[]> {
    let query = this.db.collection(ALERTS_COLLECTION).orderBy('lastSeen', 'desc');
    if (opts.open) query = query.where('state', '==', 'open');
    if (opts.severities) query = query.where('severity', 'in', [...opts.severities]);
    const snap = await query.limit(opts.limit ?? 500).get();
    return snap.docs.map((d) => AlertSchema.parse(d.data()));
  }
}
