import { SigsentryError } from '../../errors.ts';

/**
 * A proof that does not prove what it claims. Not retryable: a log that serves a bad proof is
 * either broken or lying, and asking again must not paper over it.
 */
export class MerkleProofError extends SigsentryError {
  readonly reason: string;
  constructor(reason: string, message: string, details: Record<string, unknown> = {}) {
    super('MERKLE_PROOF_INVALID', message, { retryable: false, details: { reason, ...details } });
    this.reason = reason;
  }
}
