/**
 * The memory a scan may hold in log answers, all its reads together. Each answer has its own limit
 * (limits.ts), but a scan has many in flight: 32 requests and the batches read ahead could hold
 * 32 × 16 MiB of entry bundles in a 256 MiB instance, and a log (or whoever serves its files) could
 * make it do so on every run. Every body read inside a batch's account (body.ts) counts its bytes
 * as they arrive, after inflation; they stay counted until the scan has processed the batch and
 * closes its account, or are given back when the read fails.
 *
 * The budget is split in two halves so that the scan always moves on and never holds more:
 * - the batch the scan waits for next (the head: the oldest open account) may hold half, and its
 *   reads never wait, so it always completes;
 * - the batches read ahead share the other half: a read that does not fit waits, its stream left
 *   unread (TCP back-pressure), until a processed batch frees room, the next batch first.
 * A batch whose answers pass half the budget cannot be held at once: BatchOverBudgetError, whether
 * it is the head or not, and the scan reads it again in smaller batches (scan.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { DependencyError, urlForLog } from '../../errors.ts';
import type { BodyRead } from './body.ts';
import { LogResponseTooLargeError } from './errors.ts';

/** The reads of one batch, counted together. */
export interface ReadAccount {
  /** Runs `read`; every body read it makes (body.ts) counts against this account. */
  run<T>(read: () => Promise<T>): Promise<T>;
  /**
   * Counts `bytes` more of `read`: undefined when they fit now, else a promise that settles once
   * they do. Throws (or rejects) LogResponseTooLargeError when the batch would pass half the
   * budget, and a DependencyError once the account is closed (the scan no longer wants the read).
   */
  take(bytes: number, read: BodyRead): Promise<void> | undefined;
  /** Gives back bytes of a read that failed: nothing will hold them. */
  give(bytes: number): void;
  /**
   * The batch is processed or abandoned: its bytes are free, its waiting reads fail, saying `why`
   * (by default, that the scan has ended).
   */
  close(why?: string): void;
  readonly heldBytes: number;
}

/** The batch of entries [start, end) an account is for, as errors name it. */
export interface BatchRange {
  start: number;
  end: number;
}

const running = new AsyncLocalStorage<ReadAccount>();

/** The account of the batch whose read is running; undefined outside a scan (nothing is counted). */
export function currentReadAccount(): ReadAccount | undefined {
  return running.getStore();
}

interface Account {
  batch: BatchRange;
  held: number;
  closed: boolean;
  /** Why its reads were left unread, once closed. */
  why?: string;
}

interface Waiter {
  account: Account;
  bytes: number;
  read: BodyRead;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class ReadBudget {
  readonly maxBytes: number;
  /** What one batch may hold: half the budget. The batches read ahead share the other half. */
  readonly batchMaxBytes: number;
  /** Open accounts in the order the scan opened them, which is its batches' order: [0] is the head. */
  readonly #accounts: Account[] = [];
  /** Reads waiting for room, in their batches' order, then in the order they came. */
  #waiting: Waiter[] = [];
  #held = 0;
  #peak = 0;

  constructor(maxBytes: number) {
    if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 2)) {
      throw new RangeError(`a read budget is a whole number of bytes, not ${maxBytes}`);
    }
    this.maxBytes = maxBytes;
    this.batchMaxBytes = Math.floor(maxBytes / 2);
  }

  /** Bytes counted now, over all open accounts. */
  get heldBytes(): number {
    return this.#held;
  }

  /** The most ever counted at once. */
  get peakBytes(): number {
    return this.#peak;
  }

  /** An account for the scan's next batch: opened in the order the scan processes them. */
  open(batch: BatchRange): ReadAccount {
    const account: Account = { batch, held: 0, closed: false };
    const handle: ReadAccount = {
      run: (read) => running.run(handle, read),
      take: (bytes, read) => this.#take(account, bytes, read),
      give: (bytes) => this.#give(account, bytes),
      close: (why) => this.#close(account, true, why),
      get heldBytes() {
        return account.held;
      },
    };
    this.#accounts.push(account);
    return handle;
  }

  /** The scan has ended: every account is closed, and the reads it left behind stop. */
  end(): void {
    // All closed before any waiting read is looked at: none is let on by another's closing.
    for (const account of [...this.#accounts]) this.#close(account, false);
    this.#wake();
  }

  #take(account: Account, bytes: number, read: BodyRead): Promise<void> | undefined {
    if (account.closed) throw abandoned(read, account.why);
    if (account.held + bytes > this.batchMaxBytes) throw this.#tooLarge(account, read);
    if (this.#isHead(account) || (this.#waiting.length === 0 && this.#fitsAhead(bytes))) {
      this.#count(account, bytes);
      return undefined;
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({ account, bytes, read, resolve, reject });
      // A read of an earlier batch than those waiting goes first, and may fit now.
      this.#wake();
    });
  }

  #give(account: Account, bytes: number): void {
    if (account.closed) return; // its bytes were freed with it
    const freed = Math.min(bytes, account.held);
    account.held -= freed;
    this.#held -= freed;
    this.#wake();
  }

  #close(account: Account, wake = true, why?: string): void {
    if (account.closed) return;
    account.closed = true;
    if (why !== undefined) account.why = why;
    this.#held -= account.held;
    account.held = 0;
    this.#accounts.splice(this.#accounts.indexOf(account), 1);
    if (wake) this.#wake();
  }

  /** Lets waiting reads go on as room allows: the head's always, the others in their batches' order. */
  #wake(): void {
    this.#waiting.sort((a, b) => this.#accounts.indexOf(a.account) - this.#accounts.indexOf(b.account));
    const still: Waiter[] = [];
    let blocked = false;
    for (const w of this.#waiting) {
      if (w.account.closed) w.reject(abandoned(w.read, w.account.why));
      else if (w.account.held + w.bytes > this.batchMaxBytes) w.reject(this.#tooLarge(w.account, w.read));
      else if (this.#isHead(w.account) || (!blocked && this.#fitsAhead(w.bytes))) {
        this.#count(w.account, w.bytes);
        w.resolve();
      } else {
        // A later batch's read does not overtake one that waits for room.
        blocked = true;
        still.push(w);
      }
    }
    this.#waiting = still;
  }

  #isHead(account: Account): boolean {
    return this.#accounts[0] === account;
  }

  /** Whether `bytes` more fit the half the batches after the head share. */
  #fitsAhead(bytes: number): boolean {
    const ahead = this.#held - (this.#accounts[0]?.held ?? 0);
    return ahead + bytes <= this.maxBytes - this.batchMaxBytes;
  }

  #count(account: Account, bytes: number): void {
    account.held += bytes;
    this.#held += bytes;
    if (this.#held > this.#peak) this.#peak = this.#held;
  }

  #tooLarge(account: Account, read: BodyRead): BatchOverBudgetError {
    const { start, end } = account.batch;
    return new BatchOverBudgetError(
      account.batch,
      `batch of entries [${start}, ${end})`,
      read.url,
      this.batchMaxBytes,
      `half the monitor's read budget of ${this.maxBytes} bytes (limits.readBudgetBytes); ` +
        `the ${read.what} took it past`,
      // The batch's first index, where the cursor stays: which of its reads crossed is chance.
      { ...read.details, logIndex: start, batchEnd: end },
    );
  }
}

/**
 * A batch whose answers together pass half the budget. Each answer fits (its own limit is below
 * half), so the scan reads the batch again in smaller parts (scan.ts); only a batch of one unit that
 * still does not fit is the log fault a LogResponseTooLargeError is.
 */
export class BatchOverBudgetError extends LogResponseTooLargeError {
  readonly batch: BatchRange;
  constructor(batch: BatchRange, ...args: ConstructorParameters<typeof LogResponseTooLargeError>) {
    super(...args);
    this.batch = batch;
  }
}

function abandoned(read: BodyRead, why = 'the scan that asked for it has ended'): DependencyError {
  return new DependencyError(
    'rekor',
    `the ${read.what} at ${urlForLog(read.url)} was left unread: ${why}`,
    read.details ?? {},
  );
}
