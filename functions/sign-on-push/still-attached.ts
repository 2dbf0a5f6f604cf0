/**
 * Whether what a signing record says is attached is still in the registry: a `.sig` tag or a
 * referrers fallback index can disappear (a cleanup policy, an operator, a concurrent writer's lost
 * update), and the record, attached for good, would never say so. Read-only, and cheap enough for
 * every push of an image already signed: one manifest GET for the `.sig` manifest; for the bundle,
 * the referrers listing (the referrers API, or on a registry without it the API's 404 and the
 * fallback index) and the listed referrer manifests until ours, the one whose `created` annotation
 * is the record's time read first (usually the only one read).
 *
 * A check is not the attach's own: what it cannot read as ours (gone, replaced, unreadable) is
 * `false`, and the attach (functions/attach/*), run under the subject lock, looks again and decides,
 * writing only what is missing and refusing what it must. Only a retryable error (the registry
 * down) is thrown.
 */
import { SIGNATURE_ANNOTATION, signatureTag } from '../attach/cosign-layout.ts';
import { ANNOTATION_CREATED, listBundleReferrers, SIGSTORE_BUNDLE_V03 } from '../attach/referrer.ts';
import { isRetryable } from '../errors.ts';
import { type Descriptor, imageManifestSchema, parseManifestBytes } from '../registry/manifest.ts';
import { DOCKER_MANIFEST, OCI_MANIFEST } from '../registry/media-types.ts';
import { type DigestReference, formatImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';

/** Listed bundle referrers read at most when looking for ours (the attach looks through more). */
export const MAX_REFERRERS_READ = 16;

/** What identifies our signature in the `.sig` manifest: its payload layer and its signature annotation. */
export interface CosignLayerOf {
  /** sha256 of the simple-signing payload (the layer's digest). */
  readonly payloadDigest: string;
  /** The base64 signature (the layer's `dev.cosignproject.cosign/signature`). */
  readonly signature: string;
}

/** What identifies our bundle referrer: the bundle's bytes as attached, by digest (its layer's). */
export interface BundleReferrerOf {
  readonly bundleDigest: string;
  /** The referrer's `org.opencontainers.image.created`, as the attach wrote it: read first. */
  readonly created: string;
}

/** The answer a check gives up on, or throws when a retry may change it. */
function notOurs(err: unknown): false {
  if (isRetryable(err)) throw err;
  return false;
}

/** Whether the `.sig` manifest of `image` (one GET) holds a layer with our payload and signature. */
export async function cosignSignaturePresent(
  registry: Registry,
  image: DigestReference,
  ours: CosignLayerOf,
): Promise<boolean> {
  const tag = signatureTag(image.digest);
  try {
    const fetched = await registry.getManifest(image, tag);
    const mediaType = fetched.descriptor.mediaType;
    if (mediaType !== OCI_MANIFEST && mediaType !== DOCKER_MANIFEST) return false;
    const manifest = parseManifestBytes(imageManifestSchema, fetched.bytes, {
      reference: `${image.host}/${image.repository}:${tag}`,
      digest: image.digest,
    });
    // As the attach recognises its own layer (cosign-layout.ts, attachCosignSignature).
    return manifest.layers.some(
      (layer) =>
        layer.digest === ours.payloadDigest && layer.annotations?.[SIGNATURE_ANNOTATION] === ours.signature,
    );
  } catch (err) {
    return notOurs(err);
  }
}

/**
 * Whether a referrer of `image` whose manifest names it as subject and holds our bundle is listed
 * (by the referrers API, or the fallback index): the listing, then the listed manifests, ours first.
 * A referrer the fallback index still lists after its manifest was deleted is not there.
 */
export async function bundleReferrerPresent(
  registry: Registry,
  image: DigestReference,
  ours: BundleReferrerOf,
): Promise<boolean> {
  let listed: Descriptor[];
  try {
    listed = (await listBundleReferrers(registry, image, SIGSTORE_BUNDLE_V03)).descriptors;
  } catch (err) {
    return notOurs(err);
  }
  const likelyOurs = (d: Descriptor) => d.annotations?.[ANNOTATION_CREATED] === ours.created;
  const candidates = [...listed.filter(likelyOurs), ...listed.filter((d) => !likelyOurs(d))];
  for (const candidate of candidates.slice(0, MAX_REFERRERS_READ)) {
    try {
      const fetched = await registry.getManifest(image, candidate.digest);
      const manifest = parseManifestBytes(imageManifestSchema, fetched.bytes, {
        reference: formatImageReference(image),
        referrer: candidate.digest,
      });
      if (manifest.subject?.digest === image.digest && manifest.layers[0]?.digest === ours.bundleDigest) {
        return true;
      }
    } catch (err) {
      notOurs(err); // gone or unreadable: not ours; the next one may be
    }
  }
  return false;
}
