import { createHash } from 'node:crypto';
import { InvalidInputError } from '../errors.ts';

/** sha256 is the only algorithm Artifact Registry and cosign use; anything else is refused, not guessed at. */
const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;

export function isDigest(value: string): boolean {
  return SHA256_DIGEST.test(value);
}

export function assertDigest(value: string, details: Record<string, unknown> = {}): string {
  if (!isDigest(value)) throw new InvalidInputError(`not a sha256 digest: ${JSON.stringify(value)}`, details);
  return value;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * The tag a digest maps to in the OCI referrers tag schema (`sha256-<hex>`), which is also the stem of
 * cosign's `sha256-<hex>.sig` tag (distribution-spec "Referrers Tag Schema"; cosign SIGNATURE_SPEC.md).
 */
export function digestTag(digest: string): string {
  return assertDigest(digest).replace(':', '-');
}
