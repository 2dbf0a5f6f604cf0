/**
 * The deletions Artifact Registry announced on `gcr` (DELETE messages), one Firestore document per
 * reference deleted (collection `deletions`, id = sha256 hex of the reference). signOnPush records
 * them so that a push handled after its image was deleted (Pub/Sub does not order messages) is
 * explained, and acknowledged without an alert, rather than refused as an image the registry never
 * had (sign-on-push/not-in-registry.ts).
 *
 * A reference deleted more than once (a tag deleted, pushed again, deleted again) keeps its newest
 * deletion: a push is explained only by a deletion published after it. Each document carries
 * `expireAt` (DELETION_TTL_MS after it was recorded) for a Firestore TTL policy
 * (infra/firestore.tf), so the collection stays bounded.
 */
import crypto from 'node:crypto';
import type { Firestore } from '@google-cloud/firestore';
import { DependencyError } from '../errors.ts';

export const DELETIONS = 'deletions';
export const DELETION_SCHEMA_VERSION = 1;

/**
 * How long a deletion is kept. A push can be handled up to about 14 days after it was published
 * (7 days unacknowledged in the subscription, then up to 7 in the dead-letter subscription before a
 * replay), so its deletion must outlive that; 30 days leaves room.
 */
export const DELETION_TTL_MS = 30 * 24 * 60 * 60 * 1000;

/** A deletion as recorded. */
export interface DeletionRecord {
  schemaVersion: number;
  /** What was deleted, as the message named it: `HOST/REPO@sha256:…` or `HOST/REPO:TAG`. */
  reference: string;
  kind: 'digest' | 'tag';
  /** When Pub/Sub published the DELETE message (ms); absent when the delivery did not say. */
  publishedAt?: number;
  /** When signOnPush recorded it (ms, the instance's clock). */
  recordedAt: number;
  /** recordedAt + DELETION_TTL_MS, as a timestamp: the TTL policy deletes the document after it. */
  expireAt: Date;
}

/** The deletion being recorded: what was deleted and when its message was published. */
export interface Deletion {
  reference: string;
  kind: 'digest' | 'tag';
  publishedAt?: number;
}

export interface DeletionStore {
  /** Records a deletion; keeps the newer of it and one already recorded for the reference. */
  record(deletion: Deletion): Promise<void>;
  /** The newest deletion recorded for `reference`, if any. */
  find(reference: string): Promise<DeletionRecord | undefined>;
}

export function deletionId(reference: string): string {
  return crypto.createHash('sha256').update(reference).digest('hex');
}

/**
 * When a deletion happened as far as ordering goes: its message's publish time, or when it was
 * recorded if the delivery gave none (the publish time was no later than that).
 */
export function deletionTime(record: Pick<DeletionRecord, 'publishedAt' | 'recordedAt'>): number {
  return record.publishedAt ?? record.recordedAt;
}

/** The record to store for `deletion` recorded at `now`, or undefined when `existing` is newer. */
export function nextDeletionRecord(
  existing: DeletionRecord | undefined,
  deletion: Deletion,
  now: number,
): DeletionRecord | undefined {
  const record: DeletionRecord = {
    schemaVersion: DELETION_SCHEMA_VERSION,
    reference: deletion.reference,
    kind: deletion.kind,
    ...(deletion.publishedAt !== undefined ? { publishedAt: deletion.publishedAt } : {}),
    recordedAt: now,
    expireAt: new Date(now + DELETION_TTL_MS),
  };
  // A redelivery, or an older deletion handled late, changes nothing: the newest one is what
  // explains a push. (A record of another reference under this id is replaced.)
  if (existing?.reference === deletion.reference && deletionTime(existing) >= deletionTime(record)) {
    return undefined;
  }
  return record;
}

/** A document as read back: Firestore returns `expireAt` as a Timestamp. */
function storedDeletion(data: Record<string, unknown>): DeletionRecord {
  const expireAt = data['expireAt'] as { toDate?: () => Date } | undefined;
  return {
    ...data,
    expireAt: typeof expireAt?.toDate === 'function' ? expireAt.toDate() : (data['expireAt'] as Date),
  } as DeletionRecord;
}

export class FirestoreDeletionStore implements DeletionStore {
  private readonly db: Firestore;
  private readonly now: () => number;
  constructor(db: Firestore, now: () => number = Date.now) {
    this.db = db;
    this.now = now;
  }

  private doc(reference: string) {
    return this.db.collection(DELETIONS).doc(deletionId(reference));
  }

  async record(deletion: Deletion): Promise<void> {
    const ref = this.doc(deletion.reference);
    try {
      // Read and write in one transaction, so of two deletions of one reference recorded at once
      // the newer is kept.
      await this.db.runTransaction(async (tx) => {
        const snap = await tx.get(ref);
        const existing = snap.exists ? storedDeletion(snap.data()!) : undefined;
        const next = nextDeletionRecord(existing, deletion, this.now());
        if (next !== undefined) tx.set(ref, next);
      });
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `could not record the deletion of ${deletion.reference}`,
        { image: deletion.reference },
        err,
      );
    }
  }

  async find(reference: string): Promise<DeletionRecord | undefined> {
    let data: Record<string, unknown> | undefined;
    try {
      data = (await this.doc(reference).get()).data();
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `could not read whether ${reference} was deleted`,
        { image: reference },
        err,
      );
    }
    // Another reference's document under this id (a hash collision, a stray writer) says nothing.
    return data?.['reference'] === reference ? storedDeletion(data) : undefined;
  }
}
