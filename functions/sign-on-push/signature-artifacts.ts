/**
 * What sigsentry (or cosign) pushes next to an image: the `.sig` manifest, cosign's `.att`
 * (attestations) and `.sbom` manifests, the referrers fallback index, and referrers made of
 * signatures. Signing never triggers itself: these are acknowledged and skipped.
 *
 * They are known by their manifests alone. Their tags (`sha256-<hex>`, `sha256-<hex>.sig|.att|.sbom`)
 * are no evidence: anyone who can push may push a runnable image under such a tag, and a pipeline
 * naming tags after digests does. So a tag of that shape only tells reverify which tags to read
 * whole before it verifies them (reverify/core.ts).
 */
import { parseGoJson } from '../registry/go-json.ts';
import { OCI_INDEX } from '../registry/media-types.ts';
import { goManifestView, type ManifestView } from './manifest-view.ts';

const ARTIFACT_TAG = /^sha256-[a-f0-9]{64}(?:\.(?:sig|att|sbom))?$/;

/**
 * The layer media types of the manifests recognised, by what they hold. None is a filesystem layer:
 * a manifest made only of such layers has nothing a runtime would unpack and run.
 */
const ATTACHMENT_LAYERS = {
  // cosign's `.sig` (simple signing, cosign pkg/types SimpleSigningMediaType) and a Sigstore bundle.
  'signature artifact manifest': [
    'application/vnd.dev.cosign.simplesigning.v1+json',
    'application/vnd.dev.sigstore.bundle.v0.3+json',
  ],
  // cosign's `.att`: one DSSE envelope per layer (cosign specs/ATTESTATION_SPEC.md, and the layer
  // media type `cosign attest` and `cosign attach attestation` write, types.DssePayloadType).
  'attestation manifest': ['application/vnd.dsse.envelope.v1+json'],
  // cosign's `.sbom` (`cosign attach sbom`, specs/SBOM_SPEC.md "MediaTypes"): SPDX, CycloneDX and
  // syft, with the format suffixes the spec lists and cosign 2 writes (pkg/types/media.go,
  // options/attach.go MediaType); `spdx+json` is what cosign 1 wrote for SPDX JSON (cosign #2479).
  'SBOM manifest': [
    'text/spdx',
    'text/spdx+json',
    'text/spdx+xml',
    'spdx+json',
    'application/vnd.cyclonedx',
    'application/vnd.cyclonedx+json',
    'application/vnd.cyclonedx+xml',
    'application/vnd.syft+json',
  ],
} as const;

type AttachmentKind = keyof typeof ATTACHMENT_LAYERS;

const KIND_OF_LAYER = new Map<string, AttachmentKind>(
  (Object.entries(ATTACHMENT_LAYERS) as Array<[AttachmentKind, readonly string[]]>).flatMap(([kind, types]) =>
    types.map((type) => [type, kind] as const),
  ),
);

/** Why a manifest is skipped, as the skip reason signOnPush logs. */
export type SignatureArtifactKind = AttachmentKind | 'referrers fallback index';

/**
 * Whether a tag has the shape of an artifact's tag. Never a reason to skip on its own: only the
 * manifest under it says whether it is one (signatureArtifactKind).
 */
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
  return artifactKindOfView(goManifestView(manifest));
}

function artifactKindOfView(view: ManifestView): SignatureArtifactKind | undefined {
  const attachment = attachmentKind(view);
  if (attachment) return attachment;
  if (isReferrersIndex(view)) return 'referrers fallback index';
  return undefined;
}

export function isSignatureArtifactManifest(manifest: unknown): boolean {
  return signatureArtifactKind(manifest) !== undefined;
}

/** Manifest bytes as the registry reads them, or undefined for bytes that are not a manifest. */
function viewOf(bytes: Uint8Array): ManifestView | undefined {
  try {
    return goManifestView(parseGoJson(Buffer.from(bytes).toString('utf8')));
  } catch {
    return undefined;
  }
}

/**
 * signatureArtifactKind of manifest bytes as the registry served them, with, for a referrers
 * fallback index, the digests it lists (as the registry reads them): a runtime pulling the index's
 * tag takes an entry with no platform as matching any, whatever its artifactType, so what they name
 * decides whether the tag is only a list of referrers (listedManifestCouldRun). Bytes that cannot
 * be read as a manifest (not JSON, a key twice, a field spelled two ways) are no evidence either:
 * undefined.
 */
export function manifestArtifactKind(
  bytes: Uint8Array,
): { kind: SignatureArtifactKind; listed?: unknown[] } | undefined {
  const view = viewOf(bytes);
  const kind = view === undefined ? undefined : artifactKindOfView(view);
  if (kind === undefined) return undefined;
  if (kind !== 'referrers fallback index') return { kind };
  return { kind, listed: (view!.manifests as Array<{ digest?: unknown }>).map((d) => d.digest) };
}

/**
 * A manifest made entirely of layers of one kind of attachment (signatures, attestations or SBOMs,
 * as cosign writes each in a manifest of its own): nothing in it can run. One filesystem layer, a
 * layer of no or another media type, no layers, or kinds mixed as cosign never writes them, and it
 * is not recognised. The config is not read: it would cost a blob GET a push, and it adds nothing
 * (cosign's is an empty image's, no os nor architecture): with no filesystem layer there is nothing
 * to run, whatever a config says.
 */
function attachmentKind(manifest: object): AttachmentKind | undefined {
  const layers = (manifest as { layers?: unknown }).layers;
  if (!Array.isArray(layers) || layers.length === 0) return undefined;
  const kinds = new Set(layers.map(layerKind));
  if (kinds.size !== 1) return undefined;
  const [kind] = kinds;
  return kind;
}

function layerKind(layer: unknown): AttachmentKind | undefined {
  if (typeof layer !== 'object' || layer === null) return undefined;
  const { mediaType } = layer as { mediaType?: unknown };
  return typeof mediaType === 'string' ? KIND_OF_LAYER.get(mediaType) : undefined;
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

/**
 * Whether a manifest a referrers fallback index lists could be run: `yes` for an index (a runtime
 * descends into it) or bytes that do not read as a manifest; `no` for one with no layers, or only
 * layers of the kinds referrers carry (signatures, attestations, SBOMs, bundles); else `config`:
 * a runtime unpacks layers of many media types (containerd detects the compression of one labelled
 * plain tar, takes `+suffix` variants), so whether it runs depends on its config, which the caller
 * reads (imageConfigCouldRun). An ORAS attachment (a file layer, the empty config) cannot.
 */
export function listedManifestCouldRun(
  bytes: Uint8Array,
): { run: 'yes' | 'no' } | { run: 'config'; digest: string } {
  const view = viewOf(bytes);
  if (view === undefined || view.manifests !== undefined) return { run: 'yes' };
  if (view.layers === undefined || (Array.isArray(view.layers) && view.layers.length === 0))
    return { run: 'no' };
  if (!Array.isArray(view.layers)) return { run: 'yes' };
  if (view.layers.every((layer) => layerKind(layer) !== undefined)) return { run: 'no' };
  const digest = (view.config as { digest?: unknown } | undefined)?.digest;
  return typeof digest === 'string' ? { run: 'config', digest } : { run: 'yes' };
}

/**
 * Whether a listed manifest's config blob makes it an image a runtime can run: one that reads as
 * JSON with a `rootfs` listing layer diff IDs (image-spec config.md), which containerd and Docker
 * unpack the layers against. An empty or artifact config (`{}`) cannot; bytes that are not JSON
 * are taken as runnable, so that nothing is passed over on a guess.
 */
export function imageConfigCouldRun(bytes: Uint8Array): boolean {
  let config: unknown;
  try {
    config = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    return true;
  }
  if (typeof config !== 'object' || config === null) return true;
  const rootfs = (config as { rootfs?: unknown }).rootfs;
  if (rootfs === undefined) return false;
  const diffIds = (rootfs as { diff_ids?: unknown } | null)?.diff_ids;
  return !Array.isArray(diffIds) || diffIds.length > 0;
}
