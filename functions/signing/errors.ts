/**
 * Errors of the signing concern. Both carry the key version they concern in `details.keyVersion`.
 */
import { SigsentryError } from '../errors.ts';

/**
 * A KMS response (or our request, as KMS saw it) failed an integrity check: a CRC32C mismatch, a
 * request checksum KMS did not verify, a response naming another key version, a signature that
 * does not verify. Google's guidance is to discard the response and retry a limited number of
 * times, so this is retryable.
 */
export class KmsIntegrityError extends SigsentryError {
  constructor(message: string, details: { keyVersion: string; check: string } & Record<string, unknown>) {
    super('KMS_INTEGRITY', message, { retryable: true, details });
  }
}

/**
 * The key version cannot sign and retrying will not change that without an operator: it is
 * disabled or destroyed (not PENDING_GENERATION / PENDING_IMPORT: kms-signer.ts kmsError makes those a
 * retryable DependencyError), its algorithm is not a signing algorithm sigsentry supports, it does not
 * exist, or we may not use it.
 */
export class KmsKeyUnusableError extends SigsentryError {
  constructor(message: string, details: { keyVersion: string } & Record<string, unknown>, cause?: unknown) {
    super('KMS_KEY_UNUSABLE', message, { retryable: false, details, cause });
  }
}
