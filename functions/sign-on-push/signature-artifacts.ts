/**
 * What sigsentry (or cosign) pushes next to an image: the `.sig` manifest, cosign's `.att`
 * (attestations) and `.sbom` manifests, the referrers fallback index, and referrers made of
 * signatures; and what other tools push next to one: buildx's in-toto attestation manifests
 * (provenance, SBOM) and Notation signatures. Signing never triggers itself, nor signs another
 * tool's signature or attestation: these are acknowledged and skipped. Any other artifact (a Helm
 * chart, a WASM module, an ORAS file) is signed like an image.
 *
 * They are known by their manifests alone, and only when nothing in them could run. Their tags
 * (`sha256-<hex>`, `sha256-<hex>.sig|.att|.sbom`) are no evidence: anyone who can push may push a
 * runnable image under such a tag, and a pipeline naming tags after digests does. So a tag of that
 * shape only tells reverify which tags to read whole before it verifies them (reverify/core.ts). Nor
 * is an index's annotation (`vnd.docker.reference.type: attestation-manifest`): anyone can put it on
 * a runnable image's entry, so the manifest it names is judged like any other.
 */
import { isRetryable, PolicyViolationError } from '../errors.ts';
import { errorMessage } from '../logging/describe.ts';
import type { Logger } from '../logging/logger.ts';
import { RegistryNotFoundError } from '../registry/errors.ts';
import { asGoStruct, parseGoJson } from '../registry/go-json.ts';
import { OCI_INDEX } from '../registry/media-types.ts';
import type { RepositoryRef } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { goManifestView, indexChildDigests, type ManifestView } from './manifest-view.ts';

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
  // media type `cosign attest` and `cosign attach attestation` write, types.DssePayloadType). And
  // buildx's attestation manifests (`docker buildx build` adds provenance by default, SBOMs when
  // asked): one in-toto statement per layer, annotated `in-toto.io/predicate-type`, listed in the
  // image's index as `unknown/unknown`. Their config lists the layers' diff IDs as an image's does,
  // but no runtime unpacks an in-toto layer (containerd's images.IsLayerType takes only
  // `application/vnd.oci.image.layer.*` and Docker's `rootfs.diff.tar*`), so nothing in them runs.
  // DSSE and in-toto layers are one kind: a manifest of both is an attestation manifest too.
  'attestation manifest': ['application/vnd.dsse.envelope.v1+json', 'application/vnd.in-toto+json'],
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

/**
 * A Notation signature (notaryproject specs, signature-specification.md): an OCI image manifest with
 * `artifactType` (OCI 1.1) or, written for registries before it, config media type
 * `application/vnd.cncf.notary.signature`, and one signature envelope layer, JWS or COSE.
 */
const NOTATION_SIGNATURE = 'application/vnd.cncf.notary.signature';
const NOTATION_ENVELOPES: ReadonlySet<string> = new Set(['application/jose+json', 'application/cose']);

/** Why a manifest is skipped, as the skip reason signOnPush logs. */
export type SignatureArtifactKind = AttachmentKind | 'Notation signature' | 'referrers fallback index';

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
  if (isNotationSignature(view)) return 'Notation signature';
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
  const mediaType = mediaTypeOf(layer);
  return mediaType === undefined ? undefined : KIND_OF_LAYER.get(mediaType);
}

/** A descriptor's media type, as Go reads it (layers' descriptors are already so read). */
function mediaTypeOf(descriptor: unknown): string | undefined {
  if (typeof descriptor !== 'object' || descriptor === null) return undefined;
  const { mediaType } = descriptor as { mediaType?: unknown };
  return typeof mediaType === 'string' ? mediaType : undefined;
}

/**
 * A Notation signature: marked as one (its artifactType or its config's media type), and made only
 * of signature envelope layers, so nothing in it can run. The mark alone is not enough (a runnable
 * image can carry any artifactType), nor are the layers alone (another tool's JWS artifact is not
 * Notation's, and is signed like any artifact). The config is read from the manifest, as Go reads
 * the descriptor; its blob is not fetched.
 */
function isNotationSignature(manifest: ManifestView): boolean {
  const { layers, artifactType, config } = manifest;
  if (!Array.isArray(layers) || layers.length === 0) return false;
  if (!layers.every((layer) => NOTATION_ENVELOPES.has(mediaTypeOf(layer) ?? ''))) return false;
  return (
    artifactType === NOTATION_SIGNATURE ||
    mediaTypeOf(asGoStruct(config, ['mediaType'])) === NOTATION_SIGNATURE
  );
}

/**
 * The shape of the referrers tag-schema fallback index (distribution-spec v1.1): an OCI image index
 * whose descriptors all name referrers (an `artifactType`, no `platform`). A runnable multi-arch
 * index has platforms, and so do the attestation manifests buildx puts in one (`unknown/unknown`),
 * so neither has it. With no `config` or `layers` it cannot be run as an image manifest either.
 *
 * The shape is not enough to skip it: a runtime pulling it takes an entry with no platform as
 * matching any, whatever its artifactType, so it is a referrers index only if nothing it lists
 * could run. signOnPush (pushedArtifactKind, and planPlatformManifests for one inside an index)
 * and reverify (reverify/core.ts) read what it lists to decide (firstRunnableListed).
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
 * descends into it) or bytes that do not read as a manifest; `no` for one with no layers, only
 * layers of the kinds referrers carry (signatures, attestations, SBOMs, bundles), or a Notation
 * signature; else `config`: a runtime unpacks layers of many media types (containerd detects the
 * compression of one labelled plain tar, takes `+suffix` variants), so whether it runs depends on
 * its config, which the caller reads (imageConfigCouldRun). An ORAS attachment (a file layer, the
 * empty config) cannot.
 */
export function listedManifestCouldRun(
  bytes: Uint8Array,
): { run: 'yes' | 'no' } | { run: 'config'; digest: string } {
  return viewCouldRun(viewOf(bytes));
}

function viewCouldRun(
  view: ManifestView | undefined,
): { run: 'yes' | 'no' } | { run: 'config'; digest: string } {
  if (view === undefined || view.manifests !== undefined) return { run: 'yes' };
  if (view.layers === undefined || (Array.isArray(view.layers) && view.layers.length === 0))
    return { run: 'no' };
  if (!Array.isArray(view.layers)) return { run: 'yes' };
  if (view.layers.every((layer) => layerKind(layer) !== undefined)) return { run: 'no' };
  if (isNotationSignature(view)) return { run: 'no' };
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

/**
 * Whether the manifest `digest` names in `repo`, listed by a referrers-shaped index, could run:
 * listedManifestCouldRun, then imageConfigCouldRun when its config decides. Undefined when the
 * registry has not got the manifest or that config (404: nothing to pull, so nothing runs; not an
 * answer to keep, since it may be pushed later). Any other failure is thrown: nothing is passed over
 * on a guess. The one reading of the rule attach and reverifyImages judge a fallback index by.
 */
export async function listedDigestCouldRun(
  registry: Pick<Registry, 'getManifest' | 'getBlob'>,
  repo: RepositoryRef,
  digest: string,
): Promise<boolean | undefined> {
  const pulled = <T>(read: () => Promise<T>): Promise<T | undefined> =>
    read().catch((err: unknown) => {
      if (err instanceof RegistryNotFoundError) return undefined;
      throw err;
    });
  const listed = await pulled(() => registry.getManifest(repo, digest));
  if (listed === undefined) return undefined;
  const verdict = listedManifestCouldRun(listed.bytes);
  if (verdict.run !== 'config') return verdict.run === 'yes';
  const config = await pulled(() =>
    registry.getBlob(repo, verdict.digest, { maxBytes: MAX_LISTED_CONFIG_BYTES }),
  );
  return config === undefined ? undefined : imageConfigCouldRun(config);
}

/** What a referrers-shaped index lists is read from here to find whether any of it could run. */
export interface ListedManifests {
  /**
   * The manifest `digest` names, as the registry reads it: `unreadable` for bytes that do not read
   * as a manifest (they could be anything, so they could run), undefined when the registry does not
   * have it (nothing to pull). Any other failure is thrown.
   */
  manifest(digest: string): Promise<ManifestView | 'unreadable' | undefined>;
  /**
   * A config blob, undefined when the registry does not have it. Without this, a listed manifest
   * whose config decides is taken as one that could run: never skipped on a guess.
   */
  config?(digest: string): Promise<Uint8Array | undefined>;
}

/**
 * The first of `listed` (the digests a referrers-shaped index lists) that could run, read in order,
 * each once; undefined when none could, and only then is the index a referrers index. The rule of
 * reverify's listsRunnable (listedManifestCouldRun, then imageConfigCouldRun when the config decides).
 */
export async function firstRunnableListed(
  listed: readonly string[],
  source: ListedManifests,
): Promise<string | undefined> {
  for (const digest of new Set(listed)) {
    const view = await source.manifest(digest);
    if (view === undefined) continue;
    const verdict = viewCouldRun(view === 'unreadable' ? undefined : view);
    if (verdict.run !== 'config') {
      if (verdict.run === 'yes') return digest;
      continue;
    }
    if (source.config === undefined) return digest;
    const config = await source.config(verdict.digest);
    if (config !== undefined && imageConfigCouldRun(config)) return digest;
  }
  return undefined;
}

/**
 * Entries of a referrers-shaped index read, at most, to find one that could run: by signOnPush,
 * attach and reverifyImages alike. One that lists more is not taken as a referrers index, since
 * nobody can say that none of them runs.
 */
export const LISTED_CHECK_LIMIT = 1024;
/** A listed manifest's config is read no further than this. */
const MAX_LISTED_CONFIG_BYTES = 1024 * 1024;

/** The manifest signOnPush was asked to sign: what the registry has under its digest. */
export interface PushedManifest {
  readonly digest: string;
  /** HOST/REPO@digest */
  readonly image: string;
  readonly view: ManifestView;
}

/**
 * signatureArtifactKind of a pushed manifest, for signOnPush: why it is skipped, or undefined when
 * it is signed. One with the shape of a referrers fallback index is skipped only if nothing it lists
 * could run (firstRunnableListed, the rule reverify judges its tag by): each listed manifest is read
 * by digest, and its config when that decides. One that lists a manifest that could run is signed
 * like any index, with a NOTICE naming that manifest. Refused (PolicyViolationError, alerted) when
 * that cannot be known: more than LISTED_CHECK_LIMIT entries, an entry that is not a digest, or a
 * listed manifest or config the registry has but will not serve as it should (bytes that do not hash
 * to the digest, a media type sigsentry does not read, over the size cap). A listed manifest the
 * registry does not have (404) cannot run. Retryable failures are thrown as they are.
 */
export async function pushedArtifactKind(
  pushed: PushedManifest,
  registry: Pick<Registry, 'getManifest' | 'getBlob'>,
  repo: RepositoryRef,
  logger: Logger,
): Promise<SignatureArtifactKind | undefined> {
  const kind = signatureArtifactKind(pushed.view);
  if (kind !== 'referrers fallback index') return kind;
  const listed = [...new Set(indexChildDigests(pushed.view, pushed.image, pushed.digest))];
  const imageOf = (digest: string) => `${repo.host}/${repo.repository}@${digest}`;
  const unjudged = (why: string, details: Record<string, unknown> = {}) =>
    new PolicyViolationError(
      `refusing to sign ${pushed.image}: it has the shape of a referrers fallback index, and ${why}, so whether it lists an image that could run is not known`,
      { image: pushed.image, digest: pushed.digest, ...details },
    );
  if (listed.length > LISTED_CHECK_LIMIT) {
    throw unjudged(`it lists ${listed.length} manifests (at most ${LISTED_CHECK_LIMIT} are read)`, {
      listed: listed.length,
      limit: LISTED_CHECK_LIMIT,
    });
  }
  /** A read of what it lists: a 404 is undefined, any other lasting failure a refusal naming `what`. */
  const read = async <T>(what: string, fetch: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fetch();
    } catch (err) {
      if (err instanceof RegistryNotFoundError) return undefined;
      if (isRetryable(err)) throw err;
      const message = errorMessage(err);
      throw unjudged(`${what} could not be read (${message})`, { unread: what });
    }
  };
  const runnable = await firstRunnableListed(listed, {
    manifest: (digest) =>
      read(`the manifest ${imageOf(digest)} it lists`, async () => {
        const view = viewOf((await registry.getManifest(repo, digest)).bytes);
        return view ?? 'unreadable';
      }),
    config: (digest) =>
      read(`the config ${digest} of a manifest it lists`, () =>
        registry.getBlob(repo, digest, { maxBytes: MAX_LISTED_CONFIG_BYTES }),
      ),
  });
  if (runnable === undefined) return kind;
  logger.notice(
    'an index shaped like a referrers fallback index lists a manifest that could run: it is signed as an image',
    { image: pushed.image, runnable: imageOf(runnable) },
  );
  return undefined;
}
