/**
 * The signing core: one `gcr` notification in, at most one signature per (digest, key, format)
 * out, logged and attached. It takes its clients as arguments so the function, the CLI and the
 * tests share it. Every step is resumable from the Firestore record (see state/signing-records.ts).
 */
import crypto from 'node:crypto';
import { bundleToJSON } from '@sigstore/bundle';
import { dsse } from '@sigstore/core';
import {
  type Bundle,
  DSSEBundleBuilder,
  MessageSignatureBundleBuilder,
  type Signature,
  type Signer,
  type Witness,
} from '@sigstore/sign';
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { bundleBytes } from '../attach/bundle-bytes.ts';
import { attachCosignSignature, type CosignSignature } from '../attach/cosign-layout.ts';
import { ForeignTagContentError } from '../attach/foreign-tag.ts';
import { heldSubjectLock, type LockHold, type SubjectLock, UNLAPSING_HOLD } from '../attach/lock.ts';
import { attachBundleReferrer } from '../attach/referrer.ts';
import type { RekorBundle } from '../attach/rekor-bundle.ts';
import { buildSimpleSigningPayload, parseSimpleSigningPayload } from '../attach/simple-signing.ts';
import {
  ruleFor,
  type SignatureFormat,
  type SignOnPushConfig,
  type WatchRule,
  watchedHost,
} from '../config/sign-config.ts';
import { isRetryable, PolicyViolationError, SigsentryError } from '../errors.ts';
import type { GcrNotification } from '../events/gcr-message.ts';
import { MAX_REASON_CHARS } from '../logging/bounded.ts';
import { describeError, describeValue, errorMessage } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { assertDigest, sha256Digest } from '../registry/digest.ts';
import { RegistryNotFoundError } from '../registry/errors.ts';
import { INDEX_MEDIA_TYPES } from '../registry/media-types.ts';
import {
  type DigestReference,
  formatImageReference,
  formatRepository,
  type RepositoryRef,
} from '../registry/reference.ts';
import type { FetchedManifest, Registry } from '../registry/registry.ts';
import type { DeletionStore } from '../state/deletion-records.ts';
import {
  attachedFormats,
  type FormatProgress,
  lackingFormats,
  recordId,
  SIGNING_RECORDS,
  type SigningRecord,
  type SigningStore,
} from '../state/signing-records.ts';
import { signatureVerifiesUnder } from '../verify/check.ts';
import { expectedKeyFromPem } from '../verify/policy.ts';
import type { LogKey } from '../verify/trust.ts';
import {
  beforeClaimAlert,
  beforeClaimKey,
  type ClaimWatch,
  claimAnswered,
  failedBeforeClaim,
  pastBeforeClaimBound,
  watchingClaims,
  watchingPlatformClaim,
} from './before-claim.ts';
import { DependencyClock, timedCall, withDependencyClock, wrapDependencyCalls } from './dependency-calls.ts';
import type { NotificationHandler } from './entry.ts';
import { readManifestView } from './manifest-view.ts';
import {
  type DeletedBeforeSigning,
  deletedReason,
  deletionsOf,
  explainingDeletion,
  NotInRegistryError,
  notInRegistry,
  noticeDeletedBeforeSigning,
  referencesGone,
} from './not-in-registry.ts';
import {
  type ManifestReader,
  type PlatformStep,
  planPlatformManifests,
  type ReadManifest,
} from './platform-manifests.ts';
import { RecordedSigner } from './recorded-signer.ts';
import { pushedArtifactKind } from './signature-artifacts.ts';
import { bundleReferrerPresent, cosignSignaturePresent } from './still-attached.ts';
import { type StoredRefusal, type StoredSignatureTrust, storedSignatureRefusal } from './stored-signature.ts';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** The predicate cosign 3 signs images with (a DSSE in-toto statement in a v0.3 bundle). */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

/** A signer with its key material, as the KMS signer and the local signer provide. */
export interface KeyedSigner extends Signer {
  signatureKey(): Promise<Signature['key']>;
}

export interface SignOnPushDeps {
  config: SignOnPushConfig;
  registry: Registry;
  store: SigningStore;
  signerFor(keyVersion: string): KeyedSigner;
  /** The transparency log's witness, or undefined when the configuration logs nowhere. */
  witness: Witness | undefined;
  /**
   * The log `witness` records into (its URL and key): a signature a signing record stores is
   * attached only with an entry of this log that verifies (stored-signature.ts). With a witness
   * and without it, no stored signature is attached.
   */
  signingLog?: LogKey;
  lock: SubjectLock;
  /** Where refusals and given-up signings are reported; they are also logged either way. */
  alerts?: AlertSink;
  /**
   * The deletions announced on `gcr`: a DELETE is recorded here, and a push the registry no longer
   * has is acknowledged without an alert when a deletion recorded here explains it. Without it, a
   * DELETE is only skipped and every such push is refused (alerted).
   */
  deletions?: DeletionStore;
  /** How long a push not in the registry, none of its deletions recorded, waits to look again (ms). */
  deletionWaitMs?: number;
  /** Identifies this instance's leases. */
  instanceId?: string;
  now?: () => Date;
  leaseMs?: number;
  /**
   * Give images whose record is `failed` (attempts exhausted) a fresh set of attempts: an
   * operator's `sigsentry sign --retry-failed` once the cause is fixed. Pushes never do. (An image
   * attached in some formats is never `failed`: a format it was given up on in, alerted once, is
   * tried again by its next push, with the same bound on attempts.)
   */
  retryFailed?: boolean;
}

export type SignOutcome =
  | { outcome: 'skipped'; reason: string; deleted?: DeletedBeforeSigning }
  | {
      outcome: 'signed' | 'already-signed';
      image: string;
      formats: SignatureFormat[];
      /**
       * Already signed, and these formats were gone from the registry: attached again from the
       * signing record (no new signature, no new log entry). Absent: every format was there.
       */
      reattached?: SignatureFormat[];
    };

export class SigningInProgressError extends SigsentryError {
  constructor(image: string, until: number) {
    super('SIGNING_IN_PROGRESS', `another attempt holds the signing lease on ${image}`, {
      retryable: true,
      details: { image, leaseExpiresAt: new Date(until).toISOString() },
    });
  }
}

/**
 * A format added to the rule since could not be signed or attached, for a reason no retry of this
 * push mends (a registry that refuses the referrer, a key the log rejects): the image stays signed
 * in the formats it has, and a later push tries the format again.
 */
export class FormatNotAddedError extends SigsentryError {
  constructor(record: SigningRecord, formats: string[], cause: unknown) {
    const attachedIn = attachedFormats(record);
    super(
      'SIGNING_FAILED',
      `${record.image} stays signed in ${attachedIn.join(', ')}; the ${formats.join(', ')} format was not added and this push will not retry it: ${errorMessage(cause)}`,
      {
        retryable: false,
        cause,
        details: {
          image: record.image,
          keyVersion: record.keyVersion,
          digest: record.digest,
          formats,
          attachedIn,
          ...(cause instanceof SigsentryError ? { lastError: cause.code } : {}),
        },
      },
    );
  }
}

/**
 * A signing given up after its attempts. A record still attached in some formats gave up only the
 * formats it lacks (`details.formats`): the image stays signed in the others (`details.attachedIn`).
 */
export class SigningExhaustedError extends SigsentryError {
  constructor(record: SigningRecord) {
    const formats = record.state === 'attached' ? (record.failedFormats ?? []) : [];
    const attachedIn = attachedFormats(record);
    super(
      'SIGNING_FAILED',
      formats.length > 0
        ? `gave up signing ${record.image} in the ${formats.join(', ')} format after ${record.attempts} attempts; it stays signed in ${attachedIn.join(', ') || 'the formats it has'}`
        : `gave up signing ${record.image} after ${record.attempts} attempts`,
      {
        retryable: false,
        details: {
          image: record.image,
          keyVersion: record.keyVersion,
          attempts: record.attempts,
          lastError: record.lastError,
          ...(formats.length > 0 ? { digest: record.digest, formats, attachedIn } : {}),
        },
      },
    );
  }
}

/**
 * An image its signing record says is attached in `formats` that cannot be kept so: the record
 * stores no signature for the format (nothing to check the registry against, nothing to attach
 * again without signing anew), or one that does not verify (storedRefused), or the signature is
 * gone from the registry and attaching it again from the record failed for a reason a retry does
 * not mend. Not retried; alerted.
 */
export class SignatureLostError extends SigsentryError {
  constructor(record: SigningRecord, formats: string[], message: string, cause?: unknown) {
    super('SIGNATURE_LOST', message, {
      retryable: false,
      ...(cause === undefined ? {} : { cause }),
      details: {
        image: record.image,
        keyVersion: record.keyVersion,
        digest: record.digest,
        formats,
        record: recordPath(record),
        ...(cause instanceof SigsentryError ? { lastError: cause.code } : {}),
      },
    });
  }

  /**
   * The record gives no signature to attach for these formats (each `why`): it stores none, or
   * what it stores is not this image's or not one reverifyImages would call valid. The record was
   * altered, or made under another configuration (a log added since). Nothing is attached for
   * them: only a new signing mends it.
   */
  static storedRefused(record: SigningRecord, refusals: readonly StoredRefusal[]): SignatureLostError {
    const id = recordPath(record);
    const each = refusals.map(({ format, why }) => `the ${format} signature: ${why}`).join('; ');
    return new SignatureLostError(
      record,
      refusals.map((r) => r.format),
      `the signing record of ${record.image} gives no signature that can be attached (${each}). A record is not trusted over the key and the log: it may have been altered, or written under another log configuration (delete the record, ${id}, and run sigsentry sign ${record.image})`,
    );
  }

  /** Attempts run out on a record whose last attempt was refused so: still that incident. */
  static stillRefused(record: SigningRecord, formats: readonly string[]): SignatureLostError {
    const id = recordPath(record);
    // The last refusal is quoted bounded, and the remedy written after it, so it is never cut off.
    const last = describeValue(record.lastError?.['message'], MAX_REASON_CHARS);
    return new SignatureLostError(
      record,
      [...formats],
      `the signing record of ${record.image} gave no signature that can be attached in ${formats.join(', ')} on any of its ${record.attempts} attempts, the last refused so: ${last}. A push published later, or sigsentry sign --retry-failed, tries again (delete the record, ${id}, and run sigsentry sign ${record.image})`,
    );
  }

  /** `format`'s signature is gone from the registry and attaching it again failed with `cause`. */
  static notReattached(record: SigningRecord, format: string, cause: unknown): SignatureLostError {
    const why = errorMessage(cause);
    return new SignatureLostError(
      record,
      [format],
      `the ${format} signature of ${record.image} is gone from the registry and could not be attached again from its signing record: ${why}`,
      cause,
    );
  }
}

export function createSignOnPush(untimed: SignOnPushDeps): NotificationHandler & {
  /** `publishedAt`: when the push's message was published (ms); none for an operator's request. */
  sign(n: GcrNotification, logger: Logger, publishedAt?: number): Promise<SignOutcome>;
} {
  const deps = wrapDependencyCalls(untimed, timedCall);
  const instance = deps.instanceId ?? `${process.pid}`;
  const now = deps.now ?? (() => new Date());
  const leaseMs = deps.leaseMs ?? 120_000;
  const watchedHosts = new Set(deps.config.watch.map(watchedHost));

  function sign(n: GcrNotification, logger: Logger, publishedAt?: number): Promise<SignOutcome> {
    return timed((clock) => signTimed(n, logger, clock, publishedAt));
  }

  async function signTimed(
    n: GcrNotification,
    logger: Logger,
    clock: DependencyClock,
    publishedAt: number | undefined,
  ): Promise<SignOutcome> {
    if (n.action === 'DELETE') return recordDeletion(n, publishedAt);
    // No skipping on the tag: a runnable image may be pushed under a `sha256-<hex>.sig` tag. What
    // sigsentry and cosign push there is known by its manifest below, read by digest (one GET).
    const repository = `${n.host}/${n.repository}`;
    // Artifact Registry publishes every repository of the project to `gcr` (other regions, gcr.io,
    // sigsentry's own function images, another installation's): a host no rule names is an
    // unwatched repository like any other, skipped without an alert. A rule's host is literal (the
    // loader refuses a wildcard there) and a message's host holds no `/`, so a rule matches only
    // repositories on its own host.
    const rule = ruleFor(deps.config, repository);
    if (!rule) return { outcome: 'skipped', reason: `repository ${repository} is not watched` };
    // Watched, yet on a host the registry client does not allow (a rule built past the loader with
    // a wildcard host): refused, with the alert, before anything is read.
    if (!watchedHosts.has(n.host)) {
      throw new PolicyViolationError(`refusing to sign: host ${n.host} is outside the watched set`, {
        image: n.raw.digest ?? n.raw.tag,
      });
    }

    // Never trust the event: the digest (or the tag's digest) must exist in the registry now. A
    // digest is fetched directly: the manifest's bytes are checked against it, so no HEAD first.
    const repo = { host: n.host, repository: n.repository };
    const named = (n.raw.digest ?? n.raw.tag)!;
    let digest = n.digest;
    let pushed: ReadManifest;
    try {
      if (digest === undefined) {
        try {
          digest = (await deps.registry.resolve({ ...repo, tag: n.tag! })).digest;
        } catch (err) {
          throw notInRegistry(err, named);
        }
      }
      pushed = await readManifest(repo, digest, named);
    } catch (err) {
      // Read before any record is claimed: a push acknowledged here leaves nothing half-done.
      if (err instanceof NotInRegistryError) return deletedBeforeSigning(n, digest, publishedAt, err);
      throw err;
    }
    // Judged on the manifest alone, whatever the tag (and a digest-only message has none).
    const artifact = await pushedArtifactKind(pushed, deps.registry, repo, logger);
    if (artifact) return { outcome: 'skipped', reason: artifact };
    // A key sigsentry cannot sign with (its algorithm) is refused once for the push, before any
    // record is claimed; the public key is read once per key version and instance.
    await deps.signerFor(rule.key).signatureKey();
    // The message's tag becomes a signed claim (the cosign payload's `optional.tag`) and one of the
    // record's tags only if the registry says it names the pushed digest now: the event is not
    // trusted for the tag any more than for the digest (one HEAD). A tag-only message's tag was
    // resolved above, to the digest being signed.
    const tag =
      n.digest !== undefined && n.tag !== undefined ? await confirmedTag(repo, n, digest, logger) : n.raw.tag;
    // A multi-arch index is signed itself; its platform manifests too when the rule asks for it.
    if (rule.signPlatformManifests && pushed.isIndex) {
      const reader: ManifestReader = {
        read: (child) => readManifest(repo, child),
        imageOf: (child) => formatImageReference({ ...repo, digest: child }),
      };
      await signPlatformManifests(
        await planPlatformManifests(pushed, reader),
        repo,
        rule,
        logger,
        publishedAt,
      );
    }
    return signImage({ ...repo, digest }, rule, logger, clock, tag, publishedAt);
  }

  /**
   * The tag of a digest+tag message, if it names `digest` in the registry; else undefined, with a
   * WARNING naming the tag, what it names now (a digest, or 404) and the message's digest. A registry
   * that cannot answer now fails the delivery (retryable), as any read of the push does.
   */
  async function confirmedTag(
    repo: RepositoryRef,
    n: GcrNotification,
    digest: string,
    logger: Logger,
  ): Promise<string | undefined> {
    let names: string;
    try {
      names = (await deps.registry.resolve({ ...repo, tag: n.tag! })).digest;
    } catch (err) {
      if (isRetryable(err)) throw err;
      names = err instanceof RegistryNotFoundError ? '404' : `an error (${(err as Error).message})`;
    }
    if (names === digest) return n.raw.tag;
    logger.warn(
      `tag claim left out: ${n.raw.tag} names ${names} in the registry, not the pushed digest ${digest}; it is left out of the signature's claims and the record's tags`,
      { tag: n.raw.tag, tagNames: names, digest: n.raw.digest },
    );
    return undefined;
  }

  /**
   * A DELETE signs nothing. One in a watched repository is recorded (retryable if it cannot be), so
   * that a push of what it deleted, handled after it, is not refused as missing from the registry.
   */
  async function recordDeletion(n: GcrNotification, publishedAt: number | undefined): Promise<SignOutcome> {
    if (!deps.deletions || !ruleFor(deps.config, `${n.host}/${n.repository}`)) {
      return { outcome: 'skipped', reason: 'DELETE needs no signature' };
    }
    for (const deletion of deletionsOf(n, publishedAt)) await deps.deletions.record(deletion);
    return { outcome: 'skipped', reason: 'DELETE needs no signature; the deletion is recorded' };
  }

  /**
   * A push the registry does not have: acknowledged when a recorded deletion explains it (the image
   * or tag was deleted after it was pushed), else refused with `missing` as before.
   */
  async function deletedBeforeSigning(
    n: GcrNotification,
    resolved: string | undefined,
    publishedAt: number | undefined,
    missing: NotInRegistryError,
  ): Promise<SignOutcome> {
    if (!deps.deletions) throw missing;
    const deletion = await explainingDeletion(
      deps.deletions,
      referencesGone(n, resolved),
      publishedAt,
      deps.deletionWaitMs,
    );
    if (deletion === undefined) throw missing;
    const deleted = { image: (n.raw.digest ?? n.raw.tag)!, deletion };
    return { outcome: 'skipped', reason: deletedReason(deleted), deleted };
  }

  /**
   * The manifest `digest` names, fetched by digest only (the registry client checks its bytes against
   * it) and read as the registry reads it. `named` is how the refusal names it when it is not there.
   */
  async function readManifest(repo: RepositoryRef, digest: string, named?: string): Promise<ReadManifest> {
    const image = formatImageReference({ ...repo, digest });
    let fetched: FetchedManifest;
    try {
      fetched = await deps.registry.getManifest(repo, assertDigest(digest, { image }));
    } catch (err) {
      throw notInRegistry(err, named ?? image);
    }
    return {
      digest,
      image,
      isIndex: INDEX_MEDIA_TYPES.includes(fetched.descriptor.mediaType),
      view: readManifestView(fetched.bytes, image, digest),
    };
  }

  /** Signs an index's platform manifests as planned; one that cannot be signed is alerted on its own. */
  async function signPlatformManifests(
    steps: readonly PlatformStep[],
    repo: RepositoryRef,
    rule: WatchRule,
    logger: Logger,
    publishedAt: number | undefined,
  ): Promise<void> {
    for (const step of steps) {
      const log = logger.child({ index: step.index });
      if (step.kind === 'skip') {
        log.info(`platform manifest skipped: ${step.reason}`, { platform: step.image });
        continue;
      }
      const error =
        step.kind === 'refused'
          ? step.error
          : await platformError({ ...repo, digest: step.digest }, rule, log, publishedAt);
      if (error === undefined) continue;
      // The index (what the tag names) and the other platforms are still signed.
      log.error('a platform manifest was not signed', { platform: step.image, error });
      const alert = alertFor(error, undefined, step.image);
      if (alert && deps.alerts) await deps.alerts.raise(alert);
    }
  }

  /** Why a platform manifest could not be signed, or undefined once it is; retryable errors are thrown. */
  async function platformError(
    image: DigestReference,
    rule: WatchRule,
    logger: Logger,
    publishedAt: number | undefined,
  ): Promise<unknown> {
    try {
      // Its own record, claimed apart from the index's: watched apart for a failure before that claim.
      await watchingPlatformClaim(formatImageReference(image), () =>
        timed((clock) => signImage(image, rule, logger, clock, undefined, publishedAt)),
      );
      return undefined;
    } catch (err) {
      if (isRetryable(err)) throw err; // the whole index again, from its first platform
      return err;
    }
  }

  /** Formats given up on before (if they were) are attached now, or no longer asked for: their incident is over. */
  async function resolveFormatIncident(
    image: string,
    formats: readonly string[],
    log: Logger,
    reason = `attached in ${formats.join(', ')}`,
  ): Promise<void> {
    await deps.alerts
      ?.resolve(formatAlertKey(image, formats), reason)
      .catch((err: unknown) => log.warn('could not resolve the format alert', { error: err }));
  }

  /**
   * What a signature stored in a signing record is judged against: reverifyImages' policy for the
   * rule (its key alone), and the log signOnPush signs into, whose entry it must carry when the
   * configuration logs (a signature without one, or in another log, is not valid there).
   */
  async function storedSignatureTrust(rule: WatchRule): Promise<StoredSignatureTrust> {
    const key = await deps.signerFor(rule.key).signatureKey();
    // sigsentry's signers are keys (KMS, local); a certificate would name an identity, not the rule's key.
    if (key.$case !== 'publicKey') return { policy: { keys: [], identities: [] }, logs: [] };
    return {
      policy: {
        keys: [expectedKeyFromPem(key.publicKey, rule.key)],
        identities: [],
        requireTlog: deps.witness !== undefined,
      },
      logs: deps.signingLog === undefined ? [] : [deps.signingLog],
    };
  }

  /** Attaches one format's signature under the hold `held`; false when it was attached already. */
  async function attach(
    held: SubjectLock,
    image: DigestReference,
    attachment: Attachment,
    log: Logger,
  ): Promise<boolean> {
    const attachDeps = { registry: deps.registry, lock: held, logger: log };
    if (attachment.format === 'cosign') {
      return (await attachCosignSignature(attachDeps, image, attachment.signature)).appended;
    }
    return (await attachBundleReferrer(attachDeps, image, attachment.bytes, { created: attachment.created }))
      .attached;
  }

  /**
   * An image already signed in every format of its rule: each format's signature is looked for in
   * the registry (read-only, the formats at once), and one gone (a cleanup policy, an operator, a
   * concurrent writer's lost update), or listed with the blob of its payload or bundle gone, is
   * attached again from what its record stores (the blob uploaded again), under the
   * image's lock as a signing attaches: no new signature, no new log entry. Returns the formats
   * attached again, each told with a NOTICE line. A record storing no signature for a format, or an
   * attach failing for good, is a SignatureLostError (alerted); a retryable failure is thrown as it is.
   */
  async function keepAttached(
    image: DigestReference,
    rule: WatchRule,
    record: SigningRecord,
    logger: Logger,
  ): Promise<SignatureFormat[]> {
    const imageRef = formatImageReference(image);
    // A format whose record cannot be read (nothing stored, a payload naming another image) does
    // not keep the others from being looked for and attached again; it is refused with them after.
    const unreadable: StoredRefusal[] = [];
    const stored = rule.formats.flatMap((format) => {
      const read = storedAttachment(image, format, record);
      if ('why' in read) {
        unreadable.push(read);
        return [];
      }
      return [read];
    });
    const present = await Promise.all(
      stored.map((attachment) =>
        attachment.format === 'cosign'
          ? cosignSignaturePresent(deps.registry, image, {
              payloadDigest: sha256Digest(attachment.signature.payload),
              signature: attachment.signature.signature,
            })
          : bundleReferrerPresent(deps.registry, image, {
              bundleDigest: sha256Digest(attachment.bytes),
              created: attachment.created,
            }),
      ),
    );
    const gone = stored.filter((_, i) => present[i] !== 'present');
    if (gone.length === 0) {
      if (unreadable.length > 0) throw SignatureLostError.storedRefused(record, unreadable);
      return [];
    }
    // The record is not an authority on what the key signed: what it stores goes back only if
    // reverifyImages would call it valid (stored-signature.ts). A format refused so does not keep
    // the others from going back; its refusal is thrown once they have.
    const trust = await storedSignatureTrust(rule);
    const refusals = gone.map((attachment) => storedSignatureRefusal(image, attachment, trust));
    const missing = gone.filter((_, i) => refusals[i] === undefined);
    const refused = gone.flatMap((attachment, i) => {
      const why = refusals[i];
      return why === undefined ? [] : [{ format: attachment.format, why }];
    });
    // Ours still listed, only its blob gone: the attach uploads the blob again and finds the
    // manifest as it was, so it writes no manifest and says nothing was attached.
    const blobGone = new Set(stored.filter((_, i) => present[i] === 'blob-missing').map((a) => a.format));
    const log = logger.child({ image: imageRef, keyVersion: rule.key });
    const reattached: SignatureFormat[] = [];
    let current: SignatureFormat | undefined;
    // Thrown once the formats that can go back have, every format refused named.
    const failure = () => {
      const all = rule.formats.flatMap((f) => [...unreadable, ...refused].filter((r) => r.format === f));
      return all.length > 0 ? SignatureLostError.storedRefused(record, all) : undefined;
    };
    if (missing.length === 0) throw failure();
    // What a tag holds refuses its format only, as for a signing: the others still go back.
    let foreign: ForeignTagContentError | undefined;
    try {
      await deps.lock.lock(imageRef, async (hold) => {
        const held = heldSubjectLock(imageRef, hold);
        for (const attachment of missing) {
          current = attachment.format;
          // The attach reads again under the lock: what another writer put back meanwhile is kept.
          let attached: boolean;
          try {
            attached = await attach(held, image, attachment, log);
          } catch (err) {
            if (!(err instanceof ForeignTagContentError)) throw err;
            foreign ??= err;
            continue;
          }
          if (attached) {
            reattached.push(attachment.format);
            log.notice(
              `signature re-attached: the ${attachment.format} signature of ${imageRef} was gone from the registry and is attached again from its signing record (no new signature, no new log entry)`,
              { format: attachment.format },
            );
          } else if (blobGone.has(attachment.format)) {
            reattached.push(attachment.format);
            log.notice(
              `signature re-attached: the ${attachment.format} signature of ${imageRef} was listed but its ${attachment.format === 'cosign' ? 'payload' : 'bundle'} blob was gone from the registry; the blob is uploaded again from its signing record (no new signature, no new log entry)`,
              { format: attachment.format, blob: 'uploaded again' },
            );
          } else {
            log.info(`the ${attachment.format} signature of ${imageRef} was found attached under the lock`, {
              format: attachment.format,
            });
          }
        }
      });
    } catch (err) {
      // A refusal (what the tag holds is not ours to merge into) is alerted as one; a passing
      // failure is redelivered, and the next delivery looks again.
      if (isRetryable(err) || err instanceof PolicyViolationError || current === undefined) throw err;
      throw SignatureLostError.notReattached(record, current, err);
    }
    // Alerted (the lost-signature incident stays open): a format still cannot go back. A tag
    // refusal beside it is told here and raised by the push after the record is mended.
    const failed = failure();
    if (failed !== undefined) {
      if (foreign) log.warn('a format was also refused for what its tag holds', { error: foreign });
      throw failed;
    }
    if (foreign) throw foreign;
    // A signature an earlier delivery could not put back is attached now: that incident is over.
    if (reattached.length > 0) {
      await deps.alerts
        ?.resolve(lostAlertKey(imageRef), `re-attached in ${reattached.join(', ')}`)
        .catch((err: unknown) => log.warn('could not resolve the lost-signature alert', { error: err }));
    }
    return reattached;
  }

  /** Claims, signs, logs and attaches one image (by digest) in each of the rule's formats. */
  async function signImage(
    image: DigestReference,
    rule: WatchRule,
    logger: Logger,
    clock: DependencyClock,
    tag: string | undefined,
    publishedAt: number | undefined,
  ): Promise<SignOutcome> {
    const imageRef = formatImageReference(image);
    const id = { image: imageRef, keyVersion: rule.key };
    // Each attempt owns its lease, so concurrent deliveries inside one instance exclude each other too.
    const owner = `${instance}:${crypto.randomUUID()}`;
    const claim = await deps.store.claim(id, owner, {
      leaseMs,
      maxAttempts: deps.config.maxAttempts,
      formats: rule.formats,
      ...(tag ? { tag } : {}),
      ...(deps.retryFailed ? { retryFailed: true } : {}),
      ...(publishedAt !== undefined ? { publishedAt } : {}),
    });
    claimAnswered();
    if (claim.status === 'done') {
      if (claim.finished?.length) await resolveFormatIncident(imageRef, claim.finished, logger);
      if (claim.dropped?.length) {
        await resolveFormatIncident(imageRef, claim.dropped, logger, 'no longer asked for by the watch rule');
      }
      const reattached = await keepAttached(image, rule, claim.record, logger);
      // The operator's check after a lost-signature alert's remedy (a push may have signed the
      // image anew first): every format is there, so that incident is over. A re-attach resolved it.
      if (publishedAt === undefined && reattached.length === 0) {
        await deps.alerts
          ?.resolve(lostAlertKey(imageRef), `attached in ${rule.formats.join(', ')}`)
          .catch((err: unknown) => logger.warn('could not resolve the lost-signature alert', { error: err }));
      }
      return {
        outcome: 'already-signed',
        image: imageRef,
        formats: rule.formats,
        ...(reattached.length > 0 ? { reattached } : {}),
      };
    }
    if (claim.status === 'busy') throw new SigningInProgressError(imageRef, claim.until);
    if (claim.status === 'exhausted') {
      // Attempts spent on a record that gives nothing to attach stay that incident, which its
      // remedy closes (found by review: it became a gave-up incident that nothing resolved).
      const refusedIn = storedRefusedFormats(claim.record);
      const lacking = lackingFormats(claim.record, rule.formats);
      // Only when what ran out is what the record refused: a refusal mended since (and a format
      // added later, its attempts spent otherwise) is the gave-up incident it is.
      if (lacking.length > 0 && lacking.every((f) => refusedIn.includes(f))) {
        throw SignatureLostError.stillRefused(claim.record, lacking);
      }
      throw new SigningExhaustedError(claim.record);
    }

    const record = claim.record;
    const signer = deps.signerFor(rule.key);
    const log = logger.child({ image: imageRef, keyVersion: rule.key, attempt: record.attempts });
    try {
      // One hold of the image's lock for the whole signing, not one per format: the cross-instance
      // lease is Firestore round trips (taking it and giving it back), and each format's attach
      // runs under it as before, so a format attached before a later one fails stays attached.
      const pending = rule.formats.some((format) => !record.formats[format]?.attached);
      // Nothing left to attach: no lock, and nothing is written under the hold passed.
      const underLock = (fn: (hold: LockHold) => Promise<void>) =>
        pending ? deps.lock.lock(imageRef, fn) : fn(UNLAPSING_HOLD);
      await underLock(async (hold) => {
        const held = heldSubjectLock(imageRef, hold);
        // A format refused because someone else's content holds its tag refuses that format only:
        // the others still attach, and the refusal is thrown once they have (FormatNotAddedError).
        let refused: ForeignTagContentError | undefined;
        // Formats whose stored signature is not attached (judged below): all named in one alert.
        const storedRefusals: StoredRefusal[] = [];
        let trust: StoredSignatureTrust | undefined;
        for (const format of rule.formats) {
          const progress: FormatProgress = { ...record.formats[format] };
          const save = async (patch: FormatProgress) => {
            Object.assign(progress, patch);
            record.formats[format] = progress;
            await deps.store.progress(id, owner, { formats: record.formats });
          };
          if (progress.attached) continue;
          const recorded = new RecordedSigner({
            inner: signer,
            keyOf: () => signer.signatureKey(),
            stored: progress,
            save,
          });
          const witnesses = deps.witness ? [deps.witness] : [];
          // A resumed attempt (a crash, a failed attach) finds what an earlier one stored: the bytes
          // signed, the signature RecordedSigner would replay, the bundle. All are the record's
          // word: bytes not this image's, a signature the key did not make, a bundle reverify would
          // not call valid are refused here, before the log is asked for anything (found by review:
          // a replayed signature was retried against the log until its attempts ran out).
          if (progress.signedBytes || progress.signature) {
            trust ??= await storedSignatureTrust(rule);
            const why = storedProgressRefusal(image, format, progress, trust);
            if (why !== undefined) {
              storedRefusals.push({ format, why });
              continue;
            }
          }
          const fromRecord = Boolean(progress.bundle);
          let build: () => Attachment;
          if (format === 'cosign') {
            const payload = progress.signedBytes
              ? Buffer.from(progress.signedBytes, 'base64')
              : Buffer.from(
                  buildSimpleSigningPayload(image, {
                    ...deps.config.annotations,
                    ...(tag ? { tag } : {}),
                    'dev.sigsentry/signed-at': now().toISOString(),
                  }),
                );
            if (!progress.bundle) {
              const bundle = await new MessageSignatureBundleBuilder({ signer: recorded, witnesses }).create({
                data: payload,
              });
              await save({ bundle: bundleToJSON(bundle) });
              log.info('signed and logged (cosign layout)', logFields(bundle));
            }
            build = () => cosignAttachment(payload, progress.bundle);
          } else {
            if (!progress.bundle) {
              // The statement is the image's alone (no time in it), so a resumed signing makes the
              // same one and RecordedSigner replays the signature stored for its PAE.
              const statement = inTotoStatement(image);
              const bundle = await new DSSEBundleBuilder({ signer: recorded, witnesses }).create({
                data: statement,
                type: IN_TOTO_PAYLOAD_TYPE,
              });
              await save({ bundle: bundleToJSON(bundle) });
              log.info('signed and logged (Sigstore bundle)', logFields(bundle));
            }
            build = () => bundleAttachment(progress.bundle, record.createdAt);
          }
          let attachment: Attachment;
          if (fromRecord) {
            // Judged as a signature attached again is (keepAttached): the record is not trusted
            // over the key and the log. One made in this attempt is the signer's, its entry the witness's.
            trust ??= await storedSignatureTrust(rule);
            const judged = judgedFromRecord(image, build, trust);
            if (typeof judged === 'string') {
              storedRefusals.push({ format, why: judged });
              continue;
            }
            attachment = judged;
          } else {
            attachment = build();
          }
          try {
            await attach(held, image, attachment, log);
          } catch (err) {
            if (!(err instanceof ForeignTagContentError)) throw err;
            refused ??= err;
            continue;
          }
          // Persisted with the next write (the next format's signature, or the final state) rather
          // than a write of its own: attaching is idempotent (an identical signature or bundle is
          // found and not added again), so a crash before that write costs a lookup, not a copy.
          Object.assign(progress, { attached: true });
          record.formats[format] = progress;
        }
        if (storedRefusals.length > 0) {
          // The record's incident is thrown; a tag refusal met beside it is told here, and raised
          // by the push after the record is mended.
          if (refused) log.warn('a format was also refused for what its tag holds', { error: refused });
          throw SignatureLostError.storedRefused(record, storedRefusals);
        }
        if (refused) throw refused;
      });
      await deps.store.progress(id, owner, {
        formats: record.formats,
        state: 'attached',
        lease: null,
        // Attached in every format now: no format being added, none given up on.
        ...(record.adding?.length || record.failedFormats?.length ? { adding: [], failedFormats: [] } : {}),
      });
      log.notice('image signed', { formats: rule.formats, timing: clock.report() });
      if (record.adding?.length) await resolveFormatIncident(imageRef, record.adding, log);
      // The remedy a lost-signature alert names (delete the record, run sigsentry sign) closes its
      // incident once the operator's signing is done. Not looked up for a push (publishedAt set):
      // an alert-store round trip on every signing, for an incident an operator mends.
      if (publishedAt === undefined) {
        await deps.alerts
          ?.resolve(lostAlertKey(imageRef), `signed anew in ${rule.formats.join(', ')}`)
          .catch((err: unknown) => log.warn('could not resolve the lost-signature alert', { error: err }));
      }
      return { outcome: 'signed', image: imageRef, formats: rule.formats };
    } catch (err) {
      await deps.store
        .progress(id, owner, {
          formats: record.formats,
          lease: null,
          lastError: err instanceof SigsentryError ? err.toJSON() : { message: describeError(err) },
        })
        .catch(() => {});
      // Attached in some formats already (a format added since, or a first signing part done):
      // the image stays signed in those, and the alert says which formats were not added.
      const missing = lackingFormats(record, rule.formats);
      // A stored signature refused stays the lost-signature incident its remedy closes (found by
      // review: wrapped, it became a format incident that nothing resolves).
      if (err instanceof SignatureLostError) throw err;
      if (!isRetryable(err) && missing.length > 0 && attachedFormats(record).length > 0) {
        throw new FormatNotAddedError(record, missing, err);
      }
      throw err;
    }
  }

  /**
   * A delivery that failed before any signing record was claimed is alerted once Pub/Sub's count of
   * its deliveries reaches the rule's attempts (before-claim.ts). The delivery fails as it did,
   * with its own error, whether or not the alert could be raised: Pub/Sub redelivers it either way.
   */
  async function raiseBeforeClaim(
    err: unknown,
    unclaimed: Parameters<typeof beforeClaimAlert>[1],
    context: Parameters<NotificationHandler['handle']>[1],
  ): Promise<void> {
    const alert = beforeClaimAlert(err, unclaimed, {
      messageId: context.messageId,
      deliveryAttempt: context.deliveryAttempt,
      maxAttempts: deps.config.maxAttempts,
      publishedAt: context.publishedAt,
      now: now().getTime(),
    });
    if (!alert || !deps.alerts) return;
    await deps.alerts
      .raise(alert)
      .catch((alertErr: unknown) =>
        context.logger.warn('could not raise the before-claim alert', { error: alertErr, key: alert.key }),
      );
  }

  /**
   * A delivery handled after an earlier one may have raised the before-claim alert: that incident is
   * over. Looked up when the image was signed now (the delivery that signs it may be a message
   * published again after the dead letter, or another push of it: found by review), or when this
   * delivery is past the bound an earlier one alerted at; not on every push. Under both references
   * the message names, as a tag-only push was alerted under its tag; and under each platform manifest
   * signed in this delivery, by the same rule (found by review: a platform alerted so stayed open).
   */
  async function resolveBeforeClaim(
    n: GcrNotification,
    outcome: SignOutcome,
    platforms: ClaimWatch['platformsSigned'],
    context: Parameters<NotificationHandler['handle']>[1],
  ): Promise<void> {
    if (n.action !== 'INSERT') return;
    const { past, resolve } = beforeClaimResolution(context);
    const refs = [...new Set([n.raw.digest, n.raw.tag].flatMap((ref) => (ref === undefined ? [] : [ref])))];
    await Promise.all([
      resolvePlatformsBeforeClaim(n, platforms, context),
      ...(outcome.outcome === 'signed' || past ? refs.map((ref) => resolve(ref, outcome.outcome)) : []),
    ]);
  }

  /**
   * The platform manifests signed in this delivery (each, past the bound): their incidents are over,
   * whether or not the delivery then failed, as a later step (the index's own claim) may. Found by
   * review: a platform signed by a delivery that failed after it was forgotten, and its incident
   * stayed open, the platform being `already-signed` to every later delivery.
   */
  async function resolvePlatformsBeforeClaim(
    n: GcrNotification,
    platforms: ClaimWatch['platformsSigned'],
    context: Parameters<NotificationHandler['handle']>[1],
  ): Promise<void> {
    if (n.action !== 'INSERT') return;
    const { past, resolve } = beforeClaimResolution(context);
    await Promise.all(
      platforms
        .filter((platform) => platform.signedNow || past)
        .map((platform) => resolve(platform.image, platform.signedNow ? 'signed' : 'already-signed')),
    );
  }

  /** Whether this delivery is past the bound an earlier one alerted at, and how it resolves one. */
  function beforeClaimResolution(context: Parameters<NotificationHandler['handle']>[1]) {
    const attempt = context.deliveryAttempt;
    const past = pastBeforeClaimBound({
      deliveryAttempt: attempt === undefined ? undefined : attempt - 1,
      maxAttempts: deps.config.maxAttempts,
      publishedAt: context.publishedAt,
      now: now().getTime(),
    });
    const by = attempt !== undefined ? `delivery ${attempt}` : 'a later delivery';
    const resolve = async (ref: string, how: string): Promise<void> => {
      await deps.alerts
        ?.resolve(beforeClaimKey(ref), `handled by ${by}: ${how}`)
        .catch((err: unknown) =>
          context.logger.warn('could not resolve the before-claim alert', { error: err, image: ref }),
        );
    };
    return { past, resolve };
  }

  return {
    sign,
    async handle(n, context) {
      const watch: ClaimWatch = { claimed: false, platformsSigned: [] };
      try {
        const result = await watchingClaims(watch, () => sign(n, context.logger, context.publishedAt));
        if (result.outcome === 'skipped' && result.deleted) {
          noticeDeletedBeforeSigning(context.logger, result.deleted, context.publishedAt);
        } else if (result.outcome === 'skipped') context.logger.info(`skipped: ${result.reason}`);
        else if (result.outcome === 'already-signed' && result.reattached === undefined) {
          // Re-attached formats were told with a NOTICE each; this says every one was found.
          context.logger.info(`already signed: ${result.image} is attached in ${result.formats.join(', ')}`, {
            signedImage: result.image,
            formats: result.formats,
          });
        }
        await resolveBeforeClaim(n, result, watch.platformsSigned, context);
      } catch (err) {
        const pushed = n.raw.digest ?? n.raw.tag ?? 'unknown';
        const alert = alertFor(err, context.messageId, pushed);
        if (alert && deps.alerts) await deps.alerts.raise(alert);
        // Before the claim of the image it concerns: the pushed one's, or a platform manifest's.
        const unclaimed = failedBeforeClaim(watch, err, pushed);
        if (isRetryable(err) && n.action === 'INSERT' && unclaimed !== undefined) {
          await raiseBeforeClaim(err, unclaimed, context);
        }
        await resolvePlatformsBeforeClaim(n, watch.platformsSigned, context);
        throw err;
      }
    },
  };
}

/** The record's document path, as an alert names it for an operator to delete. */
function recordPath(record: SigningRecord): string {
  return `${SIGNING_RECORDS}/${recordId(record.image, record.keyVersion)}`;
}

/** The formats a record's last attempt was refused in for what the record stores (SIGNATURE_LOST). */
function storedRefusedFormats(record: SigningRecord): string[] {
  const last = record.lastError;
  if (last?.['code'] !== 'SIGNATURE_LOST' || !Array.isArray(last['formats'])) return [];
  return last['formats'].filter((f): f is string => typeof f === 'string');
}

/** The key of the incident of formats given up on for an image signed in others. */
function formatAlertKey(image: string, formats: readonly string[]): string {
  return `signing-failed:${image}:${[...formats].sort().join(',')}`;
}

/**
 * The key of the incident of an image's signature lost from the registry and not attached again:
 * its own, so that it neither merges with the image's other signing failures nor stays open once
 * a later delivery re-attaches it.
 */
function lostAlertKey(image: string): string {
  return `signing-failed:${image}:signature-lost`;
}

/** One signing's dependency calls, timed on a clock of its own. */
function timed<T>(run: (clock: DependencyClock) => Promise<T>): Promise<T> {
  const clock = new DependencyClock();
  return withDependencyClock(clock, () => run(clock));
}

/**
 * The alert for an outcome a security team must hear about, or undefined for a transient failure
 * (Pub/Sub redelivers it). `pushed` is the image the message named, the alert's subject when the
 * error does not name one: refusals of different images must not become one incident.
 */
function alertFor(err: unknown, messageId: string | undefined, pushed: string): AlertInput | undefined {
  if (err instanceof SignatureLostError) {
    const image = String(err.details.image);
    return {
      kind: 'signing-failed',
      severity: 'HIGH',
      subject: image,
      key: lostAlertKey(image),
      summary: err.message,
      evidence: {
        image,
        messageId,
        keyVersion: String(err.details.keyVersion),
        digest: String(err.details.digest),
        formats: err.details.formats,
        record: err.details.record,
        ...(err.details.lastError ? { lastError: err.details.lastError } : {}),
      },
    };
  }
  if (err instanceof SigningExhaustedError || err instanceof FormatNotAddedError) {
    const image = String(err.details.image);
    const formats = err.details.formats as string[] | undefined;
    return {
      kind: 'signing-failed',
      severity: 'HIGH',
      subject: image,
      // A format given up on while the image stays signed in others is an incident of its own.
      ...(formats ? { key: formatAlertKey(image, formats) } : {}),
      summary: err.message,
      evidence: {
        image,
        keyVersion: String(err.details.keyVersion),
        attempts: err.details.attempts,
        lastError: err.details.lastError,
        ...(formats
          ? { digest: String(err.details.digest), formats, attachedIn: err.details.attachedIn }
          : {}),
      },
    };
  }
  if (err instanceof PolicyViolationError) {
    const image = String(err.details.image ?? pushed);
    return {
      kind: 'signing-refused',
      severity: 'HIGH',
      subject: image,
      summary: err.message,
      evidence: { image, messageId },
    };
  }
  if (!isRetryable(err)) {
    // Acknowledged without a retry (a disabled key, a registry that rejects the attach): the
    // image stays unsigned until someone acts, so someone must hear of it.
    const image = String((err instanceof SigsentryError ? err.details.image : undefined) ?? pushed);
    return {
      kind: 'signing-failed',
      severity: 'HIGH',
      subject: image,
      summary: `${image} was not signed and will not be retried: ${errorMessage(err)}`,
      evidence: {
        image,
        messageId,
        ...(err instanceof SigsentryError ? { lastError: err.code } : {}),
      },
    };
  }
  return undefined;
}

/** What one format attaches, out of what its signing made and stored. */
type Attachment =
  | { format: 'cosign'; signature: CosignSignature }
  | { format: 'bundle'; bytes: Buffer; created: Date };

/** The `.sig` layer of `payload`, signed and logged in `bundle` (a message-signature bundle). */
function cosignAttachment(payload: Uint8Array, stored: unknown): Attachment {
  const bundle = stored as ReturnType<typeof bundleToJSON>;
  return {
    format: 'cosign',
    signature: {
      payload,
      signature: messageSignature(bundle),
      ...(bundle.verificationMaterial?.tlogEntries?.[0] ? { bundle: toCosignRekorBundle(bundle) } : {}),
    },
  };
}

/**
 * The referrer of `bundle`, created at the record's creation: a referrer attached again is the same
 * manifest, by digest, as the one first attached.
 */
function bundleAttachment(bundle: unknown, createdAt: number): Attachment {
  return { format: 'bundle', bytes: bundleBytes(bundle), created: new Date(createdAt) };
}

/**
 * Why what a resumed signing finds stored for `format` must not be used, if so: bytes signed that
 * are not this image's payload or statement, or a stored signature over them the rule's key did not
 * make (which RecordedSigner would otherwise replay into the log, or with no log attach).
 */
function storedProgressRefusal(
  image: DigestReference,
  format: SignatureFormat,
  progress: FormatProgress,
  trust: StoredSignatureTrust,
): string | undefined {
  if (progress.signedBytes) {
    const problem =
      format === 'cosign'
        ? storedPayloadProblem(image, progress.signedBytes)
        : // Checked while no bundle is stored: a stored bundle's statement is judged with the bundle.
          progress.bundle
          ? undefined
          : storedStatementProblem(progress.signedBytes, inTotoStatement(image));
    if (problem !== undefined) return `its stored payload ${problem}`;
  }
  if (progress.signature && progress.signedBytes && !progress.bundle) {
    const key = trust.policy.keys[0];
    const verifies = signatureVerifiesUnder(
      Buffer.from(progress.signedBytes, 'base64'),
      Buffer.from(progress.signature, 'base64'),
    );
    if (key === undefined || !verifies(key))
      return "its stored signature does not verify under the rule's key";
  }
  return undefined;
}

/**
 * The attachment `build` makes out of a signing record's JSON, if reverifyImages would call it a
 * valid signature of `image` (stored-signature.ts); else why not.
 */
function judgedFromRecord(
  image: DigestReference,
  build: () => Attachment,
  trust: StoredSignatureTrust,
): Attachment | string {
  let attachment: Attachment;
  try {
    attachment = build();
  } catch (err) {
    if (err instanceof SigsentryError) throw err;
    return `it cannot be read as a signature (${errorMessage(err)})`;
  }
  return storedSignatureRefusal(image, attachment, trust) ?? attachment;
}

/**
 * What `record` stored for `format`, to look for in the registry and attach again: the same bytes
 * the signing attached; or why it gives nothing to attach (none stored, none that can be read,
 * a payload naming another image).
 */
function storedAttachment(
  image: DigestReference,
  format: SignatureFormat,
  record: SigningRecord,
): Attachment | StoredRefusal {
  const progress = record.formats[format];
  const says = `the record says it is attached in the ${format} format but`;
  if (progress?.bundle === undefined || progress.bundle === null) {
    return { format, why: `${says} stores no signed bundle for it` };
  }
  if (format === 'cosign' && !progress.signedBytes) {
    return { format, why: `${says} stores no signed payload for it` };
  }
  if (format === 'cosign') {
    const problem = storedPayloadProblem(image, progress.signedBytes!);
    if (problem !== undefined) return { format, why: `its stored payload ${problem}` };
  }
  try {
    return format === 'cosign'
      ? cosignAttachment(Buffer.from(progress.signedBytes!, 'base64'), progress.bundle)
      : bundleAttachment(progress.bundle, record.createdAt);
  } catch (err) {
    if (err instanceof SigsentryError) throw err;
    return { format, why: `${says} stores a bundle for it that cannot be read (${errorMessage(err)})` };
  }
}

/** Why the simple-signing payload a record stored is not this very image's (digest and repository), if it is not. */
function storedPayloadProblem(image: DigestReference, signedBytes: string): string | undefined {
  let claims: ReturnType<typeof parseSimpleSigningPayload>;
  try {
    claims = parseSimpleSigningPayload(Buffer.from(signedBytes, 'base64'));
  } catch {
    return 'is not a simple-signing payload';
  }
  if (claims.manifestDigest !== image.digest || claims.dockerReference !== formatRepository(image)) {
    return `names ${claims.dockerReference}@${claims.manifestDigest}`;
  }
  return undefined;
}

/** Why the PAE a record stored is not that of this image's statement (DSSE signs PAE(type, statement)), if it is not. */
function storedStatementProblem(signedBytes: string, statement: Buffer): string | undefined {
  const pae = dsse.preAuthEncoding(IN_TOTO_PAYLOAD_TYPE, statement);
  return Buffer.from(signedBytes, 'base64').equals(pae)
    ? undefined
    : "is not the PAE of this image's in-toto statement";
}

/** The in-toto statement cosign 3 signs for an image (predicate cosign/sign/v1, subject the digest). */
export function inTotoStatement(image: DigestReference): Buffer {
  // A statement whose subject has no digest signs nothing in particular: refused, never built.
  const digest = assertDigest(image.digest, { image: formatImageReference(image) });
  const [algorithm, hex] = digest.split(':') as [string, string];
  return Buffer.from(
    JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: `${image.host}/${image.repository}`, digest: { [algorithm]: hex } }],
      predicateType: COSIGN_SIGN_PREDICATE,
      predicate: {},
    }),
  );
}

function messageSignature(bundle: ReturnType<typeof bundleToJSON>): string {
  const content = bundle as { messageSignature?: { signature?: string } };
  const signature = content.messageSignature?.signature;
  if (!signature) throw new Error('bundle has no message signature');
  return signature;
}

/** cosign's `dev.sigstore.cosign/bundle` annotation from a v1 log entry in a Sigstore bundle. */
export function toCosignRekorBundle(bundle: ReturnType<typeof bundleToJSON>): RekorBundle {
  const entry = bundle.verificationMaterial?.tlogEntries?.[0];
  const set = entry?.inclusionPromise?.signedEntryTimestamp;
  if (!entry || !set) throw new Error('the log entry has no signed entry timestamp');
  return {
    SignedEntryTimestamp: set,
    Payload: {
      body: entry.canonicalizedBody,
      // bundleToJSON leaves zero values out (proto3 JSON): the first entry of a log has no logIndex.
      integratedTime: Number(entry.integratedTime ?? 0),
      logIndex: Number(entry.logIndex ?? 0),
      logID: Buffer.from(entry.logId?.keyId ?? '', 'base64').toString('hex'),
    },
  };
}

function logFields(bundle: Bundle): Record<string, unknown> {
  const entry = bundle.verificationMaterial.tlogEntries[0];
  return entry ? { logIndex: entry.logIndex, kind: entry.kindVersion?.kind } : { log: 'none' };
}
