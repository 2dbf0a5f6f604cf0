/**
 * Serialises the read-modify-write of a subject's `.sig` manifest or referrers fallback index, so two
 * signers of the same digest never drop each other's signature (cosign itself has that race). The
 * in-process lock covers one function instance; a Firestore lease covers many. Neither is trusted
 * alone: writers also re-read after writing and merge again if their entry is gone.
 */
export interface SubjectLock {
  /** Run `fn` while holding the lock for `subject` (a `HOST/REPO@sha256:…` reference). */
  lock<T>(subject: string, fn: () => Promise<T>): Promise<T>;
}

/** A per-subject FIFO of promises; entries are dropped once their queue drains. */
export class InProcessSubjectLock implements SubjectLock {
  readonly #tails = new Map<string, Promise<unknown>>();

  async lock<T>(subject: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(subject) ?? Promise.resolve();
    const run = previous.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#tails.set(subject, tail);
    try {
      return await run;
    } finally {
      if (this.#tails.get(subject) === tail) this.#tails.delete(subject);
    }
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

  lock<T>(subject: string, fn: () => Promise<T>): Promise<T> {
    return this.#outer.lock(subject, () => this.#inner.lock(subject, fn));
  }
}

/**
 * The lock of a subject its caller already holds (one hold around several attachments): the work
 * runs at once. Asking it for another subject is a bug, and refused.
 */
export function heldSubjectLock(subject: string): SubjectLock {
  return {
    lock<T>(asked: string, fn: () => Promise<T>): Promise<T> {
      if (asked !== subject) {
        return Promise.reject(new Error(`the lock on ${asked} was asked for while holding only ${subject}`));
      }
      return fn();
    },
  };
}
