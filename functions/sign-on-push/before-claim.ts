/**
 * A push whose deliveries keep failing before a signing record is claimed (the registry or Firestore
 * down, KMS denying the key's public key): no record counts the attempts, so its bound and its
 * `signing-failed` alert never come into play, and Pub/Sub dead-letters the message after
 * max_delivery_attempts with only the dead-letter policy's incident, which names no image. When
 * Pub/Sub says which delivery this is (`deliveryAttempt`, on a subscription with a dead-letter
 * policy), a delivery failing so at or past the rule's `maxAttempts` (below max_delivery_attempts,
 * as infra requires) raises a `signing-failed` alert naming the image and the error, under a key of
 * its own, so that each later delivery is a repeat of it, not a new page. The delivery still fails,
 * and is redelivered and dead-lettered, as before. A later delivery that is handled (the outage
 * over) resolves the incident. A platform manifest an index's rule signs is such an image too, under
 * its own digest: its claim failing is alerted naming it and the index, whatever was claimed before
 * it in the delivery, and a later delivery that signs it resolves that incident. So one outage whose
 * failure moves between deliveries (one platform's claim, then another's, then the index's) opens an
 * incident for each image it stopped at: each of them was, for a while, an image not signed.
 *
 * Eventarc's event for a gen2 function may not carry `deliveryAttempt` (its MessagePublishedData
 * names only `message` and `subscription`), so for KMS denying the key the message's age counts
 * too: such a delivery BEFORE_CLAIM_ALERT_AFTER_MS or more after the message was published raises
 * the same alert (found by review: KMS denying the key's public key for good was otherwise never
 * alerted by sigsentry). Only for a denial: one registry or Firestore 503 on a message that is late
 * (a backlog after an outage, a replay) says nothing of how long it has failed, and would page
 * "not signed" for an image perhaps signed long ago (found by review); a denial is a setting.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { AlertInput } from '../alerts/alert.ts';
import { SigsentryError } from '../errors.ts';
import { errorMessage } from '../logging/describe.ts';
import { KmsPermissionDeniedError } from '../signing/errors.ts';

/**
 * One delivery, watched for the claims of its signing records. A push of an index whose rule signs
 * its platform manifests is several signings, each with a record of its own (platforms before the
 * index): `claimed` is the pushed image's own claim, and each platform's signing is watched apart
 * (watchingPlatformClaim), so that a record claimed earlier in the delivery hides no failure before a
 * later one's claim (found by review: a platform, or the index, failing so after another was claimed
 * was never alerted).
 */
export interface ClaimWatch {
  /** The pushed image's signing record answered a claim (claimed, done, busy...). */
  claimed: boolean;
  /** The last platform manifest whose signing threw, with whether its own claim had answered. */
  platformFailed?: { image: string; error: unknown; claimed: boolean };
  /** The platform manifests whose signing returned, and whether each was signed now (not before). */
  platformsSigned: Array<{ image: string; signedNow: boolean }>;
}

/** The delivery, and the signing whose claim is being watched in it (the pushed image's, or a platform's). */
interface Watching {
  delivery: ClaimWatch;
  signing: { claimed: boolean };
}

const watches = new AsyncLocalStorage<Watching>();

/** Runs one delivery's signing under `watch`. */
export function watchingClaims<T>(watch: ClaimWatch, run: () => Promise<T>): Promise<T> {
  return watches.run({ delivery: watch, signing: watch }, run);
}

/** A claim answered: the signing being watched (if any) reached its signing record. */
export function claimAnswered(): void {
  const watching = watches.getStore();
  if (watching) watching.signing.claimed = true;
}

/**
 * Runs the signing of platform manifest `image` (HOST/REPO@digest) under a watch of its own; what
 * became of it is kept on the delivery's watch, for the alert (failedBeforeClaim) and its resolution.
 */
export async function watchingPlatformClaim<T extends { outcome: string }>(
  image: string,
  run: () => Promise<T>,
): Promise<T> {
  const watching = watches.getStore();
  if (watching === undefined) return run();
  const { delivery } = watching;
  const signing = { claimed: false };
  try {
    const result = await watches.run({ delivery, signing }, run);
    delivery.platformsSigned.push({ image, signedNow: result.outcome === 'signed' });
    return result;
  } catch (error) {
    delivery.platformFailed = { image, error, claimed: signing.claimed };
    throw error;
  }
}

/**
 * The image whose signing record a delivery failing with `err` failed before claiming: the platform
 * manifest whose signing threw that very error before its claim answered; else `pushed` (the image
 * the message names) if its own claim had not answered. Undefined when it failed after the claim of
 * the image it concerns: that record counts the attempt, and alerts when they run out.
 */
export function failedBeforeClaim(
  watch: ClaimWatch,
  err: unknown,
  pushed: string,
): { image: string; platformOf?: string } | undefined {
  const platform = watch.platformFailed;
  if (platform !== undefined && platform.error === err) {
    return platform.claimed ? undefined : { image: platform.image, platformOf: pushed };
  }
  return watch.claimed ? undefined : { image: pushed };
}

/**
 * How long after its message was published a push may fail before its record is claimed without an
 * alert: past IAM's propagation of a new grant ("typically 2 minutes, potentially 7 minutes or
 * longer") and a registry's or Firestore's short outage, well before Pub/Sub's dead letter.
 */
export const BEFORE_CLAIM_ALERT_AFTER_MS = 30 * 60_000;

/**
 * Whether a delivery is far enough along for a failure before the claim to be alerted (or, handled,
 * to resolve that alert): Pub/Sub's count at `maxAttempts`, or the message that old.
 */
export function pastBeforeClaimBound(delivery: Delivery): boolean {
  return countedPast(delivery) || agedPast(delivery);
}

/** A delivery as the bounds read it: Pub/Sub's count if it says, and when the message was published. */
interface Delivery {
  deliveryAttempt: number | undefined;
  maxAttempts: number;
  publishedAt: number | undefined;
  now: number;
}

/** Pub/Sub's count of deliveries at `maxAttempts`. */
function countedPast({ deliveryAttempt, maxAttempts }: Delivery): boolean {
  return deliveryAttempt !== undefined && deliveryAttempt >= maxAttempts;
}

/** The message BEFORE_CLAIM_ALERT_AFTER_MS old. */
function agedPast({ publishedAt, now }: Delivery): boolean {
  return publishedAt !== undefined && now - publishedAt >= BEFORE_CLAIM_ALERT_AFTER_MS;
}

/** The key of the incident: one per image reference the messages name, or platform manifest signed. */
export function beforeClaimKey(image: string): string {
  return `signing-failed:${image}:before-claim`;
}

/**
 * The alert for a delivery of `image` that failed with `err` (retryable) before a signing record was
 * claimed, if it is the delivery `maxAttempts` names or a later one; undefined without a count.
 * `platformOf`: the pushed index that listed `image`, when `image` is one of its platform manifests.
 */
export function beforeClaimAlert(
  err: unknown,
  { image, platformOf }: { image: string; platformOf?: string },
  delivery: Delivery & { messageId: string | undefined },
): AlertInput | undefined {
  if (!countedPast(delivery) && !(err instanceof KmsPermissionDeniedError && agedPast(delivery)))
    return undefined;
  const { deliveryAttempt, maxAttempts, publishedAt, now } = delivery;
  const message = errorMessage(err);
  const push = platformOf === undefined ? 'its push' : `the push of ${platformOf} (an index listing it)`;
  const which =
    deliveryAttempt !== undefined
      ? `delivery ${deliveryAttempt} of ${push}`
      : `${push}, published ${Math.round((now - (publishedAt ?? now)) / 60_000)} minutes ago,`;
  return {
    kind: 'signing-failed',
    severity: 'HIGH',
    subject: image,
    key: beforeClaimKey(image),
    summary: `${image} is not signed: ${which} failed before its signing record could be claimed, so no attempt is counted there and no alert would come from it; Pub/Sub dead-letters the message once its deliveries run out: ${message}`,
    evidence: {
      image,
      ...(platformOf !== undefined ? { index: platformOf } : {}),
      messageId: delivery.messageId,
      deliveryAttempt,
      maxAttempts,
      ...(publishedAt !== undefined ? { publishedAt: new Date(publishedAt).toISOString() } : {}),
      // As a signing record keeps its last error.
      lastError: err instanceof SigsentryError ? err.toJSON() : { message },
    },
  };
}
