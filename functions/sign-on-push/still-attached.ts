/**
 * Whether what a signing record says is attached is still in the registry: a `.sig` tag or a
 * referrers fallback index can disappear (a cleanup policy, an operator, a concurrent writer's lost
 * update), and so can the blob of our layer while the manifest naming it stays (a blob deleted by
 * hand or by a tool); the record, attached for good, would never say so. Read-only, and cheap
 * enough for every push of an image already signed: one manifest GET for the `.sig` manifest; for
 * the bundle, the referrers listing (the referrers API, or on a registry without it the API's 404
 * and the fallback index) and the listed referrer manifests until ours, the one whose `created`
 * annotation is the record's time read first (usually the only one read); and beside each, at the
 * same time, one HEAD of the blob holding our payload or bundle.
 *
 * A check is not the attach's own: what it cannot read as ours (gone, replaced, unreadable) is
 * not `present`, and the attach (functions/attach/*), run under the subject lock, looks again and
 * decides, uploading the blob if it is missing, writing only what is missing and refusing what it
 * must. Only a retryable error (the registry down) is thrown.
 */
import { type SignatureLayerOf, signatureLayerAttached } from '../attach/cosign-layout.ts';
import {
  ANNOTATION_CREATED,
  findReferrerWithLayer,
  listBundleReferrers,
  rfc3339Seconds,
  SIGSTORE_BUNDLE_V03,
} from '../attach/referrer.ts';
import { isRetryable } from '../errors.ts';
import type { Descriptor } from '../registry/manifest.ts';
import type { DigestReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';

/** Listed bundle referrers read at most when looking for ours (the attach looks through more). */
export const MAX_REFERRERS_READ = 16;

/**
 * What a check found: `present`, the manifest listing ours and the blob it names for it; `missing`,
 * no manifest (that can be read as one) listing ours; `blob-missing`, ours listed but the blob of
 * its payload or bundle gone, so no reader can fetch the signature.
 */
export type AttachedState = 'present' | 'missing' | 'blob-missing';

/** What identifies our bundle referrer: the bundle's bytes as attached, by digest (its layer's). */
export interface BundleReferrerOf {
  readonly bundleDigest: string;
  /** When the referrer was created, as its `org.opencontainers.image.created` says: read first. */
  readonly created: Date;
}

/** The answer a check gives up on, or throws when a retry may change it. */
function notOurs(err: unknown): false {
  if (isRetryable(err)) throw err;
  return false;
}

function stateOf(listed: boolean, blob: boolean): AttachedState {
  if (!listed) return 'missing';
  return blob ? 'present' : 'blob-missing';
}

/**
 * Whether the `.sig` manifest of `image` (one GET) holds a layer with our payload and signature,
 * and whether the payload's blob is there (one HEAD, at the same time).
 */
export async function cosignSignaturePresent(
  registry: Registry,
  image: DigestReference,
  ours: SignatureLayerOf,
): Promise<AttachedState> {
  const [listed, blob] = await Promise.all([
    signatureLayerAttached(registry, image, ours).catch(notOurs),
    registry.hasBlob(image, ours.payloadDigest).catch(notOurs),
  ]);
  return stateOf(listed, blob);
}

/**
 * Whether a referrer of `image` whose manifest names it as subject and holds our bundle is listed
 * (by the referrers API, or the fallback index), and whether the bundle's blob is there (one HEAD,
 * at the same time). A referrer the fallback index still lists after its manifest was deleted is
 * not there.
 */
export async function bundleReferrerPresent(
  registry: Registry,
  image: DigestReference,
  ours: BundleReferrerOf,
): Promise<AttachedState> {
  const [listed, blob] = await Promise.all([
    ourReferrerListed(registry, image, ours).catch(notOurs),
    registry.hasBlob(image, ours.bundleDigest).catch(notOurs),
  ]);
  return stateOf(listed, blob);
}

/** The listing, then the listed manifests, ours first, until one holds our bundle. */
async function ourReferrerListed(
  registry: Registry,
  image: DigestReference,
  ours: BundleReferrerOf,
): Promise<boolean> {
  const listed = (await listBundleReferrers(registry, image, SIGSTORE_BUNDLE_V03)).descriptors;
  const created = rfc3339Seconds(ours.created);
  const likelyOurs = (d: Descriptor) => d.annotations?.[ANNOTATION_CREATED] === created;
  const candidates = [...listed.filter(likelyOurs), ...listed.filter((d) => !likelyOurs(d))];
  // Any listed referrer that cannot be read for good is not ours; the next one may be.
  const found = await findReferrerWithLayer(
    registry,
    image,
    candidates.slice(0, MAX_REFERRERS_READ),
    ours.bundleDigest,
    (err) => !isRetryable(err),
  );
  return found !== undefined;
}
