/**
 * The policies of the watched repositories, and the KMS public keys they hold, kept for a function
 * instance's life. KMS refuses the public key of a key version that is not ENABLED (FAILED_PRECONDITION),
 * which is what a security team does to a signing key suspected compromised: such a key is reported
 * on every pass and asked for again before each pass, so enabling it again heals a running instance.
 * Its public key as KMS last gave it is kept in Firestore (kept-keys.ts) and, while KMS refuses it,
 * the policies hold that kept key, so the images signed with the key version are reported
 * `key-disabled` by any instance, fresh or warm; with no kept key it is in no policy (nothing can be
 * verified with a key one does not have) and those images fail as `unsigned`. Nor can a `publicKeys`
 * PEM then be told from it (a PEM that is a KMS key of the policy gives way to it, but there is no key
 * to compare with): while a key version is refused with none kept, every PEM is judged with that key
 * version's state (`publicKeysJudged`), so no image passes on a PEM that may be the disabled key; a
 * PEM that is another key fails too (`key-disabled`) until the key version is enabled again or its key
 * kept. A kept-key store that fails, reading or writing, is reported in the pass's errors
 * (`OwnedKeysReport.errors`) as well as logged; a failed write is tried again every pass.
 * A key version KMS is still generating or importing (PENDING_GENERATION, PENDING_IMPORT: it becomes
 * ENABLED by itself, and nothing can have been signed with it yet) is in no policy either, reported
 * with a WARNING line and no alert, and asked for again every pass. Any other failure
 * (permission denied, no such key, KMS unreachable) is thrown, at start-up as on a pass: those are
 * configuration or outage errors, and trusting fewer keys in silence would hide them.
 *
 * Why a kept key cannot pass an image, even one written by someone who can write Firestore: it is
 * used only for a key version KMS refused for a state other than ENABLED in this very pass, and the
 * pass judges that key version with the state KMS refused it for (`pinKeptKeyStates`, applied by
 * reverifyOnce, which refuses to run with kept keys and no key-state lookup), so the verifier
 * (verify/verifier.ts applyKeyStates) turns every signature it verifies with it into `key-disabled`,
 * a failing verdict, even if the key is enabled again meanwhile. A kept key also has an id of its own
 * (so a verdict recorded under it is verified again, not reused, once KMS gives the key again), and
 * one whose public key is that of another key of the policy is left out (it would take that key's
 * signatures). So a tampered kept key can at worst turn one failing verdict (`unsigned`) into another
 * (`key-disabled`), never pass an image.
 */
import { firstMatchingRule } from '../config/shared-document.ts';
import { SigsentryError } from '../errors.ts';
import { errorMessage } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { isTransientKeyState } from '../signing/kms-signer.ts';
import { fetchUnlessRefused } from '../signing/refused-kms-key.ts';
import {
  type ExpectedKey,
  expectedKeyFromPem,
  type ImagePolicy,
  kmsKeyResourceName,
  policyId,
} from '../verify/policy.ts';
import type { KeyStateLookup } from '../verify/verifier.ts';
import { type ReverifyConfig, ruleExpectedKeys } from './config.ts';
import type { OwnedPolicyLookup } from './core.ts';
import { KEPT_KEYS_COLLECTION, type KeptKeyStore, keepKmsPublicKey } from './kept-keys.ts';

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
  /**
   * Present when the policies hold the public key kept when KMS last gave it (kept-keys.ts): its
   * signatures verify, and are reported `key-disabled`. Absent: trusted for nothing.
   */
  kept?: { readAt: string };
  /** Why no kept key could be read, when the store failed. */
  keptKeyError?: string;
  /**
   * The hints of the `publicKeys` PEMs judged with this key version's state: with no kept key, a PEM
   * may be this very key (the first such key version of the configuration takes them all).
   */
  publicKeysJudged?: string[];
}

/** What a pass's policies hold of the configured KMS key versions. */
export interface OwnedKeysReport {
  /** Key versions whose public keys the policies hold. */
  trusted: string[];
  /** Key versions refused for their state: in no policy, or with their kept key (`kept`). */
  unavailable: UnavailableKey[];
  /** Kept-key store failures standing (`ref` is `reverify-keys/KEY_VERSION`): the pass reports them. */
  errors?: Array<{ ref: string; error: string }>;
}

/**
 * A configured KMS key version (as written: a resource name or `gcpkms://…`) to its public key, with
 * the PEM and algorithm KMS gave when known (the PEM is otherwise exported from the key).
 */
export type KmsKeyFetch = (keyVersion: string) => Promise<ExpectedKey & { pem?: string; algorithm?: string }>;

export interface OwnedPoliciesOptions {
  /** Where the public keys KMS gives are kept, and read from when it refuses them. Absent: none kept. */
  keptKeys?: KeptKeyStore;
  /** For the ERROR lines of a kept-key store that fails (required with `keptKeys`). */
  logger?: Logger;
  now?: () => Date;
}

/**
 * The key-state lookup of a pass whose policies hold kept keys: a kept key version is judged with the
 * state KMS refused its public key for this pass (not asked again: were it enabled meanwhile, a
 * kept key, which KMS did not give this pass, would make its signatures valid), any other with
 * `lookup`. Without kept keys, `lookup` itself; kept keys and no lookup is a wiring bug, thrown.
 */
export function pinKeptKeyStates(
  keys: OwnedKeysReport,
  lookup: KeyStateLookup | undefined,
): KeyStateLookup | undefined {
  const pinned = new Map(
    keys.unavailable.flatMap((k) =>
      k.kept === undefined && (k.publicKeysJudged ?? []).length === 0 ? [] : [[k.keyVersion, k.state]],
    ),
  );
  if (pinned.size === 0) return lookup;
  if (lookup === undefined) {
    throw new SigsentryError('KEPT_KEYS_WITHOUT_KEY_STATES', 'kept KMS public keys need key states checked', {
      details: { keyVersions: [...pinned.keys()] },
    });
  }
  return async (keyVersion) => pinned.get(kmsKeyResourceName(keyVersion)) ?? (await lookup(keyVersion));
}

/** Every KMS key version the configuration names, once: the rules' keys and those of every repository. */
export function kmsKeyVersions(config: ReverifyConfig): string[] {
  const ruleKeys = config.watch.flatMap((rule) => (rule.key === undefined ? [] : [rule.key]));
  return [...new Set([...config.keys, ...ruleKeys])];
}

/** The id of a kept key: not its key version's, so verdicts recorded under the one are not reused for the other. */
export const keptKeyId = (keyVersion: string, hint: string) => `${keyVersion} (kept key ${hint})`;

/** Each key once (by key version, or PEM hint): a rule's key may be listed for every repository too. */
function distinctKeys(keys: ExpectedKey[]): ExpectedKey[] {
  return [...new Map(keys.map((key) => [key.id, key])).values()];
}

/**
 * Whether two keys are one key, by their material (KeyObject.equals), not their encoding: the same
 * EC key may come with a compressed or an uncompressed point, whose DER and hint differ.
 */
function sameKey(a: ExpectedKey, b: ExpectedKey): boolean {
  return a.publicKey.equals(b.publicKey);
}

export interface OwnedPolicies {
  /**
   * Asks KMS again for the public keys it refused (one call each; those it gave are kept), then
   * returns the pass's policy lookup and what it holds. A policy object is the same as the last
   * pass's while its keys are; one whose keys changed is a new object with another `policyId`, so
   * its tags' recorded verdicts are judged again. Throws what `fetchUnlessRefused` throws.
   */
  forPass(): Promise<{ ownedPolicy: OwnedPolicyLookup; keys: OwnedKeysReport }>;
}

/**
 * The policy of each watched repository: that of the first watch rule matching it, as signOnPush
 * picks the key it signs the repository with, so one rule's key never passes another rule's images.
 * A policy per rule; each KMS key fetched once while KMS gives it (`kmsKey`), and kept in
 * `options.keptKeys`; a key KMS refuses is in its rules' policies with its kept key, if any. Throws, as `forPass`,
 * when a key cannot be fetched for another reason than its state.
 */
export async function ownedPolicies(
  config: ReverifyConfig,
  kmsKey: KmsKeyFetch,
  options: OwnedPoliciesOptions = {},
): Promise<OwnedPolicies> {
  const names = kmsKeyVersions(config);
  const fetched = new Map<string, ExpectedKey>();
  let refused = new Map<string, UnavailableKey>();
  /** The kept keys of the refused key versions (by configured name), as read this round. */
  let kept = new Map<string, ExpectedKey>();
  const { keptKeys } = options;
  const now = options.now ?? (() => new Date());
  const storeError = (message: string, fields: Record<string, unknown>) =>
    (options.logger ?? { error: () => {} }).error(message, fields);
  /**
   * The store's failures standing, by key version: each pass reports them in its errors (a failure
   * only logged would let a key go unkept, or a refused key untrusted, with nobody told).
   */
  const storeFailures = new Map<string, string>();
  const storeRef = (keyVersion: string) => `${KEPT_KEYS_COLLECTION}/${keyVersion}`;
  const failureText = (operation: 'keep' | 'read', keyVersion: string, err: unknown) =>
    `${operation === 'keep' ? 'writing' : 'reading'} the kept public key of KMS key version ${keyVersion} failed: ${errorMessage(
      err,
    )}`;
  /** Keys KMS gave that could not be kept yet, by configured name: each pass tries again. */
  const unkept = new Map<string, ExpectedKey & { pem?: string; algorithm?: string }>();

  /**
   * Keeps a public key KMS gave when none or another is kept. A failure is logged and reported in
   * the passes' errors until a write succeeds (tried again each pass); the key is verified with all
   * the same.
   */
  const keep = async (name: string, key: ExpectedKey & { pem?: string; algorithm?: string }) => {
    if (keptKeys === undefined) return;
    const keyVersion = key.keyVersion ?? kmsKeyResourceName(name);
    const pem = key.pem ?? key.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    try {
      await keepKmsPublicKey(
        keptKeys,
        { keyVersion, pem, ...(key.algorithm === undefined ? {} : { algorithm: key.algorithm }) },
        now(),
      );
      unkept.delete(name);
      storeFailures.delete(keyVersion);
    } catch (err) {
      unkept.set(name, key);
      storeFailures.set(keyVersion, failureText('keep', keyVersion, err));
      storeError(
        `could not keep the public key of KMS key version ${keyVersion}; it is verified with all the same, and kept by a later pass`,
        {
          keyVersion,
          collection: KEPT_KEYS_COLLECTION,
          operation: 'keep',
          error: err,
        },
      );
    }
  };

  /**
   * The kept key of a key version KMS refused, if one is kept and readable; a failure is logged,
   * reported in the passes' errors until a read succeeds, and given back as `error`.
   */
  const readKept = async (
    keyVersion: string,
  ): Promise<{ key: ExpectedKey; readAt: string } | { error: string } | undefined> => {
    if (keptKeys === undefined) return undefined;
    try {
      const stored = await keptKeys.get(keyVersion);
      storeFailures.delete(keyVersion);
      if (stored === undefined) return undefined;
      const key = expectedKeyFromPem(stored.pem, keyVersion);
      return { key: { ...key, id: keptKeyId(keyVersion, key.hint) }, readAt: stored.readAt };
    } catch (err) {
      const error = failureText('read', keyVersion, err);
      storeFailures.set(keyVersion, error);
      storeError(
        `could not read the kept public key of KMS key version ${keyVersion}; it is trusted for nothing, and so is every PEM of publicKeys`,
        { keyVersion, collection: KEPT_KEYS_COLLECTION, operation: 'read', error: err },
      );
      return { error };
    }
  };
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
    const settled = await Promise.allSettled(missing.map((name) => fetchUnlessRefused(kmsKey, name)));
    const next = new Map<string, UnavailableKey>();
    const nextKept = new Map<string, ExpectedKey>();
    let failure: { error: unknown } | undefined;
    const stores: Array<Promise<void>> = [];
    settled.forEach((result, i) => {
      const name = missing[i]!;
      if (result.status === 'rejected') {
        failure ??= { error: result.reason };
        const before = refused.get(name);
        if (before !== undefined) next.set(name, before);
        const keptBefore = kept.get(name);
        if (keptBefore !== undefined) nextKept.set(name, keptBefore);
      } else if ('key' in result.value) {
        const { key } = result.value;
        fetched.set(name, key);
        stores.push(keep(name, key));
      } else {
        const { transient, ...refused } = result.value.refused;
        const unavailable: UnavailableKey = { ...refused, repositories: expectedBy(name) };
        next.set(name, unavailable);
        // Still being generated or imported: no key of it to keep, nor anything signed with it yet.
        if (transient) return;
        stores.push(
          readKept(unavailable.keyVersion).then((found) => {
            if (found === undefined) return;
            if ('error' in found) {
              unavailable.keptKeyError = found.error;
              return;
            }
            // Against the KMS keys only: a PEM in publicKeys that is this key gives way to it
            // (buildRules), so its state is checked.
            if ([...fetched.values()].some((k) => sameKey(k, found.key))) {
              storeError(
                `the kept public key of KMS key version ${unavailable.keyVersion} is that of another trusted key; it is not used`,
                {
                  keyVersion: unavailable.keyVersion,
                  collection: KEPT_KEYS_COLLECTION,
                  operation: 'read',
                  hint: found.key.hint,
                },
              );
              return;
            }
            nextKept.set(name, found.key);
            unavailable.kept = { readAt: found.readAt };
          }),
        );
      }
    });
    await Promise.all(stores);
    refused = next;
    kept = nextKept;
    if (failure !== undefined) throw failure.error;
  };

  let rules: Array<{ repositories: string; policy: ImagePolicy }> = [];
  /** The PEMs' hints buildRules judged with a refused key version's state, if any. */
  let judgedHints: { keyVersion: string; hints: string[] } | undefined;
  /** The rules' policies over the keys fetched so far, each object kept while its keys are the same. */
  const buildRules = () => {
    const kmsKeys = [...fetched.values(), ...kept.values()];
    // A key version refused for its state with no kept key has no key to compare the PEMs with: any
    // of them may be it. Each is then judged with that key version's state (pinKeptKeyStates), so
    // what it verifies is `key-disabled`, never `valid`, as with a kept key.
    const blind = [...refused.entries()]
      .filter(([name, k]) => !isTransientKeyState(k.state) && !kept.has(name))
      .map(([, k]) => k);
    const judgedBy = blind[0];
    judgedHints = undefined;
    const asPublicKey = (key: ExpectedKey): ExpectedKey =>
      judgedBy === undefined
        ? key
        : {
            ...key,
            id: `${key.id} (judged as ${judgedBy.keyVersion}: refused ${judgedBy.state}, none kept)`,
            keyVersion: judgedBy.keyVersion,
          };
    const pems = config.publicKeys
      .map((pem) => fromPem.get(pem)!)
      // A PEM that is a configured KMS key version's key would verify that key's signatures with
      // no state checked (a disabled key's images valid): the KMS key, which carries its version,
      // stands in its place.
      .filter((key) => !kmsKeys.some((kms) => sameKey(kms, key)));
    if (judgedBy !== undefined && pems.length > 0) {
      judgedHints = { keyVersion: judgedBy.keyVersion, hints: [...new Set(pems.map((k) => k.hint))] };
    }
    const judged = new Map(pems.map((key) => [key.id, asPublicKey(key)]));
    rules = config.watch.map((rule, i) => {
      const expected = ruleExpectedKeys(config, rule);
      const given = distinctKeys([
        ...expected.keys.flatMap((name) => fetched.get(name) ?? []),
        ...expected.publicKeys.flatMap((pem) => judged.get(fromPem.get(pem)!.id) ?? []),
      ]);
      // A kept key that is another key of the policy would take that key's signatures: left out.
      const keptOnes = distinctKeys(expected.keys.flatMap((name) => kept.get(name) ?? [])).filter(
        (k) => !given.some((g) => sameKey(g, k)),
      );
      const keys = [...given, ...keptOnes];
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
      // Keys KMS gave that a failing store did not take: one more try each.
      if (!first && unkept.size > 0) await Promise.all([...unkept].map(([name, key]) => keep(name, key)));
      first = false;
      buildRules();
      return {
        ownedPolicy: lookupOver(rules),
        keys: {
          trusted: [...new Set([...fetched.values()].map((k) => k.keyVersion!))],
          unavailable: [...refused.values()].map((k) =>
            judgedHints?.keyVersion === k.keyVersion
              ? { ...k, publicKeysJudged: judgedHints.hints }
              : { ...k },
          ),
          ...(storeFailures.size === 0
            ? {}
            : {
                errors: [...storeFailures].map(([keyVersion, error]) => ({
                  ref: storeRef(keyVersion),
                  error,
                })),
              }),
        },
      };
    },
  };
}
