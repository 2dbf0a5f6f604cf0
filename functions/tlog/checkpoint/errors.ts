import { SigsentryError } from '../../errors.ts';

/** A checkpoint that cannot be parsed or whose signature does not hold. Never retryable. */
export class CheckpointError extends SigsentryError {
  readonly reason: string;
  constructor(reason: string, message: string, details: Record<string, unknown> = {}) {
    super('CHECKPOINT_INVALID', message, { retryable: false, details: { reason, ...details } });
    this.reason = reason;
  }
}
