/**
 * What sigsentry (or cosign) pushes next to an image: `.sig`/`.att`/`.sbom` tags, the referrers
 * fallback index tag `sha256-<hex>`, manifests whose layers are all signatures (simple-signing
 * payloads or Sigstore bundles), and the referrers fallback index itself, which a digest-only
 * message names without its tag. Signing never triggers itself: these are acknowledged and skipped.
 */
import { OCI_INDEX } from '../registry/media-types.ts';
import { goManifestView } from './manifest-view.ts';

const ARTIFACT_TAG = /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/;
const SIGNATURE_MEDIA_TYPES = new Set([
  'application/vnd.dev.cosign.simplesigning.v1+json',
  'application/vnd.dev.sigstore.bundle.v0.3+json',
]);

/** Why a manifest is skipped, as the skip reason signOnPush logs. */
export type SignatureArtifactKind = 'signature artifact manifest' | 'referrers fallback index';

export function isSignatureArtifactTag(tag: string | undefined): boolean {
  return tag !== undefined && ARTIFACT_TAG.test(tag);
}

/**
 * Only positive evidence makes a manifest "one of ours": a `subject` field, an `artifactType` or a
 * single signature layer is not enough, or anyone could push an unsigned runnable image that
 * signOnPush would wave through as "one of ours". Anything not recognised is signed.
 *
 * The manifest is judged as the registry and runtimes read it (manifest-view.ts), `"Layers"` as
 * `"layers"`. A field spelled more than one way (`"layers"` of signatures beside the real
 * `"Layers"`) throws AmbiguousFieldError rather than being judged either way.
 */
export function signatureArtifactKind(manifest: unknown): SignatureArtifactKind | undefined {
  if (typeof manifest !== 'object' || manifest === null) return undefined;
  const view = goManifestView(manifest);
  if (isSignatureManifest(view)) return 'signature artifact manifest';
  if (isReferrersIndex(view)) return 'referrers fallback index';
  return undefined;
}

export function isSignatureArtifactManifest(manifest: unknown): boolean {
  return signatureArtifactKind(manifest) !== undefined;
}

/** A manifest made entirely of signature layers: nothing in it can run. */
function isSignatureManifest(manifest: object): boolean {
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

/**
 * The referrers tag-schema fallback index (distribution-spec v1.1): an OCI image index whose
 * descriptors all name referrers (an `artifactType`, no `platform`). A runnable multi-arch index
 * has platforms, and so do the attestation manifests buildx puts in one (`unknown/unknown`), so
 * neither matches. With no `config` or `layers` it cannot be run as an image manifest either.
 *
 * An index with no descriptors is not recognised, so it is signed: it carries no evidence of
 * being a referrers index, sigsentry never writes one, and signing it ends there (the fallback
 * index written for it lists one referrer, which this recognises).
 */
function isReferrersIndex(manifest: object): boolean {
  const { mediaType, manifests, config, layers } = manifest as Record<string, unknown>;
  if (mediaType !== OCI_INDEX || config !== undefined || layers !== undefined) return false;
  if (!Array.isArray(manifests) || manifests.length === 0) return false;
  return manifests.every(isReferrerDescriptor);
}

function isReferrerDescriptor(descriptor: unknown): boolean {
  if (typeof descriptor !== 'object' || descriptor === null) return false;
  const { artifactType, platform } = descriptor as { artifactType?: unknown; platform?: unknown };
  return typeof artifactType === 'string' && artifactType !== '' && platform === undefined;
}
