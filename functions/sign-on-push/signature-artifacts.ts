/**
 * What sigsentry (or cosign) pushes next to an image: `.sig`/`.att`/`.sbom` tags, the referrers
 * fallback index tag `sha256-<hex>`, and manifests that carry a `subject` or a sigstore artifact
 * type. Signing never triggers itself: these are acknowledged and skipped.
 */
const ARTIFACT_TAG = /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/;
const SIGNATURE_MEDIA_TYPES = new Set([
  'application/vnd.dev.cosign.simplesigning.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
]);

export function isSignatureArtifactTag(tag: string | undefined): boolean {
  return tag !== undefined && ARTIFACT_TAG.test(tag);
}

export function isSignatureArtifactManifest(manifest: unknown): boolean {
  if (typeof manifest !== 'object' || manifest === null) return false;
  const m = manifest as {
    subject?: unknown;
    artifactType?: unknown;
    layers?: Array<{ mediaType?: unknown }>;
  };
  if (m.subject !== undefined) return true;
  if (typeof m.artifactType === 'string' && SIGNATURE_MEDIA_TYPES.has(m.artifactType)) return true;
  return (m.layers ?? []).some(
    (l) => typeof l.mediaType === 'string' && SIGNATURE_MEDIA_TYPES.has(l.mediaType),
  );
}
