/**
 * The policies of the watched repositories, and the KMS public keys they hold, kept for a function
 * instance's life. KMS refuses the public key of a key version that is not ENABLED (FAILED_PRECONDITION),
 * which is what a security team does to a signing key suspected compromised: such a key is left out of
 * every policy (nothing can be verified with a key one does not have), reported on every pass, and
 * asked for again before each pass, so enabling it again heals a running instance. Any other failure
 * (permission denied, no such key, KMS unreachable) is thrown, at start-up as on a pass: those are
 * configuration or outage errors, and trusting fewer keys in silence would hide them.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import { firstMatchingRule } from '../config/shared-document.ts';
import { SigsentryError } from '../errors.ts';
import { KmsKeyUnusableError } from '../signing/errors.ts';
import { type ExpectedKey, expectedKeyFromPem, type ImagePolicy, policyId } from '../verify/policy.ts';
import { type ReverifyConfig, ruleExpectedKeys } from './config.ts';
import type { OwnedPolicyLookup } from './core.ts';

/** A KMS key version whose public key KMS refused for its state: in no policy. */
export interface UnavailableKey {
  /** The key version resource name (without `gcpkms://`). */
  keyVersion: string;
  /** Its state as KMS named it (DISABLED, DESTROYED, DESTROY_SCHEDULED, …). */
  state: string;
  /** KMS's answer. */
  error: string;
  /** The watch rules (repository globs) whose repositories expect it. */
  repositories: string[];
}

/** What a pass's policies hold of the configured KMS key versions. */
export interface OwnedKeysReport {
  /** Key versions whose public keys the policies hold. */
  trusted: string[];
  /** Key versions refused for their state, in no policy. */
  unavailable: UnavailableKey[];
}

/** A configured KMS key version (as written: a resource name or `gcpkms://…`) to its public key. */
export type KmsKeyFetch = (keyVersion: string) => Promise<ExpectedKey>;

/**
 * The state KMS refused a key version's public key for, or undefined for any other failure. Only
 * FAILED_PRECONDITION naming a state other than ENABLED (kms-signer.ts kmsError parses "current
 * state is: X" from KMS's message) counts: a FAILED_PRECONDITION for anything else is not a state
 * an operator set, and is thrown like the rest.
 */
export function refusedForState(err: unknown): string | undefined {
  if (!(err instanceof KmsKeyUnusableError)) return undefined;
  if (err.details['grpcCode'] !== grpcStatus.FAILED_PRECONDITION) return undefined;
  const state = err.details['state'];
  return typeof state === 'string' && state !== 'ENABLED' ? state : undefined;
}

/** A key version's public key, or why KMS refused it for its state; throws any other failure. */
export async function fetchOwnedKey(
  kmsKey: KmsKeyFetch,
  name: string,
): Promise<{ key: ExpectedKey } | { refused: { keyVersion: string; state: string; error: string } }> {
  try {
    return { key: await kmsKey(name) };
  } catch (err) {
    const state = refusedForState(err);
    if (state === undefined) throw err;
    const keyVersion = (err as KmsKeyUnusableError).details['keyVersion'];
    return {
      refused: {
        keyVersion: typeof keyVersion === 'string' ? keyVersion : name,
        state,
        error: (err as Error).message,
      },
    };
  }
}

/** Every KMS key version the configuration names, once: the rules' keys and those of every repository. */
export function kmsKeyVersions(config: ReverifyConfig): string[] {
  const ruleKeys = config.watch.flatMap((rule) => (rule.key === undefined ? [] : [rule.key]));
  return [...new Set([...config.keys, ...ruleKeys])];
}

/** Each key once (by key version, or PEM hint): a rule's key may be listed for every repository too. */
function distinctKeys(keys: ExpectedKey[]): ExpectedKey[] {
  return [...new Map(keys.map((key) => [key.id, key])).values()];
}

export interface OwnedPolicies {
  /**
   * Asks KMS again for the public keys it refused (one call each; those it gave are kept), then
   * returns the pass's policy lookup and what it holds. A policy object is the same as the last
   * pass's while its keys are; one whose keys changed is a new object with another `policyId`, so
   * its tags' recorded verdicts are judged again. Throws what `fetchOwnedKey` throws.
   */
  forPass(): Promise<{ ownedPolicy: OwnedPolicyLookup; keys: OwnedKeysReport }>;
}

/**
 * The policy of each watched repository: that of the first watch rule matching it, as signOnPush
 * picks the key it signs the repository with, so one rule's key never passes another rule's images.
 * A policy per rule; each KMS key fetched once while KMS gives it (`kmsKey`). Throws, as `forPass`,
 * when a key cannot be fetched for another reason than its state.
 */
export async function ownedPolicies(config: ReverifyConfig, kmsKey: KmsKeyFetch): Promise<OwnedPolicies> {
  const names = kmsKeyVersions(config);
  const fetched = new Map<string, ExpectedKey>();
  let refused = new Map<string, UnavailableKey>();
  const fromPem = new Map(config.publicKeys.map((pem) => [pem, expectedKeyFromPem(pem)]));
  // A deployment that signs without a log (REKOR_URL=none) has no entry to ask its own images for;
  // watchlist policies keep theirs.
  const tlog = config.log.kind === 'none' ? { requireTlog: false } : {};
  const expectedBy = (name: string) =>
    config.watch
      .filter((rule) => ruleExpectedKeys(config, rule).keys.includes(name))
      .map((r) => r.repositories);

  /**
   * Fetches what is not fetched yet, all at once, keeping what KMS gave; then throws the first
   * failure not for a state (a key it hit that was refused before stays reported as refused).
   */
  const fetchMissing = async () => {
    const missing = names.filter((name) => !fetched.has(name));
    const settled = await Promise.allSettled(missing.map((name) => fetchOwnedKey(kmsKey, name)));
    const next = new Map<string, UnavailableKey>();
    let failure: { error: unknown } | undefined;
    settled.forEach((result, i) => {
      const name = missing[i]!;
      if (result.status === 'rejected') {
        failure ??= { error: result.reason };
        const before = refused.get(name);
        if (before !== undefined) next.set(name, before);
      } else if ('key' in result.value) {
        fetched.set(name, result.value.key);
      } else {
        next.set(name, { ...result.value.refused, repositories: expectedBy(name) });
      }
    });
    refused = next;
    if (failure !== undefined) throw failure.error;
  };

  let rules: Array<{ repositories: string; policy: ImagePolicy }> = [];
  /** The rules' policies over the keys fetched so far, each object kept while its keys are the same. */
  const buildRules = () => {
    rules = config.watch.map((rule, i) => {
      const expected = ruleExpectedKeys(config, rule);
      const keys = distinctKeys([
        ...expected.keys.flatMap((name) => fetched.get(name) ?? []),
        ...expected.publicKeys.map((pem) => fromPem.get(pem)!),
      ]);
      const policy: ImagePolicy = { keys, identities: [], ...tlog };
      const previous = rules[i]?.policy;
      return {
        repositories: rule.repositories,
        policy: previous !== undefined && policyId(previous) === policyId(policy) ? previous : policy,
      };
    });
  };

  const lookupOver = (snapshot: typeof rules): OwnedPolicyLookup => {
    return (repository) => {
      const rule = firstMatchingRule(snapshot, repository);
      if (rule === undefined) {
        // The inventory lists only repositories a watch glob matches: a bug, not a configuration.
        throw new SigsentryError('NOT_WATCHED', `no watch rule matches ${repository}`, {
          details: { repository },
        });
      }
      return rule.policy;
    };
  };

  // Passes on one instance may overlap: they share one round of fetches.
  let inFlight: Promise<void> | undefined;
  const fetchShared = async () => {
    inFlight ??= fetchMissing().finally(() => {
      inFlight = undefined;
    });
    await inFlight;
  };

  await fetchShared();
  let first = true;
  return {
    async forPass() {
      // The fetch at start-up serves the first pass: one round of calls per pass.
      if (!first && names.some((name) => !fetched.has(name))) await fetchShared();
      first = false;
      buildRules();
      return {
        ownedPolicy: lookupOver(rules),
        keys: {
          trusted: [...new Set([...fetched.values()].map((k) => k.keyVersion!))],
          unavailable: [...refused.values()],
        },
      };
    },
  };
}
