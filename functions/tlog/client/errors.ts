import { SigsentryError } from '../../errors.ts';

/**
 * The log did something a trustworthy log never does: a bad proof, a rewritten entry, a shrunk or
 * forked tree, an unsigned checkpoint. Names the log index or sizes it concerns. Not retryable.
 */
export class LogIntegrityError extends SigsentryError {
  readonly reason: string;
  constructor(reason: string, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super('LOG_INTEGRITY', message, { retryable: false, details: { reason, ...details }, cause });
    this.reason = reason;
  }
}
