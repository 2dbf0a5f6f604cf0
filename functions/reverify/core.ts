/**
 * One re-verification pass: the inventory, each tag's current digest verified with bounded
 * concurrency, verdicts stored per tag, and verdict changes raised or resolved as alerts. A tag whose
 * digest, signature artifacts, policy and verifier rules are unchanged is not downloaded again: its
 * recorded findings are re-checked (log inclusion against the log's current signed checkpoint, KMS
 * key state) instead.
 * Signatures verified afresh are proven in that checkpoint's tree too, and the tree recorded, so
 * every later pass re-checks them by one consistency proof per recorded tree.
 */
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { DependencyError, SigsentryError } from '../errors.ts';
import { boundText, MAX_REASON_CHARS } from '../logging/bounded.ts';
import { describeError, errorMessage } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { isDigest } from '../registry/digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError } from '../registry/errors.ts';
import { type DigestReference, formatImageReference, type RepositoryRef } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import {
  isSignatureArtifactTag,
  LISTED_CHECK_LIMIT,
  listedDigestCouldRun,
  manifestArtifactKind,
} from '../sign-on-push/signature-artifacts.ts';
import type { VerifierTrust } from '../verify/check.ts';
import { type ImagePolicy, policyId } from '../verify/policy.ts';
import { collectSignatures, type SignatureFingerprint, signatureFingerprint } from '../verify/sources.ts';
import {
  omittedOf,
  type SignatureFinding,
  type SignatureLayout,
  type Verdict,
  type VerdictStatus,
} from '../verify/verdict.ts';
import { applyKeyStates, type KeyStateLookup, verdictOf, verifyImage } from '../verify/verifier.ts';
import {
  alertsForChange,
  deliverAlerts,
  distinctRaises,
  keptOpenBy,
  overtakenRaises,
  type TagChange,
  unjudgedAlertKey,
} from './alerts.ts';
import type { InclusionRechecker } from './inclusion.ts';
import {
  buildInventory,
  type InventoryItem,
  inShard,
  inventoryCovers,
  type ListingFailure,
  repositoryOf,
  sourceOf,
} from './inventory.ts';
import { type KeyNotEnabled, reportOwnedKeys } from './key-alerts.ts';
import { type OwnedKeysReport, pinKeptKeyStates } from './owned-policies.ts';
import { PassRegistry } from './pass-registry.ts';
import { followUnverified, type PassFailure, type StaleSubject, staleAlertKey } from './staleness.ts';
import {
  HISTORY_LIMIT,
  type PutOutcome,
  TAG_SCHEMA_VERSION,
  type TagDelivery,
  type TagRecord,
  type TagStore,
} from './store.ts';
import type { UnverifiedStore } from './unverified.ts';
import { withoutVerifierVersion, withVerifierVersion } from './verifier-version.ts';

/**
 * Whether a manifest a referrers index lists could run, by HOST/REPO@DIGEST: content-addressed, so
 * kept across an instance's passes (each fallback index's children are read once, not every pass).
 */
const RUNNABLE_CACHE = new Map<string, boolean>();
const RUNNABLE_CACHE_ENTRIES = 100_000;
/** Tags whose recorded verdicts are read from the store at once (Firestore reads 300 per call). */
const RECORD_CHUNK = 300;
/** Attempts at storing a tag's verdict while other passes keep storing theirs first. */
const SUPERSEDED_ATTEMPTS = 3;
/**
 * How long a pass's claim on delivering a tag's alerts lasts from its last renewal: the claim is
 * renewed before each alert raised or resolved, so this bounds one call (a webhook post takes 43.5 s
 * at most: 4 attempts of 10 s and their backoff), not the whole delivery.
 */
const DELIVERY_CLAIM_MS = 60_000;
/** Errors of a tag that another pass, or this one, did verify. */
const NOT_UNVERIFIED = new Set(['ALERT_DELIVERY_FAILED', 'VERDICT_CONTENDED', 'ALERTS_IN_DELIVERY']);

/** Thrown by a delivery's renewal when another pass has written the tag since: the claim is lost. */
class DeliveryClaimLost extends Error {}
/** How long a tag may go without a verdict before its pass alerts (`verification-stale`). */
export const DEFAULT_STALE_AFTER_MS = 24 * 3_600_000;
/** Waits for another pass's delivery before giving the tag up for this pass. */
const DELIVERY_WAITS = 40;
const DELIVERY_WAIT_MS = 250;

/**
 * The policy a watched repository's (HOST/REPO) images are verified under: its watch rule's, as
 * rules may sign with different keys (from-env.ts ownedPolicies). One object per policy, returned
 * each time: the pass computes the id its verdicts are recorded under once per object.
 */
export type OwnedPolicyLookup = (repository: string) => ImagePolicy;

export interface ReverifyDeps {
  registry: Registry;
  store: TagStore;
  /**
   * What passes keep failing on, and since when (staleness.ts). Absent: nothing is followed up, as
   * for a manual pass of another configuration, which must not resolve the scheduled passes' alert.
   */
  unverified?: UnverifiedStore;
  alerts: AlertSink;
  trust: VerifierTrust;
  /** Policy for the watched repositories (sigsentry's own keys): one for all, or per repository. */
  ownedPolicy: ImagePolicy | OwnedPolicyLookup;
  /**
   * The configured KMS key versions `ownedPolicy` holds, and those KMS refused the public key of for
   * their state (in no policy). Each pass raises the `key-disabled` alert of every one not enabled and
   * resolves those of the enabled ones (key-alerts.ts). Absent: keys are not reported.
   */
  ownedKeys?: OwnedKeysReport;
  /** Repository globs HOST/REPO/** whose every tag is verified. */
  watch: readonly string[];
  /** Third-party images and the policy each must satisfy. */
  watchlist: ReadonlyArray<{ image: string; policy: ImagePolicy }>;
  /**
   * Why this pass has no public-good root it may judge the watchlist with (it could not be refreshed:
   * verify/public-good-root.ts). Each watchlist tag is then an error of the pass naming it, as a tag
   * whose log could not be read is: its last verdict and alerts stand, nothing is verified with a
   * root that could not be refreshed, and `verification-stale` follows once it lasts. Owned images
   * are verified as usual.
   */
  watchlistTrustFailure?: SigsentryError;
  keyState?: KeyStateLookup;
  /** Absent: recorded log entries are not re-checked online (the signed entry timestamps were verified). */
  inclusion?: InclusionRechecker;
  logger: Logger;
  concurrency?: number;
  /** How long a tag or a listing may fail pass after pass before it is alerted; 24 h by default. */
  staleAfterMs?: number;
  now?: () => Date;
}

export interface ReverifyOptions {
  /** Verify only the tags of this shard (a stable hash of the ref), for passes split across instances. */
  shard?: { index: number; count: number };
}

export interface TagOutcome {
  ref: string;
  digest: string;
  status: VerdictStatus;
  changed: boolean;
  cached: boolean;
}

export interface ReverifySummary {
  startedAt: string;
  durationMs: number;
  /** Tags verified (or that failed or answered 404): the tags listed, less `artifacts`. */
  tags: number;
  /**
   * Listed tags shaped like a signature artifact's (`sha256-<hex>[.sig|.att|.sbom]`) whose manifest
   * is one (a `.sig`, a cosign attestation or SBOM, a referrers fallback index): not images, so not
   * verified. Such a tag whose manifest is anything else is an image, verified like any tag.
   */
  artifacts: number;
  byStatus: Record<VerdictStatus, number>;
  changed: number;
  /** Tags whose signatures were not downloaded again (only re-checked). */
  cached: number;
  alertsRaised: number;
  alertsResolved: number;
  /** Verdicts another pass stored first, so the tag was verified again against theirs. */
  superseded: number;
  /**
   * Listed tags that answered 404 when resolved (deleted since they were listed, or a registry's
   * spurious 404): not verified, their recorded verdicts and alerts left as they are. With `byStatus`
   * and the tags' `errors`, every listed tag is counted once.
   */
  gone: string[];
  /**
   * Per tag (HOST/REPO:TAG), per host or repository that could not be listed (HOST, HOST/REPO), or
   * per watch rule (its glob) its host's catalog lists no repository for.
   */
  errors: Array<{ ref: string; error: string }>;
  /**
   * What has gone without a verdict for longer than `staleAfterMs`, oldest first: errors of this
   * pass, and subjects kept from earlier passes that a failing listing now hides. The pass's
   * `verification-stale` alert names them.
   */
  stale: StaleSubject[];
  /**
   * Whether the failures were followed up (`stale` judged, `verification-stale` raised or resolved):
   * 'failed' when the store or the alert sink failed (reverifyImages then answers 500), 'off'
   * without a store.
   */
  unverifiedFollowUp: 'done' | 'failed' | 'off';
  /**
   * Configured KMS key versions that are not enabled: `trusted: false` for one whose public key KMS
   * refused (its repositories' images then fail to verify), true for one this instance read earlier
   * (its signatures are `key-disabled`). Each has its `key-disabled` alert.
   */
  keysNotEnabled: KeyNotEnabled[];
  outcomes: TagOutcome[];
}

const hasAlerts = (change: TagChange) => {
  const { raise, resolve } = alertsForChange(change);
  return raise.length + resolve.length > 0;
};

/**
 * What the verifier trusts (the configured log keys, the public-good root), as a short stable hash. A
 * verdict is cached under it with its policy (the tag's own: a watch rule's keys, a watchlist entry's
 * identity): a log distrusted or replaced, a new root, or a rule's key changed makes the verdicts
 * concerned be computed again rather than trusted. The root counts for policies with identities
 * only (the watchlist's): key-based signatures are never checked against it (verify/trust.ts), so a
 * root refreshed (verify/public-good-root.ts), or not to be had this pass, leaves owned verdicts,
 * and the layouts they expect, as they are. A deployment without a watchlist keeps the ids it had.
 */
function trustId(trust: VerifierTrust, keyless: boolean): string {
  const root = keyless ? trust.publicGoodRoot : undefined;
  const parts = [
    ...trust.logs.map((l) => `log:${l.logId}|${l.baseUrl}`).sort(),
    `root:${root === undefined ? 'none' : JSON.stringify(TrustedRoot.toJSON(root))}`,
  ];
  return crypto.createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 16);
}

/**
 * What a recorded verdict is keyed on besides the digest and signatures: the policy, the trust, and
 * the rules it was judged by (verifier-version.ts): one judged by other rules is not reused.
 */
function verdictBasisId(policy: ImagePolicy, trust: string): string {
  return withVerifierVersion(`${policyId(policy)}+${trust}`);
}

/** Whether a recorded verdict's basis is `policy`'s, whatever the trust and rules it was made under. */
function samePolicyBasis(recorded: string, policy: ImagePolicy): boolean {
  return recorded.startsWith(`${policyId(policy)}+`);
}

const sameFingerprint = (a: SignatureFingerprint, b: SignatureFingerprint) =>
  a.signatureManifest === b.signatureManifest && a.referrers === b.referrers;

/**
 * Hosts and repositories not listed, and watch rules their host's catalog lists nothing for:
 * reported, their tags' recorded verdicts left as they are.
 */
function reportListingFailures(logger: Logger, summary: ReverifySummary, failures: ListingFailure[]): void {
  for (const { subject, kind, message, error, rechecked } of failures) {
    summary.errors.push({ ref: subject, error: message });
    const about =
      kind === 'watch-rule'
        ? { watchRule: subject, host: subject.split('/')[0] }
        : { repository: subject, error, ...(rechecked === undefined ? {} : { rechecked }) };
    logger.error(rechecked ? message : `${message}; the last verdicts of its tags stand`, about);
  }
}

/** Begins the reason of a finding made invalid by the inclusion re-check alone (not by its signature). */
const INCLUSION_RECHECK_FAILED = 'log inclusion re-check failed: ';

/**
 * Made invalid by an inclusion re-check alone: marked so (`inclusionRecheckFailed`). Findings
 * recorded before the mark are known by their reason and the log entries only a verified signature
 * carries: a reason alone could be an error message quoting what others wrote.
 */
function madeInvalidByRecheck(f: SignatureFinding): boolean {
  if (f.outcome !== 'invalid') return false;
  if (f.inclusionRecheckFailed === true) return true;
  return f.reason?.startsWith(INCLUSION_RECHECK_FAILED) === true && (f.log?.length ?? 0) > 0;
}

/**
 * A recorded finding as it was before an inclusion re-check made it invalid: its signature verified,
 * so it is re-checked like a valid one (a log that recovered makes it valid again). Others as they are.
 */
function beforeInclusionFailure(f: SignatureFinding): SignatureFinding {
  if (!madeInvalidByRecheck(f)) return f;
  const { reason: _reason, inclusionRecheckFailed: _marked, ...verified } = f;
  const disabled = f.keyState !== undefined && f.keyState !== 'ENABLED';
  return { ...verified, outcome: disabled ? 'key-disabled' : 'valid' };
}

/** One finding's log entries re-checked; invalid (marked as the re-check's doing) when one fails. */
async function recheckFinding(inclusion: InclusionRechecker, f: SignatureFinding): Promise<SignatureFinding> {
  if (f.outcome !== 'valid' && f.outcome !== 'key-disabled') return f;
  const log = [];
  for (const evidence of f.log ?? []) {
    const result = await inclusion.recheck(evidence);
    if (result === undefined) {
      log.push(evidence);
      continue;
    }
    if (!result.ok)
      return {
        ...f,
        outcome: 'invalid',
        reason: `${INCLUSION_RECHECK_FAILED}${result.reason}`,
        inclusionRecheckFailed: true,
      };
    const { provenAtTreeSize: _size, provenAtRoot: _root, provenAtOrigin: _origin, ...logged } = evidence;
    log.push({
      ...logged,
      ...(result.treeSize !== undefined ? { provenAtTreeSize: result.treeSize } : {}),
      ...(result.rootHash !== undefined ? { provenAtRoot: result.rootHash } : {}),
      ...(result.origin !== undefined ? { provenAtOrigin: result.origin } : {}),
    });
  }
  return { ...f, log };
}

/**
 * A promise per key, made once for as long as the returned function lives (a pass); one that
 * rejects is forgotten, so the next caller asks again rather than inheriting a passing failure.
 */
function oncePerKey<T>(): (key: string, make: () => Promise<T>) => Promise<T> {
  const made = new Map<string, Promise<T>>();
  return (key, make) => {
    let pending = made.get(key);
    if (pending === undefined) {
      pending = make();
      made.set(key, pending);
      pending.catch(() => made.delete(key));
    }
    return pending;
  };
}

/** Whether a recorded finding's signature verified (a log re-check failure notwithstanding). */
function verifiedFinding(f: SignatureFinding): boolean {
  const verified = beforeInclusionFailure(f);
  return verified.outcome === 'valid' || verified.outcome === 'key-disabled';
}

/** A blob or a manifest of the repository, by digest, that a recorded finding was read from. */
interface RecordedContent {
  kind: 'blob' | 'manifest';
  digest: string;
}

/**
 * What a verified finding's signature was read from: a `.sig` layer's payload blob (its location),
 * a bundle's referrer manifest (its location) and blob (`bundleBlob`). The fingerprint a verdict is
 * cached under names only the `.sig` manifest and the referrers listing, not these, so each is
 * checked before the verdict is reused. Undefined when the finding does not say (a bundle finding
 * recorded before `bundleBlob` was): its verdict is not reused, and the one made afresh records it.
 */
function recordedContentOf(f: SignatureFinding): RecordedContent[] | undefined {
  if (!isDigest(f.location)) return undefined;
  if (f.layout === 'cosign') return [{ kind: 'blob', digest: f.location }];
  if (f.bundleBlob === undefined || !isDigest(f.bundleBlob)) return undefined;
  return [
    { kind: 'manifest', digest: f.location },
    { kind: 'blob', digest: f.bundleBlob },
  ];
}

/** Recorded findings brought up to date: log inclusion re-checked, key states fresh. */
async function recheckFindings(
  deps: ReverifyDeps,
  findings: SignatureFinding[],
): Promise<SignatureFinding[]> {
  const { inclusion } = deps;
  // Without a rechecker nothing can clear an earlier re-check's failure: it stands.
  const rechecked =
    inclusion === undefined
      ? findings
      : await Promise.all(findings.map((f) => recheckFinding(inclusion, beforeInclusionFailure(f))));
  return await applyKeyStates(rechecked, deps.keyState);
}

export async function reverifyOnce(
  given: ReverifyDeps,
  options: ReverifyOptions = {},
): Promise<ReverifySummary> {
  // A key version verified with its kept public key is judged with the state KMS refused it for
  // (owned-policies.ts says why): never valid, whatever its state is by the time a tag is checked.
  const keyState =
    given.ownedKeys === undefined ? given.keyState : pinKeptKeyStates(given.ownedKeys, given.keyState);
  const { keyState: _unpinned, ...rest } = given;
  const deps: ReverifyDeps = { ...rest, ...(keyState === undefined ? {} : { keyState }) };
  const now = deps.now ?? (() => new Date());
  const started = now();
  const t0 = performance.now();
  const listed = await buildInventory(deps.registry, {
    watch: deps.watch,
    watchlist: deps.watchlist,
    recordedTags: (repository, limit) => deps.store.recordedTags(repository, limit),
    recordedTagsOfHost: (host, limit) => deps.store.recordedTagsOfHost(host, limit),
  });
  const inventory = listed.items.filter((it) => inShard(it.ref, options.shard));
  // Recorded verdicts are read a chunk of tags at a time (the next chunk while the current one is
  // verified) and let go when the chunk is done, so a pass never holds every record at once.
  const chunks = new Map<number, { records: Promise<Map<string, TagRecord>>; left: number }>();
  const chunkOf = (c: number) => {
    let chunk = chunks.get(c);
    if (chunk === undefined) {
      const items = inventory.slice(c * RECORD_CHUNK, (c + 1) * RECORD_CHUNK);
      const records = deps.store.load(items.map((it) => it.ref));
      records.catch(() => {}); // a prefetch nobody awaits yet must not be an unhandled rejection
      chunk = { records, left: items.length };
      chunks.set(c, chunk);
    }
    return chunk;
  };
  const trust = { owned: trustId(deps.trust, false), keyless: trustId(deps.trust, true) };
  // Keyed by the policy, not by the source: watched repositories may each have their own (a rule's).
  const basisIds = new Map<ImagePolicy, string>();
  const { ownedPolicy } = deps;
  /** The policy a tag (HOST/REPO:TAG) is verified under, and the id its verdict is recorded with. */
  const policyOf = (source: InventoryItem['source'], ref: string) => {
    const policy =
      source !== 'owned'
        ? deps.watchlist[source]!.policy
        : typeof ownedPolicy === 'function'
          ? ownedPolicy(repositoryOf(ref))
          : ownedPolicy;
    let id = basisIds.get(policy);
    if (id === undefined) {
      id = verdictBasisId(policy, policy.identities.length > 0 ? trust.keyless : trust.owned);
      basisIds.set(policy, id);
    }
    return { policy, id };
  };
  // Tags of a repository sharing a digest (and policy, and signatures) are verified once per pass.
  // Not across repositories: a signature names the repository it was made for, so a copy of it in
  // another repository is judged there on its own (byte for byte, it would share the first's verdict).
  const memo = new Map<string, Promise<{ verdict: Verdict; cached: boolean }>>();
  // And their signature artifacts are looked up once per pass: the `.sig` tag, the referrers API and
  // the referrers tag of a digest do not depend on which of its tags is being checked. A signature
  // that disappears during a pass is seen on the next one, as for the verdict memo above.
  // A failed look-up is not remembered: the next tag of the digest asks again.
  const fingerprints = oncePerKey<SignatureFingerprint>();
  const registry = new PassRegistry(deps.registry);
  const fingerprintOf = (image: DigestReference): Promise<SignatureFingerprint> =>
    fingerprints(`${image.host}/${image.repository}@${image.digest}`, () =>
      signatureFingerprint(registry, image),
    );

  // Whether a blob or manifest a recorded verdict rests on is still there, by HOST/REPO|KIND|DIGEST:
  // one HEAD per pass, whichever tags and verdicts rest on it. A 404 is gone, as is an answer naming
  // other content (Docker-Content-Digest: resolve and hasBlob compare it; a HEAD answered 200 with no
  // digest proves nothing and is taken as there); any other failure is the tag's
  // error, as an outage is (its verdict stands), and not remembered: the next tag asks again.
  const present = oncePerKey<boolean>();
  const presentIn = (repo: RepositoryRef, { kind, digest }: RecordedContent): Promise<boolean> =>
    present(`${repo.host}/${repo.repository}|${kind}|${digest}`, () => {
      const head =
        kind === 'blob'
          ? registry.hasBlob(repo, digest)
          : registry.resolve({ ...repo, digest }).then(() => true);
      return head.catch((err: unknown) => {
        if (err instanceof RegistryNotFoundError || err instanceof RegistryIntegrityError) return false;
        throw err;
      });
    });
  /**
   * Whether everything the verified findings of a recorded verdict were read from is still there
   * (recordedContentOf): the verdict is reused only then. What is gone is logged, and the tag is
   * verified afresh, which judges it as a first pass would (`invalid`, `missing`, alerts and all).
   */
  const recordedContentPresent = async (image: DigestReference, findings: SignatureFinding[]) => {
    const contents: RecordedContent[] = [];
    for (const f of findings) {
      if (!verifiedFinding(f)) continue;
      const content = recordedContentOf(f);
      if (content === undefined) return false;
      contents.push(...content);
    }
    const repo = { host: image.host, repository: image.repository };
    const checked = await Promise.allSettled(contents.map((c) => presentIn(repo, c)));
    const gone = contents.filter((_, i) => {
      const result = checked[i]!;
      return result.status === 'fulfilled' && !result.value;
    });
    if (gone.length > 0) {
      deps.logger.info(
        `${formatImageReference(image)}: signature content its recorded verdict rests on is gone; verifying it afresh`,
        { image: formatImageReference(image), gone: gone.map((c) => `${c.kind} ${c.digest}`) },
      );
      return false;
    }
    const failed = checked.find((r) => r.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
    return true;
  };

  const summary: ReverifySummary = {
    startedAt: started.toISOString(),
    durationMs: 0,
    tags: 0,
    byStatus: { valid: 0, unsigned: 0, invalid: 0, missing: 0, 'key-disabled': 0 },
    changed: 0,
    cached: 0,
    alertsRaised: 0,
    alertsResolved: 0,
    superseded: 0,
    artifacts: 0,
    gone: [],
    errors: [],
    stale: [],
    unverifiedFollowUp: deps.unverified === undefined ? 'off' : 'done',
    keysNotEnabled: [],
    outcomes: [],
  };
  if (deps.ownedKeys !== undefined) {
    // Before any tag: the alert goes out even when the pass fails later on.
    const keys = await reportOwnedKeys(deps, deps.ownedKeys);
    summary.keysNotEnabled = keys.notEnabled;
    summary.errors.push(...keys.errors);
    // A kept-key store that fails is the pass's error, not only a log line (owned-policies.ts).
    summary.errors.push(...(deps.ownedKeys.errors ?? []));
  }
  reportListingFailures(deps.logger, summary, listed.failures);
  const failures: PassFailure[] = listed.failures.map((f) => ({
    subject: f.subject,
    kind: f.kind,
    error: f.message,
  }));

  /** A listed tag that answered 404: counted and logged, so no tag of the inventory goes unaccounted. */
  function reportGone(item: InventoryItem, prior: TagRecord | undefined): void {
    summary.gone.push(item.ref);
    deps.logger.warn(`${item.ref} was listed but answered 404 when resolved; its last verdict stands`, {
      tag: item.ref,
    });
    // Deleted since it was listed, it is not listed next time and forgotten; a tag that keeps
    // answering 404 (a watchlisted tag withdrawn upstream, a registry's spurious 404) goes stale.
    failures.push({
      subject: item.ref,
      kind: 'tag',
      error: `${item.ref} answered 404 when resolved`,
      ...verifiedAt(prior, item),
    });
  }

  /**
   * Verifies one tag against its recorded verdict and stores the verdict. When another pass stored
   * one meanwhile, the tag is resolved and judged again against that one, so the newer state wins
   * whichever pass writes last; while another pass delivers its alerts, this one waits for it.
   */
  async function verifyTag(item: InventoryItem, recorded: TagRecord | undefined): Promise<void> {
    // Not judged with a root that could not be refreshed: the tag is this pass's error, as below.
    if (item.source !== 'owned' && deps.watchlistTrustFailure !== undefined) throw deps.watchlistTrustFailure;
    let prior = recorded;
    for (let superseded = 0, waits = 0; ; ) {
      const outcome = await verifyTagAgainst(item, prior);
      if (outcome === 'stored' || outcome === 'gone' || outcome === 'artifact') return;
      if (outcome === 'superseded') {
        if (++superseded === SUPERSEDED_ATTEMPTS) {
          throw new SigsentryError(
            'VERDICT_CONTENDED',
            `other passes stored a verdict of ${item.ref} ${superseded} times while this one verified it`,
            { retryable: true, details: { tag: item.ref } },
          );
        }
        summary.superseded++;
        deps.logger.info(`another pass stored a verdict of ${item.ref}; verifying it again`, {
          tag: item.ref,
        });
      } else {
        if (++waits > DELIVERY_WAITS) {
          throw new SigsentryError(
            'ALERTS_IN_DELIVERY',
            `another pass has been delivering the alerts of ${item.ref} for ${(DELIVERY_WAITS * DELIVERY_WAIT_MS) / 1000} s; its verdict stands`,
            { retryable: true, details: { tag: item.ref, until: prior?.delivery?.until } },
          );
        }
        await sleep(DELIVERY_WAIT_MS);
      }
      prior = (await deps.store.load([item.ref])).get(item.ref);
    }
  }

  /**
   * The digest a tag names now, or 'artifact'. A tag shaped like a signature artifact's is no
   * evidence of one, so its manifest is read (one GET in place of the HEAD) and judged as signOnPush
   * judges it: an artifact is left out of the pass, anything else is an image and verified.
   */
  async function currentDigest(item: InventoryItem): Promise<string | 'artifact'> {
    const repo = { host: item.host, repository: item.repository };
    if (!isSignatureArtifactTag(item.tag))
      return (await deps.registry.resolve({ ...repo, tag: item.tag })).digest;
    const fetched = await deps.registry.getManifest(repo, item.tag);
    const artifact = manifestArtifactKind(fetched.bytes);
    if (artifact === undefined) return fetched.descriptor.digest;
    // A referrers index is only that if nothing it lists can run: a runtime pulls a platformless
    // entry whatever its artifactType, so an index naming a runnable image is an image.
    if (artifact.listed !== undefined && (await listsRunnable(repo, artifact.listed))) {
      return fetched.descriptor.digest;
    }
    return 'artifact';
  }

  /**
   * Whether a referrers fallback index lists a manifest that could run (listedManifestCouldRun,
   * and its config when that decides: imageConfigCouldRun). What each listed digest holds never
   * changes, so the answer is kept across passes (RUNNABLE_CACHE); one that cannot be pulled (404)
   * cannot run either, and a read that fails is the tag's error this pass. Past LISTED_CHECK_LIMIT
   * entries, or with a descriptor that names no digest, the tag is an error: never passed over,
   * never judged as an image on a guess.
   */
  async function listsRunnable(
    repo: { host: string; repository: string },
    listed: readonly unknown[],
  ): Promise<boolean> {
    const where = `${repo.host}/${repo.repository}`;
    if (listed.length > LISTED_CHECK_LIMIT || listed.some((d) => typeof d !== 'string' || !isDigest(d))) {
      throw new SigsentryError(
        'REFERRERS_INDEX_UNCHECKED',
        `a referrers index in ${where} lists ${listed.length} entries (at most ${LISTED_CHECK_LIMIT} are read) or one without a digest: whether it lists a runnable image is not known`,
        { retryable: false, details: { repository: where, entries: listed.length } },
      );
    }
    for (const digest of listed as string[]) {
      const key = `${where}@${digest}`;
      let runnable = RUNNABLE_CACHE.get(key);
      if (runnable === undefined) {
        const judged = await listedDigestCouldRun(deps.registry, repo, digest);
        if (judged === undefined) continue; // not there now: nothing runs, and nothing kept
        runnable = judged;
        if (RUNNABLE_CACHE.size >= RUNNABLE_CACHE_ENTRIES) RUNNABLE_CACHE.clear();
        RUNNABLE_CACHE.set(key, runnable);
      }
      if (runnable) return true;
    }
    return false;
  }

  /**
   * This pass's claim on delivering `record`'s alerts was lost: its claim lapsed during a slow call
   * and another pass wrote the tag. Having made `calls` calls, the last may have landed after the
   * newer pass's own alerts (a raise after its resolve), so the stored verdict is marked for its
   * alerts to be delivered again (store.ts reopenedDelivery). Then, as for a verdict stored first by
   * another pass, the tag is judged again against the stored one ('superseded'), which delivers them.
   */
  async function lostClaim(item: InventoryItem, record: TagRecord, calls: number): Promise<'superseded'> {
    if (calls > 0) await deps.store.reopenDelivery(record, now().toISOString());
    deps.logger.warn(
      `another pass took ${item.ref} while this one delivered the alerts of its ${record.status} verdict; ${
        calls > 0 ? 'its alerts are owed again, and ' : ''
      }the tag is judged again`,
      { tag: item.ref, digest: record.digest, status: record.status, calls },
    );
    return 'superseded';
  }

  /**
   * The change `prior` records (its delivery's previous verdict to its own), as its delivery would
   * have told it: its verdict rebuilt from what the record keeps.
   */
  function storedChange(item: InventoryItem, prior: TagRecord): TagChange {
    const image = { host: item.host, repository: item.repository, digest: prior.digest };
    const stored = verdictOf(
      image,
      prior.findings,
      prior.fingerprint,
      new Date(prior.checkedAt),
      prior.verifiedLayouts,
      prior,
    );
    return {
      ref: item.ref,
      verdict: { ...stored, status: prior.status, reasons: prior.reasons },
      previous: prior.delivery?.previous ?? undefined,
      occurrence: prior.changedAt,
    };
  }

  /**
   * A verdict that could not be stored (`err`: Firestore down, or a record it refuses) must not take
   * its alerts with it. Its raises go out now (an ALERT line pages whatever else fails), with no claim
   * since none could be written; its resolves wait for a pass that stores it: a resolve landing after
   * a newer verdict's raise would close an incident still open, where a raise out of order at worst
   * leaves one open. The tag is this pass's error (and `verification-stale` once it lasts), and the
   * next pass judges it against the record that stands, so it raises the change again.
   */
  async function raiseUnstored(
    ref: string,
    owed: TagChange,
    overtaken: readonly AlertInput[],
    err: unknown,
  ): Promise<SigsentryError> {
    const raise = [...overtaken, ...alertsForChange(owed).raise];
    const failed: string[] = [];
    for (const alert of raise) {
      try {
        await deps.alerts.raise(alert);
        summary.alertsRaised++;
      } catch (cause) {
        failed.push(`${alert.kind}: ${errorMessage(cause)}`);
      }
    }
    const why = errorMessage(err);
    const raised =
      raise.length === 0
        ? 'it had no alert to raise'
        : failed.length === 0
          ? `its alerts (${raise.map((a) => a.kind).join(', ')}) were raised without it`
          : `raising its alerts failed too (${failed.join('; ')})`;
    return new SigsentryError(
      'VERDICT_NOT_STORED',
      `the ${owed.verdict.status} verdict of ${ref} could not be stored (${why}); ${raised}; its last verdict stands`,
      {
        retryable: true,
        cause: err,
        details: { tag: ref, digest: owed.verdict.digest, status: owed.verdict.status },
      },
    );
  }

  /**
   * One attempt. 'superseded' when another pass stored a verdict since `prior`, 'busy' while another
   * pass delivers the alerts of `prior`: nothing delivered or stored in either case; 'gone' for a tag
   * deleted since it was listed; 'artifact' for a signature artifact's tag (nothing stored either).
   */
  async function verifyTagAgainst(
    item: InventoryItem,
    prior: TagRecord | undefined,
  ): Promise<PutOutcome | 'busy' | 'gone' | 'artifact'> {
    if (prior?.delivery !== undefined && Date.parse(prior.delivery.until) > now().getTime()) return 'busy';
    const repo = { host: item.host, repository: item.repository };
    let digest: string;
    try {
      const current = await currentDigest(item);
      if (current === 'artifact') {
        summary.artifacts++;
        return 'artifact';
      }
      digest = current;
    } catch (err) {
      if (!(err instanceof RegistryNotFoundError)) throw err;
      reportGone(item, prior);
      return 'gone';
    }
    const image: DigestReference = { ...repo, digest };
    const { policy, id } = policyOf(item.source, item.ref);
    const fingerprint = await fingerprintOf(image);
    const sameImage = prior !== undefined && prior.digest === digest && prior.policy === id;
    // Layouts that verified stay expected when only the trust changed (a log added, the public-good
    // root refreshed): the loss of one is `missing` still. Under another policy they are not.
    const samePolicy =
      prior !== undefined && prior.digest === digest && samePolicyBasis(prior.policy, policy);
    const expectedLayouts: SignatureLayout[] = samePolicy ? prior.verifiedLayouts : [];
    const memoKey = `${repo.host}/${repo.repository}@${digest}|${id}|${fingerprint.signatureManifest}|${fingerprint.referrers}|${expectedLayouts.join(',')}`;
    let pending = memo.get(memoKey);
    if (pending === undefined) {
      pending = (async () => {
        if (
          sameImage &&
          sameFingerprint(prior.fingerprint, fingerprint) &&
          (await recordedContentPresent(image, prior.findings))
        ) {
          // Its findings past the listed ones were only counted (copies on the one they copy, the
          // rest by outcome): the listed ones decide the status all of them gave, and the reasons
          // count them all (verdict.ts listedFindings).
          const findings = await recheckFindings(deps, prior.findings);
          return {
            verdict: verdictOf(image, findings, fingerprint, now(), expectedLayouts, prior),
            cached: true,
          };
        }
        const sources = await collectSignatures(registry, image, fingerprint);
        const verified = await verifyImage(
          {
            registry,
            trust: deps.trust,
            ...(deps.keyState ? { keyState: deps.keyState } : {}),
            now,
          },
          image,
          policy,
          { expectedLayouts, sources },
        );
        if (deps.inclusion === undefined) return { verdict: verified, cached: false };
        // Proven in the log's current tree now, as a cached verdict is on every later pass: the tree
        // is recorded with the verdict, so the next pass re-checks it by a consistency proof alone.
        const { inclusion } = deps;
        let findings: SignatureFinding[];
        try {
          findings = await Promise.all(verified.findings.map((f) => recheckFinding(inclusion, f)));
        } catch (err) {
          // Only a `valid` verdict waits for the log: a failed proof can only make a verdict worse,
          // so a worse one (tampered, missing, key disabled) stands as verified, alerts and all, and
          // the next pass proves its entries.
          if (!(err instanceof DependencyError) || verified.status === 'valid') throw err;
          return { verdict: verified, cached: false };
        }
        const checkedAt = new Date(verified.evidence.checkedAt);
        return {
          verdict: verdictOf(image, findings, sources.fingerprint, checkedAt, expectedLayouts, verified),
          cached: false,
        };
      })();
      memo.set(memoKey, pending);
    }
    const { verdict, cached } = await pending;

    const changed = prior === undefined || prior.status !== verdict.status || prior.digest !== digest;
    const at = verdict.evidence.checkedAt;
    const change: TagChange = {
      ref: item.ref,
      verdict,
      previous: prior === undefined ? undefined : { status: prior.status, digest: prior.digest },
      occurrence: changed ? at : prior.changedAt,
    };
    // A delivery recorded on `prior` and lapsed may not have finished: its change is delivered
    // again, unless this verdict's own change (which raises and resolves every kind) replaces it.
    // What a replaced change raised of kinds only an operator resolves is owed all the same.
    const lapsed = prior?.delivery;
    const replaced = lapsed !== undefined && hasAlerts(change);
    const owed =
      lapsed !== undefined && !replaced ? { ...change, previous: lapsed.previous ?? undefined } : change;
    const overtaken = distinctRaises([
      ...(lapsed?.overtaken ?? []),
      ...(replaced ? overtakenRaises(storedChange(item, prior!)) : []),
    ]);
    const delivery: TagDelivery | undefined =
      !hasAlerts(owed) && overtaken.length === 0
        ? undefined
        : {
            id: crypto.randomUUID(),
            until: new Date(now().getTime() + DELIVERY_CLAIM_MS).toISOString(),
            previous: owed.previous ?? null,
            ...(overtaken.length > 0 ? { overtaken } : {}),
          };
    // Layouts whose signatures verified, a log inclusion failure notwithstanding: the layout is
    // expected from now on, so its disappearance is `missing` whatever the log does.
    const good = verdict.findings
      .map(beforeInclusionFailure)
      .filter((f) => f.outcome === 'valid' || f.outcome === 'key-disabled')
      .map((f) => f.layout);
    const record: TagRecord = {
      schemaVersion: TAG_SCHEMA_VERSION,
      ref: item.ref,
      source: item.source === 'owned' ? 'owned' : 'watchlist',
      policy: id,
      digest,
      status: verdict.status,
      reasons: verdict.reasons,
      findings: verdict.findings,
      ...omittedOf(verdict),
      fingerprint,
      verifiedLayouts: [...new Set([...expectedLayouts, ...good])].sort(),
      checkedAt: at,
      changedAt: changed ? at : prior.changedAt,
      history: changed
        ? [
            ...(prior?.history ?? []),
            { at, status: verdict.status, digest, reason: verdict.reasons[0] ?? '' },
          ].slice(-HISTORY_LIMIT)
        : prior.history,
      ...(delivery ? { delivery } : {}),
    };
    let put: PutOutcome;
    try {
      put = await deps.store.put(record, prior);
    } catch (err) {
      // One occurrence while the record stands: a verdict that cannot be stored pages once, not every pass.
      const unstored = {
        ...owed,
        occurrence: `unstored:${prior?.changedAt ?? 'none'}:${verdict.status}:${digest}`,
      };
      throw await raiseUnstored(item.ref, unstored, overtaken, err);
    }
    if (put === 'superseded') return 'superseded';
    let delivered = { raised: 0, resolved: 0 };
    if (delivery !== undefined) {
      // Claimed by the write above: no other pass writes the tag until the claim is cleared or lapses.
      // It is renewed before each call, so every call starts while this pass holds it; once another
      // pass has taken the tag (this one's claim lapsed during a slow call), nothing more is sent.
      let calls = 0;
      const hold = async () => {
        const until = new Date(now().getTime() + DELIVERY_CLAIM_MS).toISOString();
        if (!(await deps.store.renewDelivery(record, until))) throw new DeliveryClaimLost();
        calls++;
      };
      try {
        delivered = await deliverAlerts(deps.alerts, owed, hold, overtaken);
      } catch (cause) {
        if (cause instanceof DeliveryClaimLost) return await lostClaim(item, record, calls);
        throw new SigsentryError(
          'ALERT_DELIVERY_FAILED',
          `the verdict of ${item.ref} (${verdict.status}) is stored, but delivering its alerts failed (${errorMessage(cause)}); the first pass after its claim lapses (${DELIVERY_CLAIM_MS / 1000} s after ${now().toISOString()}) delivers them again`,
          { retryable: true, cause, details: { tag: item.ref, digest, until: delivery.until } },
        );
      }
      if (!(await deps.store.finishDelivery(record))) return await lostClaim(item, record, calls);
    }

    summary.byStatus[verdict.status]++;
    if (changed) summary.changed++;
    if (cached) summary.cached++;
    summary.alertsRaised += delivered.raised;
    summary.alertsResolved += delivered.resolved;
    summary.outcomes.push({ ref: item.ref, digest, status: verdict.status, changed, cached });
    if (changed) {
      const kept = keptOpenBy(change);
      const leftOpen =
        kept.length === 0 ? '' : ` (its ${kept.join(', ')} alert stays open until an operator resolves it)`;
      deps.logger.log(
        verdict.status === 'valid' ? 'INFO' : 'WARNING',
        `${item.ref} is ${verdict.status}${leftOpen}`,
        {
          tag: item.ref,
          digest,
          previous: prior?.status,
          reasons: verdict.reasons,
        },
      );
    }
    return 'stored';
  }

  /**
   * When a tag was last verified under this configuration: a verdict of another policy or trust (a
   * manual pass configured otherwise) does not count. One by other rules of the verifier (before an
   * upgrade) does: it was verified here, only not by the rules that judge it next. A watchlist tag's
   * in a pass without a root counts under its policy alone: the root it was judged with is the last
   * one refreshed.
   */
  function verifiedAt(
    record: TagRecord | undefined,
    tag: Pick<InventoryItem, 'source' | 'ref'>,
  ): { lastVerifiedAt?: string } {
    if (record === undefined) return {};
    const { policy, id } = policyOf(tag.source, tag.ref);
    const rootless = tag.source !== 'owned' && deps.watchlistTrustFailure !== undefined;
    const sameBasis = withoutVerifierVersion(record.policy) === withoutVerifierVersion(id);
    return sameBasis || (rootless && samePolicyBasis(record.policy, policy))
      ? { lastVerifiedAt: record.checkedAt }
      : {};
  }

  /** Follows the pass's failures up (staleness.ts); a follow-up that failed fails the pass's answer. */
  async function followUp(store: UnverifiedStore): Promise<void> {
    const spec = { watch: deps.watch, watchlist: deps.watchlist };
    try {
      summary.stale = await followUnverified(
        { store, alerts: deps.alerts, staleAfterMs: deps.staleAfterMs ?? DEFAULT_STALE_AFTER_MS },
        {
          at: started,
          failures,
          listed: listed.listed,
          tags: inventory.map((it) => it.ref),
          judged: [...summary.outcomes.map((o) => o.ref), ...judgedElsewhere],
          covers: (subject) => inventoryCovers(spec, subject),
          lastVerified: async (refs) => {
            const records = await deps.store.load(refs);
            const out = new Map<string, string>();
            for (const [ref, record] of records) {
              const source = sourceOf(spec, ref);
              const at =
                source === undefined ? undefined : verifiedAt(record, { source, ref }).lastVerifiedAt;
              if (at !== undefined) out.set(ref, at);
            }
            return out;
          },
          ...(options.shard ? { shard: options.shard } : {}),
        },
      );
    } catch (err) {
      const key = staleAlertKey(options.shard);
      summary.unverifiedFollowUp = 'failed';
      summary.errors.push({ ref: key, error: errorMessage(err) });
      deps.logger.error(
        `could not follow up what this pass failed to verify (${key}); the pass answers 500`,
        {
          error: err,
        },
      );
    }
  }

  /**
   * Whether a tag's failure is one a pass waits out, the tag's last verdict standing meanwhile (and
   * `verification-stale` once it lasts, as README says): any failure sigsentry's code names with a
   * typed error (a SigsentryError). Those are a dependency down or contended (registry, log, KMS,
   * Firestore), an answer a dependency should not have given (a registry serving an HTML page for a
   * manifest, a redirect without a Location: one incident answers so for every tag, so it must not
   * page per tag, and a later pass may get past it), or a dependency we may not use (credentials,
   * a host outside the allowlist), which lasts until an operator changes the configuration.
   * Everything else is an exception nothing foresaw: a defect, or content reaching a path that
   * throws on it (a junk bundle referrer did, found by review, before each signature's check was
   * made to contain its own failure: verify/verifier.ts checkedAlone).
   */
  const waitedOut = (err: unknown) => err instanceof SigsentryError;

  /**
   * Any other failure while judging a tag (a TypeError on what someone pushed: content a later pass
   * is no likelier to get past, and that anyone who can push may cause) must not
   * leave the tag's last verdict standing unseen: it may be `valid` for a digest the tag no longer
   * names, and whoever can make the judging fail (a junk bundle referrer did, found by review) would
   * freeze it for `staleAfterMs`. No verdict was made to store (the digest it would be of may not be
   * known), so a `signature-invalid` alert is raised now, naming the error and the verdict that is
   * no longer known to hold. Under a key of its own (alerts.ts unjudgedAlertKey), not the tag's
   * forgery incident, which no pass resolves: this one only says the tag is not judged, and the
   * first pass that judges it again resolves it (staleness.ts; the tag is kept as unverified,
   * marked so, until then), while a raise on the forgery's key would replace its evidence. Its
   * occurrence is the recorded verdict's, so a failure repeated pass after pass pages once while
   * it stays open. Says what was done.
   */
  async function raiseUnjudged(item: InventoryItem, prior: TagRecord | undefined, error: string) {
    const recorded = prior === undefined ? 'none' : `${prior.status} for ${prior.digest}`;
    const alert: AlertInput = {
      kind: 'signature-invalid',
      severity: 'HIGH',
      subject: item.ref,
      key: unjudgedAlertKey(item.ref),
      summary: boundText(
        `${item.ref} could not be verified (${error}); its recorded verdict (${recorded}) is not known to hold`,
        MAX_REASON_CHARS,
      ),
      evidence: {
        tag: item.ref,
        verifierOutput: boundText(error, MAX_REASON_CHARS),
        ...(prior === undefined ? {} : { recordedStatus: prior.status, recordedDigest: prior.digest }),
      },
      occurrence: `unjudged:${prior?.changedAt ?? 'none'}:${prior?.digest ?? 'none'}`,
    };
    try {
      await deps.alerts.raise(alert);
      summary.alertsRaised++;
      return 'its signature-invalid alert was raised';
    } catch (cause) {
      return `raising its signature-invalid alert failed too (${describeError(cause)})`;
    }
  }

  /**
   * Tags whose verdict another pass stored during this one (or this pass stored, its alerts then
   * undelivered): judged, as those in `summary.outcomes` are, though not stored by this attempt.
   */
  const judgedElsewhere: string[] = [];
  let next = 0;
  // A store that cannot be read fails the pass (as before any tag is verified): the recorded verdicts
  // are what `missing` and `tag-moved` are judged against.
  let storeFailure: { error: unknown } | undefined;
  const worker = async () => {
    while (next < inventory.length && storeFailure === undefined) {
      const index = next++;
      const item = inventory[index]!;
      const c = Math.floor(index / RECORD_CHUNK);
      const chunk = chunkOf(c);
      if (index % RECORD_CHUNK === 0 && (c + 1) * RECORD_CHUNK < inventory.length) chunkOf(c + 1);
      let previous: Map<string, TagRecord>;
      try {
        previous = await chunk.records;
      } catch (error) {
        storeFailure ??= { error };
        return;
      }
      try {
        await verifyTag(item, previous.get(item.ref));
      } catch (err) {
        const error = err instanceof SigsentryError ? err.message : describeError(err);
        summary.errors.push({ ref: item.ref, error });
        const undelivered = err instanceof SigsentryError && err.code === 'ALERT_DELIVERY_FAILED';
        // "Its last verdict stands" only while a dependency is down: otherwise it is alerted on.
        // Signature artifacts (.sig, fallback indexes) are read by tag only to be told from images:
        // they carry no verdict to stand, and an alert on each would double the noise of one fault.
        const alerted = !(waitedOut(err) || isSignatureArtifactTag(item.tag));
        // Not a failure to verify: a verdict whose alerts were not delivered was stored (the next
        // pass delivers them again), and another pass is storing one as this one gives up.
        if (err instanceof SigsentryError && NOT_UNVERIFIED.has(err.code)) {
          judgedElsewhere.push(item.ref);
        } else {
          failures.push({
            subject: item.ref,
            kind: 'tag',
            error,
            ...verifiedAt(previous.get(item.ref), item),
            // Kept so until a pass judges the tag, which resolves the alert raised below.
            ...(alerted ? { unjudged: true } : {}),
          });
        }
        const unstored = err instanceof SigsentryError && err.code === 'VERDICT_NOT_STORED';
        const unjudged = alerted ? await raiseUnjudged(item, previous.get(item.ref), error) : undefined;
        deps.logger.error(
          undelivered
            ? `the alerts of ${item.ref} were not delivered`
            : unstored
              ? `the verdict of ${item.ref} was not stored; its last verdict stands`
              : unjudged !== undefined
                ? `could not verify ${item.ref}, and not for an outage: ${unjudged}; its last verdict is not known to hold`
                : `could not verify ${item.ref}; its last verdict stands`,
          { tag: item.ref, error: err },
        );
      } finally {
        if (--chunk.left === 0) chunks.delete(c);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(deps.concurrency ?? 32, inventory.length) }, worker));
  if (storeFailure !== undefined) throw storeFailure.error;
  if (deps.unverified !== undefined) {
    await followUp(deps.unverified);
  }
  summary.durationMs = Math.round(performance.now() - t0);
  summary.tags = inventory.length - summary.artifacts;
  summary.outcomes.sort((a, b) => a.ref.localeCompare(b.ref));
  summary.gone.sort();
  deps.logger.notice('re-verification pass done', {
    tags: summary.tags,
    artifacts: summary.artifacts,
    byStatus: summary.byStatus,
    changed: summary.changed,
    cached: summary.cached,
    gone: summary.gone.length,
    errors: summary.errors.length,
    stale: summary.stale.length,
    keysNotEnabled: summary.keysNotEnabled.length,
    durationMs: summary.durationMs,
  });
  return summary;
}
