/**
 * What sigsentry (or cosign) pushes next to an image: `.sig`/`.att`/`.sbom` tags, the referrers
 * fallback index tag `sha256-<hex>`, and manifests whose layers are all signatures (simple-signing
 * payloads or Sigstore bundles). Signing never triggers itself: these are acknowledged and skipped.
 */
const ARTIFACT_TAG = /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/;
const SIGNATURE_MEDIA_TYPES = new Set([
  'application/vnd.dev.cosign.simplesigning.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
]);

export function isSignatureArtifactTag(tag: string | undefined): boolean {
  return tag !== undefined && ARTIFACT_TAG.test(tag);
}

/**
 * Only a manifest made entirely of signature layers is skipped: a `subject` field or a single
 * signature layer is not enough, or anyone could push an unsigned runnable image that signOnPush
 * would wave through as "one of ours".
 */
export function isSignatureArtifactManifest(manifest: unknown): boolean {
  if (typeof manifest !== 'object' || manifest === null) return false;
  const layers = (manifest as { layers?: unknown }).layers;
  if (!Array.isArray(layers) || layers.length === 0) return false;
  return layers.every(
    (l) =>
      typeof l === 'object' &&
      l !== null &&
      typeof (l as { mediaType?: unknown }).mediaType === 'string' &&
      SIGNATURE_MEDIA_TYPES.has((l as { mediaType: string }).mediaType),
  );
}
