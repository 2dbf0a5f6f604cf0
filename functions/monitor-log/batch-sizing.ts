/** Batches that fit in a row before one as large as one that did not fit is tried again. */
const REFITS_BEFORE_REGROWTH = 8;

/**
 * How many entries a scan reads in its next batch. A batch whose answers pass half the read budget
 * (read-budget.ts) is read again at half its size, down to one unit (a whole entry bundle on a
 * tile log); batches then grow back towards the configured size, but only below the size that did
 * not fit until a run of batches has fitted (entry sizes change along a log): each re-read costs a
 * batch's bytes again.
 */
export class BatchSizing {
  readonly #configured: number;
  readonly #unit: number;
  #size: number;
  #tooBig = Number.POSITIVE_INFINITY;
  #fittedSince = 0;

  constructor(configured: number, unit: number) {
    this.#configured = configured;
    this.#unit = unit;
    this.#size = configured;
  }

  get size(): number {
    return this.#size;
  }

  /**
   * A batch of `length` entries did not fit: the next ones are half as large. False when it was one
   * unit already, which no smaller batch can mend (a log fault).
   */
  shrink(length: number): boolean {
    if (length <= this.#unit) return false;
    this.#tooBig = length;
    this.#fittedSince = 0;
    this.#size = Math.max(this.#unit, Math.floor(length / 2 / this.#unit) * this.#unit);
    return true;
  }

  /** A batch was read and recorded. */
  fitted(): void {
    if (++this.#fittedSince >= REFITS_BEFORE_REGROWTH) this.#tooBig = Number.POSITIVE_INFINITY;
    if (this.#size * 2 < this.#tooBig) this.#size = Math.min(this.#configured, this.#size * 2);
  }
}
