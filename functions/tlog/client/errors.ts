import { SigsentryError, urlForLog } from '../../errors.ts';

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

/**
 * A log answer larger than the log can legitimately send (client/limits.ts): refused by its
 * Content-Length, or cancelled once that many bytes arrived (after decompression). A log fault, as
 * a malformed answer is: not retryable. Names the URL (origin and path) and the limit.
 */
export class LogResponseTooLargeError extends LogIntegrityError {
  readonly url: string;
  readonly limit: number;
  constructor(what: string, url: string, limit: number, seen: string, details: Record<string, unknown> = {}) {
    const where = urlForLog(url);
    const message = `the ${what} at ${where} is larger than its limit of ${limit} bytes (${seen})`;
    super('response-too-large', message, { ...details, url: where, limit });
    this.url = where;
    this.limit = limit;
  }
}
