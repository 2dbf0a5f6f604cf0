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
import { type AlertRecorder, nextAlert, type RaisedAlert, resolvedAlert } from './record.ts';

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

  async record(input: AlertInput): Promise<RaisedAlert> {
    const ref = this.ref(alertKey(input));
    try {
      return await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const previous = snap.exists ? AlertSchema.parse(snap.data()) : undefined;
        const raised = nextAlert(input, previous, this.now());
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

  async markResolved(key: string, reason: string): Promise<Alert | undefined> {
    const ref = this.ref(key);
    try {
      return await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        if (!snap.exists) return undefined;
        const previous = AlertSchema.parse(snap.data());
        if (previous.state === 'resolved') return undefined;
        const alert = resolvedAlert(previous, reason, this.now());
        tx.set(ref, alert);
        return alert;
      });
    } catch (err) {
      throw new DependencyError('firestore', `could not resolve alert ${key}`, {}, err);
    }
  }

  async get(key: string): Promise<Alert | undefined> {
    const snap = await this.ref(key).get();
    return snap.exists ? AlertSchema.parse(snap.data()) : undefined;
  }

  /** Alerts, most recently seen first. */
  async list(opts: { open?: boolean; limit?: number } = {}): Promise<Alert[]> {
    let query = this.db.collection(ALERTS_COLLECTION).orderBy('lastSeen', 'desc');
    if (opts.open) query = query.where('state', '==', 'open');
    const snap = await query.limit(opts.limit ?? 500).get();
    return snap.docs.map((d) => AlertSchema.parse(d.data()));
  }
}
