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
 * The key version cannot be used. This class itself is not retryable: retrying will not change it
 * without an operator, for it is disabled or destroyed (not PENDING_GENERATION / PENDING_IMPORT:
 * kms-signer.ts kmsError makes those a retryable DependencyError), its algorithm is not a signing
 * algorithm sigsentry supports, or it does not exist. KMS denying it to us is KmsPermissionDeniedError.
 */
export class KmsKeyUnusableError extends SigsentryError {
  constructor(message: string, details: { keyVersion: string } & Record<string, unknown>, cause?: unknown) {
    super('KMS_KEY_UNUSABLE', message, { retryable: false, details, cause });
  }
}

/**
 * KMS denied the key version to us (PERMISSION_DENIED): no role grants it to this identity, or a grant
 * has not reached KMS yet. IAM grants are eventually consistent ("typically 2 minutes, potentially 7
 * minutes or longer", https://cloud.google.com/iam/docs/access-change-propagation), so a deployment
 * whose grant is still propagating meets this on its first pushes: retryable, like a registry's 401/403,
 * so such a push is signed once the grant arrives, and one that never does ends as every lasting
 * failure does (signOnPush's signing-failed alert after its attempts, or Pub/Sub's dead letter).
 * Still a key sigsentry cannot use now, for callers that only ask that (reverifyImages, monitorLog).
 */
export class KmsPermissionDeniedError extends KmsKeyUnusableError {
  override readonly code: string = 'KMS_PERMISSION_DENIED';
  override readonly retryable: boolean = true;
}
