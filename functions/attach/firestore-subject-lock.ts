/**
 * A subject lock shared by every function instance: one lease document per subject (collection
 * `attach-locks`, id = sha256 hex of the subject). The `.sig` manifest and the referrers fallback
 * index are read-modify-written without a condition the registry honours, so two instances that
 * attach to one digest at once (two keys, two watch rules, a key rotation) would drop each other's
 * entry; the lease makes them take turns.
 *
 * - Taking: a blind `create` (one round trip when nobody holds it); if the document exists, it is
 *   read, and an expired lease (`until` passed) is taken over with an update conditioned on the
 *   read's update time, so of two instances taking over the same expired lease only one wins.
 * - Waiting: while another owner's unexpired lease stands, with jittered exponential backoff, up to
 *   `waitMs`; then a retryable DependencyError naming the subject (Pub/Sub redelivers).
 * - Holding: the lease is renewed every `renewMs` while `fn` runs, conditioned on being unchanged
 *   since our own last write, so a slow registry write does not let another instance in; but not
 *   past `maxHoldMs`, so a holder stuck on a call that never returns (Cloud Run does not stop a
 *   handler at its timeout) blocks the subject for a bounded time only.
 * - Checking: the holder asks its hold (`LockHold.check`) before each read-modify-write; a lease
 *   taken over, or within half a renewal period of lapsing (renewals failing: Firestore out of
 *   reach), fails the check with a retryable DependencyError instead of letting it write beside
 *   the instance that may hold the lease now.
 * - Releasing: a delete conditioned on our own last write time: another owner's lease (taken over
 *   after ours expired) is never deleted. Release failures are logged, not thrown: the work is
 *   done and the lease expires by itself.
 *
 * Every acquisition has its own owner token, so even two calls in one process exclude each other.
 */
import crypto from 'node:crypto';
import type { DocumentReference, DocumentSnapshot, Firestore, Timestamp } from '@google-cloud/firestore';
import { DependencyError } from '../errors.ts';
import { describeError } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { ALREADY_EXISTS, codeOf, FAILED_PRECONDITION, NOT_FOUND } from '../state/firestore-codes.ts';
import type { LockHold, SubjectLock } from './lock.ts';

export const ATTACH_LOCKS = 'attach-locks';

/** The lease document. */
export interface SubjectLease {
  /** HOST/REPO@sha256:… */
  subject: string;
  /** The acquisition's token: `<instance owner>#<sequence>`. */
  owner: string;
  /** Epoch ms after which anyone may take the lease over. */
  until: number;
  acquiredAt: number;
  /** `until` as a timestamp, for a Firestore TTL policy on stale documents of crashed owners. */
  expireAt: Date;
}

export interface FirestoreSubjectLockOptions {
  readonly collection?: string;
  /** How long a lease stands without renewal. Default 30 s; renewed while held. */
  readonly leaseMs?: number;
  /** Renewal period while held. Default leaseMs / 3. */
  readonly renewMs?: number;
  /** No renewal past this long after taking the lease. Default 5 min, signOnPush's timeout (a signing
   * holds the lease while it signs, logs and attaches, each call bounded by its own timeout). */
  readonly maxHoldMs?: number;
  /** How long to wait for another owner's lease before giving up (retryable). Default 60 s. */
  readonly waitMs?: number;
  /** First and largest backoff between polls of a held lease. Default 50 ms and 1 s. */
  readonly backoffMs?: { readonly min: number; readonly max: number };
  /** This instance's id in owner tokens. Default a random UUID. */
  readonly owner?: string;
  readonly now?: () => number;
  readonly logger?: Logger;
}

export function subjectLockId(subject: string): string {
  return crypto.createHash('sha256').update(subject).digest('hex');
}

interface Held {
  readonly ref: DocumentReference;
  readonly subject: string;
  readonly owner: string;
  readonly since: number;
  /** Update time of our last write: the precondition of every later write. */
  writeTime: Timestamp;
  /** Epoch ms our lease stands until, as last written. */
  until: number;
  lost: boolean;
  timer?: NodeJS.Timeout;
  renewing?: Promise<void>;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class FirestoreSubjectLock implements SubjectLock {
  readonly #db: Firestore;
  readonly #collection: string;
  readonly #leaseMs: number;
  readonly #renewMs: number;
  readonly #maxHoldMs: number;
  readonly #waitMs: number;
  readonly #backoff: { readonly min: number; readonly max: number };
  readonly #owner: string;
  readonly #now: () => number;
  readonly #logger: Logger | undefined;
  #sequence = 0;

  constructor(db: Firestore, options: FirestoreSubjectLockOptions = {}) {
    this.#db = db;
    this.#collection = options.collection ?? ATTACH_LOCKS;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#renewMs = options.renewMs ?? Math.floor(this.#leaseMs / 3);
    this.#maxHoldMs = options.maxHoldMs ?? 300_000;
    this.#waitMs = options.waitMs ?? 60_000;
    this.#backoff = options.backoffMs ?? { min: 50, max: 1_000 };
    this.#owner = options.owner ?? crypto.randomUUID();
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  async lock<T>(subject: string, fn: (hold: LockHold) => Promise<T>): Promise<T> {
    const held = await this.#acquire(subject);
    try {
      return await fn({ check: () => this.#check(held) });
    } finally {
      await this.#release(held);
    }
  }

  /** Throws unless `held` still excludes other owners, with half a renewal period to spare. */
  #check(held: Held): void {
    const details = { subject: held.subject, owner: held.owner, until: held.until };
    if (held.lost) {
      throw new DependencyError(
        'firestore',
        `the attach lock on ${held.subject} was taken over by another instance while held`,
        details,
      );
    }
    const margin = Math.min(this.#renewMs > 0 ? this.#renewMs : this.#leaseMs, this.#leaseMs) / 2;
    if (this.#now() >= held.until - margin) {
      throw new DependencyError(
        'firestore',
        `the attach lock on ${held.subject} is about to lapse: it was not renewed (its lease ends at ${new Date(held.until).toISOString()})`,
        details,
      );
    }
  }

  #lease(subject: string, owner: string): SubjectLease {
    const now = this.#now();
    const until = now + this.#leaseMs;
    return { subject, owner, until, acquiredAt: now, expireAt: new Date(until) };
  }

  async #acquire(subject: string): Promise<Held> {
    const ref = this.#db.collection(this.#collection).doc(subjectLockId(subject));
    const owner = `${this.#owner}#${++this.#sequence}`;
    const deadline = this.#now() + this.#waitMs;
    const failed = (err: unknown) =>
      new DependencyError('firestore', `could not take the attach lock on ${subject}`, { subject }, err);
    let snap: DocumentSnapshot | undefined;
    let polls = 0;
    for (;;) {
      if (snap === undefined || !snap.exists) {
        const lease = this.#lease(subject, owner);
        const written = await ref.create(lease).catch((err) => {
          if (codeOf(err) === ALREADY_EXISTS) return undefined;
          throw failed(err);
        });
        if (written !== undefined) return this.#hold(ref, lease, written.writeTime);
      } else {
        const lease = snap.data() as Partial<SubjectLease>;
        const now = this.#now();
        if (typeof lease.until !== 'number' || lease.until <= now) {
          // Expired (its owner crashed or stalled): take it over, unless someone else just did.
          const taken = this.#lease(subject, owner);
          const written = await ref
            .update({ ...taken }, { lastUpdateTime: snap.updateTime! })
            .catch((err) => {
              if (codeOf(err) === FAILED_PRECONDITION || codeOf(err) === NOT_FOUND) return undefined;
              throw failed(err);
            });
          if (written !== undefined) {
            this.#logger?.warn('took over an expired attach lock', {
              subject,
              previousOwner: lease.owner,
              expiredMsAgo: typeof lease.until === 'number' ? now - lease.until : undefined,
            });
            return this.#hold(ref, taken, written.writeTime);
          }
        } else {
          if (now >= deadline) {
            throw new DependencyError(
              'firestore',
              `the attach lock on ${subject} is still held by another instance after ${this.#waitMs} ms`,
              { subject, holder: lease.owner, until: lease.until, waitedMs: this.#waitMs },
            );
          }
          const base = Math.min(this.#backoff.max, this.#backoff.min * 2 ** Math.min(polls++, 16));
          await sleep(Math.min(base * (0.5 + Math.random() / 2), deadline - now, lease.until - now + 1));
        }
      }
      snap = await ref.get().catch((err) => {
        throw failed(err);
      });
    }
  }

  #hold(ref: DocumentReference, lease: SubjectLease, writeTime: Timestamp): Held {
    const { subject, owner, until } = lease;
    const held: Held = { ref, subject, owner, since: this.#now(), writeTime, until, lost: false };
    const schedule = () => {
      if (this.#now() + this.#renewMs - held.since > this.#maxHoldMs) {
        this.#logger?.warn('held the attach lock too long: no longer renewing it', {
          subject,
          owner,
          maxHoldMs: this.#maxHoldMs,
        });
        return;
      }
      held.timer = setTimeout(() => {
        held.renewing = this.#renew(held).finally(() => {
          held.renewing = undefined;
          if (!held.lost && held.timer !== undefined) schedule();
        });
      }, this.#renewMs);
      held.timer.unref();
    };
    if (this.#renewMs > 0 && Number.isFinite(this.#renewMs)) schedule();
    return held;
  }

  async #renew(held: Held): Promise<void> {
    const until = this.#now() + this.#leaseMs;
    try {
      const written = await held.ref.update(
        { until, expireAt: new Date(until) },
        { lastUpdateTime: held.writeTime },
      );
      held.writeTime = written.writeTime;
      held.until = until;
    } catch (err) {
      if (codeOf(err) === FAILED_PRECONDITION && (await this.#stillOurs(held))) return;
      if (codeOf(err) === FAILED_PRECONDITION || codeOf(err) === NOT_FOUND) {
        held.lost = true;
        this.#logger?.warn('lost the attach lock while holding it: another instance took it over', {
          subject: held.subject,
          owner: held.owner,
        });
      } else {
        // Tried again at the next period; the lease stands until then.
        this.#logger?.warn('could not renew the attach lock', {
          subject: held.subject,
          error: describeError(err),
        });
      }
    }
  }

  /**
   * After a renewal's precondition failed: whether the lease is still ours, because our own write
   * committed though its answer was lost (the client resends a commit after UNAVAILABLE, and the
   * resend's precondition is then stale). If so, that write's time and lease end become ours.
   */
  async #stillOurs(held: Held): Promise<boolean> {
    const snap = await held.ref.get().catch(() => undefined);
    const lease = snap?.data() as Partial<SubjectLease> | undefined;
    if (snap?.updateTime === undefined || lease?.owner !== held.owner || typeof lease.until !== 'number')
      return false;
    held.writeTime = snap.updateTime;
    held.until = lease.until;
    return true;
  }

  async #release(held: Held): Promise<void> {
    clearTimeout(held.timer);
    held.timer = undefined;
    await held.renewing;
    if (held.lost) return;
    try {
      await held.ref.delete({ lastUpdateTime: held.writeTime });
    } catch (err) {
      const takenOver = codeOf(err) === FAILED_PRECONDITION || codeOf(err) === NOT_FOUND;
      this.#logger?.warn(
        takenOver
          ? 'the attach lock was taken over before its release: left to its new owner'
          : 'could not release the attach lock; it expires by itself',
        { subject: held.subject, owner: held.owner, ...(takenOver ? {} : { error: describeError(err) }) },
      );
    }
  }
}
