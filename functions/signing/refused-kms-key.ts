/**
 * An owned KMS key version's public key, or why KMS refused it: the one place that tells a key
 * version an operator took out of service (or KMS has not made yet) from a failure to reach it.
 * reverifyImages (reverify/owned-policies.ts) and monitorLog (monitor-log/identities.ts) both keep
 * going without such a key version, and both stop on anything else.
 */
import type { SigsentryError } from '../errors.ts';
import { isTransientKeyState, refusedKeyState } from './kms-signer.ts';

/** A key version whose public key KMS refused for its state. */
export interface RefusedKmsKey {
  /** The key version resource name KMS was asked for (the name fetched, if the error names none). */
  keyVersion: string;
  /** The state KMS named (DISABLED, DESTROY_SCHEDULED, DESTROYED, PENDING_GENERATION, …). */
  state: string;
  /** KMS's answer. */
  error: string;
  /**
   * KMS makes it ENABLED by itself (PENDING_GENERATION, PENDING_IMPORT): nothing can have been
   * signed with it yet, so there is nothing to alert on or keep.
   */
  transient: boolean;
}

/**
 * `fetch(name)`'s public key, or the refusal when KMS refused it for a state other than ENABLED
 * (kms-signer.ts refusedKeyState). Any other failure (permission denied, no such key, KMS
 * unreachable) is thrown: a configuration or outage error must not pass for a key taken out of service.
 */
export async function fetchUnlessRefused<K>(
  fetch: (name: string) => Promise<K>,
  name: string,
): Promise<{ key: K } | { refused: RefusedKmsKey }> {
  try {
    return { key: await fetch(name) };
  } catch (err) {
    const state = refusedKeyState(err);
    if (state === undefined) throw err;
    // refusedKeyState names a state only for kms-signer's errors: a SigsentryError with details.
    const { message, details } = err as SigsentryError;
    const keyVersion = details['keyVersion'];
    return {
      refused: {
        keyVersion: typeof keyVersion === 'string' ? keyVersion : name,
        state,
        error: message,
        transient: isTransientKeyState(state),
      },
    };
  }
}
