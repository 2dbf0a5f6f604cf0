/**
 * A log request's time limit, as the AbortSignal its fetch runs under: the answer, headers and body,
 * must come within `ms`. Unlike AbortSignal.timeout it stops while the monitor's read budget keeps a
 * body waiting (read-budget.ts): that wait is the monitor's own back-pressure, not the log stalling,
 * and must not fail the read as a stall does. Cleared once the body is read, so no timer outlives
 * its request.
 */
export class Deadline {
  readonly #controller = new AbortController();
  readonly #ms: number;
  /** Time left when the timer last started. */
  #left: number;
  #since = 0;
  #timer: NodeJS.Timeout | undefined;
  #cleared = false;

  constructor(ms: number) {
    this.#ms = ms;
    this.#left = ms;
    this.#start();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Stops the clock (a read waiting on the budget). */
  pause(): void {
    if (this.#timer === undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#left -= performance.now() - this.#since;
  }

  /** Starts it again with the time that was left. */
  resume(): void {
    if (this.#timer !== undefined || this.#cleared || this.#controller.signal.aborted) return;
    this.#start();
  }

  /** The request is over: no abort can come any more. */
  clear(): void {
    this.#cleared = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(): void {
    this.#since = performance.now();
    this.#timer = setTimeout(
      () => this.#controller.abort(new DOMException(`timed out after ${this.#ms} ms`, 'TimeoutError')),
      Math.max(0, this.#left),
    );
    this.#timer.unref();
  }
}

const deadlines = new WeakMap<Response, Deadline>();

/** Records the deadline `res`'s body is read under (http.ts), for body.ts to pause. */
export function attachDeadline(res: Response, deadline: Deadline): void {
  deadlines.set(res, deadline);
}

/** The deadline of a response request() returned; none for one fetched otherwise. */
export function deadlineOf(res: Response): Deadline | undefined {
  return deadlines.get(res);
}
