/**
 * Serialises the writers of one subject (image digest): signOnPush holds it for a whole signing,
 * whose attaches read-modify-write the subject's `.sig` manifest or referrers fallback index, so two
 * signers of the same digest never drop each other's signature (cosign itself has that race). The
 * in-process lock covers one function instance; a Firestore lease covers many. Neither is trusted
 * alone: writers also re-read after writing and merge again if their entry is gone.
 */
import { DependencyError, SigsentryError } from '../errors.ts';

export interface SubjectLock {
  /**
   * Run `fn` while holding the lock for `subject` (a `HOST/REPO@sha256:…` reference). `fn` calls
   * its hold's `check` right before each read-modify-write it makes under the lock.
   */
  lock<T>(subject: string, fn: (hold: LockHold) => Promise<T>): Promise<T>;
}

/** One holding of a lock, as its holder sees it. */
export interface LockHold {
  /**
   * Throws a retryable DependencyError when the hold may no longer exclude other writers (a lease
   * another instance took over, or one that lapsed unrenewed): the holder must not write then.
   */
  check(): void;
}

/** The hold of a lock that cannot lapse while its holder runs (the in-process lock). */
export const UNLAPSING_HOLD: LockHold = { check() {} };

/**
 * A per-subject FIFO of promises; entries are dropped once their queue drains. A waiter gives up
 * after `waitMs` (a retryable DependencyError) rather than queue behind holders without end; the
 * holders after it still wait for the ones before it.
 */
export class InProcessSubjectLock implements SubjectLock {
  readonly #tails = new Map<string, Promise<unknown>>();
  readonly #waitMs: number;

  constructor(options: { waitMs?: number } = {}) {
    this.#waitMs = options.waitMs ?? 60_000;
  }

  async lock<T>(subject: string, fn: (hold: LockHold) => Promise<T>): Promise<T> {
    const previous = this.#tails.get(subject) ?? Promise.resolve();
    const turn = previous.then(
      () => undefined,
      () => undefined,
    );
    const run = this.#afterTurn(subject, turn, fn);
    // The next holder goes after the ones before this one, and after this one if it ran.
    const tail = Promise.all([turn, run.catch(() => undefined)]);
    this.#tails.set(subject, tail);
    // Dropped once it has settled (not when this waiter gives up: the holders before it still hold).
    void tail.then(() => {
      if (this.#tails.get(subject) === tail) this.#tails.delete(subject);
    });
    return await run;
  }

  async #afterTurn<T>(subject: string, turn: Promise<void>, fn: (hold: LockHold) => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'gave-up'>((resolve) => {
      timer = setTimeout(() => resolve('gave-up'), this.#waitMs);
      timer.unref();
    });
    const outcome = await Promise.race([turn, gaveUp]);
    clearTimeout(timer);
    if (outcome === 'gave-up') {
      throw new DependencyError(
        'lock',
        `the lock on ${subject} is still held in this instance after ${this.#waitMs} ms`,
        { subject, waitedMs: this.#waitMs },
      );
    }
    return await fn(UNLAPSING_HOLD);
  }
}

/**
 * Holds `outer`, then `inner`, for the same subject: e.g. the in-process lock around the Firestore
 * lease, so concurrent deliveries in one instance queue in memory and only one of them at a time
 * polls Firestore.
 */
export class NestedSubjectLock implements SubjectLock {
  readonly #outer: SubjectLock;
  readonly #inner: SubjectLock;
  constructor(outer: SubjectLock, inner: SubjectLock) {
    this.#outer = outer;
    this.#inner = inner;
  }

  lock<T>(subject: string, fn: (hold: LockHold) => Promise<T>): Promise<T> {
    return this.#outer.lock(subject, (outer) =>
      this.#inner.lock(subject, (inner) =>
        fn({
          check() {
            outer.check();
            inner.check();
          },
        }),
      ),
    );
  }
}

/**
 * The lock of a subject its caller already holds as `hold` (one hold around several attachments):
 * the work runs at once, under that hold. Asking it for another subject is a bug, and refused.
 */
export function heldSubjectLock(subject: string, hold: LockHold): SubjectLock {
  return {
    lock<T>(asked: string, fn: (hold: LockHold) => Promise<T>): Promise<T> {
      if (asked !== subject) {
        // A bug, not a passing fault: not retried.
        return Promise.reject(
          new SigsentryError(
            'LOCK_MISUSED',
            `the lock on ${asked} was asked for while holding only ${subject}`,
            {
              details: { subject: asked, held: subject },
            },
          ),
        );
      }
      return fn(hold);
    },
  };
}
