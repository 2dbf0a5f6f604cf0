/**
 * cosign's legacy signature layout (cosign specs/SIGNATURE_SPEC.md, "Storage"): the signatures of image
 * `REPO@sha256:H` live in the image manifest tagged `REPO:sha256-H.sig`, one layer per signature. Each layer
 * is a simple-signing payload blob whose descriptor annotations carry the base64 signature
 * (`dev.cosignproject.cosign/signature`) and, when logged, the Rekor bundle (`dev.sigstore.cosign/bundle`).
 * This is what cosign 2.x, policy-controller and Kyverno read.
 *
 * Attaching appends to the existing manifest, keeping every other signature, and is idempotent. The tag
 * is an ordinary one: what it holds is appended to only if it is a cosign signature manifest
 * (notCosignSignatureManifest); a user's image there is left alone and the attach refused (foreign-tag.ts).
 */

import { InvalidInputError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { digestTag, sha256Digest } from '../registry/digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError } from '../registry/errors.ts';
import {
  type Descriptor,
  type ImageManifest,
  imageManifestSchema,
  type ParseManifestOptions,
  parseManifestBytes,
  toDescriptor,
} from '../registry/manifest.ts';
import { DOCKER_CONFIG, DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST } from '../registry/media-types.ts';
import { type DigestReference, formatImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { ForeignTagContentError } from './foreign-tag.ts';
import type { SubjectLock } from './lock.ts';
import { parseRekorBundle, type RekorBundle, serializeRekorBundle } from './rekor-bundle.ts';
import { parseSimpleSigningPayload, SIMPLE_SIGNING_MEDIA_TYPE } from './simple-signing.ts';
import { writeUntilPresent } from './write-until-present.ts';

export const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
export const BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
export const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
export const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';

const MAX_PAYLOAD_BYTES = 256 * 1024;

/** `sha256-<hex>.sig`, the tag cosign looks signatures up under. */
export function signatureTag(digest: string): string {
  return `${digestTag(digest)}.sig`;
}

export interface CosignSignature {
  /** The simple-signing payload bytes that were signed. */
  readonly payload: Uint8Array;
  /** Base64 signature over `payload`. */
  readonly signature: string;
  readonly bundle?: RekorBundle;
  readonly certificate?: string;
  readonly chain?: string;
}

export interface AttachDeps {
  readonly registry: Registry;
  readonly lock: SubjectLock;
  readonly logger?: Logger;
  /** Bound on optimistic re-merges after a concurrent overwrite. Default 5. */
  readonly attempts?: number;
}

export interface AttachCosignResult {
  readonly tag: string;
  readonly layer: Descriptor;
  /** The `.sig` manifest as read back after the write. */
  readonly manifest: Descriptor;
  /** False when an identical signature was already attached. */
  readonly appended: boolean;
}

export interface StoredCosignSignature {
  readonly layer: Descriptor;
  readonly payload: Uint8Array;
  readonly signature: string | undefined;
  /** The raw bundle annotation, and its parsed form when it is well formed. */
  readonly bundleAnnotation: string | undefined;
  readonly bundle: RekorBundle | undefined;
  readonly certificate: string | undefined;
  readonly chain: string | undefined;
}

export async function attachCosignSignature(
  deps: AttachDeps,
  image: DigestReference,
  sig: CosignSignature,
): Promise<AttachCosignResult> {
  const subject = formatImageReference({
    host: image.host,
    repository: image.repository,
    digest: image.digest,
  });
  const details = { reference: subject, digest: image.digest };
  // A payload for another image must never be filed under this one.
  parseSimpleSigningPayload(sig.payload, image.digest);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(sig.signature)) {
    throw new InvalidInputError('signature is not base64', details);
  }
  const tag = signatureTag(image.digest);
  const payloadBlob = await deps.registry.putBlob(image, sig.payload, SIMPLE_SIGNING_MEDIA_TYPE);
  const annotations: Record<string, string> = { [SIGNATURE_ANNOTATION]: sig.signature };
  if (sig.bundle !== undefined) annotations[BUNDLE_ANNOTATION] = serializeRekorBundle(sig.bundle);
  if (sig.certificate !== undefined) annotations[CERTIFICATE_ANNOTATION] = sig.certificate;
  if (sig.chain !== undefined) annotations[CHAIN_ANNOTATION] = sig.chain;
  const layer = toDescriptor({ ...payloadBlob, mediaType: SIMPLE_SIGNING_MEDIA_TYPE, annotations });

  let current: { descriptor: Descriptor; manifest: ImageManifest } | undefined;
  const isOurs = (l: Descriptor) =>
    isSignatureLayer(l, { payloadDigest: layer.digest, signature: sig.signature });

  const appended = await deps.lock.lock(subject, (hold) =>
    writeUntilPresent(
      {
        read: async () => {
          // Read for a rewrite: one that Go readers see otherwise (a list spelled two ways), or whose
          // re-serialisation would change another writer's entries, fails here, before anything is
          // written, as any unreadable `.sig` does (RegistryIntegrityError); so does anything that
          // is no cosign signature manifest (ForeignTagContentError), such as a user's image.
          current = await readSignatureManifest(deps.registry, image, undefined, { rewrite: true });
          return current;
        },
        contains: (found) => found?.manifest.layers.some(isOurs) ?? false,
        write: async (found) => {
          const layers = [...(found?.manifest.layers ?? []), layer];
          const { manifest, config } = buildSignatureManifest(
            found?.manifest,
            found?.descriptor.mediaType,
            layers,
          );
          await deps.registry.putBlob(image, config.bytes, config.mediaType);
          hold.check(); // the tag is replaced whole: not beside another holder
          await deps.registry.putManifest(image, tag, manifest.bytes, manifest.mediaType);
        },
      },
      {
        details: { ...details, tag },
        ...(deps.attempts === undefined ? {} : { attempts: deps.attempts }),
        onConflict: (attempt) =>
          deps.logger?.warn('signature manifest was overwritten by a concurrent writer; merging again', {
            ...details,
            tag,
            attempt,
          }),
      },
    ),
  );
  if (current === undefined)
    throw new RegistryNotFoundError('signature manifest vanished after writing', details);
  return { tag, layer, manifest: current.descriptor, appended };
}

/** A `.sig` layer whose payload blob could not be read (missing, oversized, not matching its digest). */
export interface UnreadableCosignLayer extends Omit<StoredCosignSignature, 'payload'> {
  readonly error: string;
}

/** The `.sig` manifest's signature layers, each read on its own: one bad blob does not hide the others. */
export interface CosignLayers {
  readonly signatures: StoredCosignSignature[];
  readonly unreadable: UnreadableCosignLayer[];
}

function layerAnnotations(layer: Descriptor): Omit<StoredCosignSignature, 'payload'> {
  const bundleAnnotation = layer.annotations?.[BUNDLE_ANNOTATION];
  return {
    layer,
    signature: layer.annotations?.[SIGNATURE_ANNOTATION],
    bundleAnnotation,
    bundle: bundleAnnotation === undefined ? undefined : parseRekorBundle(bundleAnnotation),
    certificate: layer.annotations?.[CERTIFICATE_ANNOTATION],
    chain: layer.annotations?.[CHAIN_ANNOTATION],
  };
}

async function readSignatureLayer(
  registry: Registry,
  image: DigestReference,
  layer: Descriptor,
): Promise<StoredCosignSignature> {
  const payload = await registry.getBlob(image, layer.digest, { maxBytes: MAX_PAYLOAD_BYTES });
  return { ...layerAnnotations(layer), payload };
}

const signatureLayers = (manifest: ImageManifest) =>
  manifest.layers.filter((layer) => layer.mediaType === SIMPLE_SIGNING_MEDIA_TYPE);

/**
 * Every signature in the `.sig` manifest of `image`, payloads fetched and verified against their digests.
 * Throws on the first payload that cannot be read; readCosignLayers reads past it.
 */
export async function readCosignSignatures(
  registry: Registry,
  image: DigestReference,
): Promise<StoredCosignSignature[]> {
  const found = await readSignatureManifest(registry, image);
  if (found === undefined) return [];
  const out: StoredCosignSignature[] = [];
  for (const layer of signatureLayers(found.manifest))
    out.push(await readSignatureLayer(registry, image, layer));
  return out;
}

/**
 * Like readCosignSignatures, but a layer whose payload cannot be read (anyone with push access can add
 * one) is set aside with the reason instead of failing the whole manifest. Outages still propagate.
 */
export async function readCosignLayers(
  registry: Registry,
  image: DigestReference,
  manifestDigest?: string,
): Promise<CosignLayers> {
  const found = await readSignatureManifest(registry, image, manifestDigest);
  const layers: CosignLayers = { signatures: [], unreadable: [] };
  for (const layer of found === undefined ? [] : signatureLayers(found.manifest)) {
    try {
      layers.signatures.push(await readSignatureLayer(registry, image, layer));
    } catch (err) {
      if (!(err instanceof RegistryIntegrityError || err instanceof RegistryNotFoundError)) throw err;
      layers.unreadable.push({ ...layerAnnotations(layer), error: err.message });
    }
  }
  return layers;
}

/** A `.sig` layer, as the attach knows its own: the payload's blob, with that signature annotation. */
export interface SignatureLayerOf {
  /** sha256 of the simple-signing payload (the layer's digest). */
  readonly payloadDigest: string;
  /** The base64 signature (the layer's `dev.cosignproject.cosign/signature`). */
  readonly signature: string;
}

function isSignatureLayer(layer: Descriptor, ours: SignatureLayerOf): boolean {
  return layer.digest === ours.payloadDigest && layer.annotations?.[SIGNATURE_ANNOTATION] === ours.signature;
}

/**
 * Whether the `.sig` manifest of `image` holds the layer `ours` (one GET; false without a `.sig`),
 * as an attach would find it there. A `.sig` that cannot be read as a signature manifest is thrown.
 */
export async function signatureLayerAttached(
  registry: Registry,
  image: DigestReference,
  ours: SignatureLayerOf,
): Promise<boolean> {
  const found = await readSignatureManifest(registry, image);
  return found?.manifest.layers.some((layer) => isSignatureLayer(layer, ours)) ?? false;
}

/**
 * The `.sig` manifest, read by its tag, or by `manifestDigest` when the caller already resolved the tag:
 * what is read is then exactly what was resolved (a tag can move between two reads), and a manifest
 * no longer there is a RegistryNotFoundError rather than no signature. Read as Go readers (cosign)
 * read it: a key spelled twice (`layers` and `Layers`) is an AmbiguousManifestError, for attaching
 * and verifying alike; `rewrite` (attaching) also refuses one sigsentry could not write back unchanged,
 * and anything under the tag that is not a cosign signature manifest (ForeignTagContentError).
 */
async function readSignatureManifest(
  registry: Registry,
  image: DigestReference,
  manifestDigest?: string,
  options: ParseManifestOptions = {},
): Promise<{ descriptor: Descriptor; manifest: ImageManifest } | undefined> {
  const tag = signatureTag(image.digest);
  let fetched: Awaited<ReturnType<Registry['getManifest']>>;
  try {
    fetched = await registry.getManifest(image, manifestDigest ?? tag);
  } catch (err) {
    if (err instanceof RegistryNotFoundError && manifestDigest === undefined) return undefined;
    throw err;
  }
  const details = { reference: `${image.host}/${image.repository}:${tag}`, digest: image.digest };
  const rewrite = options.rewrite === true;
  if (fetched.descriptor.mediaType !== OCI_MANIFEST && fetched.descriptor.mediaType !== DOCKER_MANIFEST) {
    if (rewrite) {
      throw new ForeignTagContentError(
        'cosign',
        image,
        tag,
        fetched.descriptor,
        `a manifest of type ${fetched.descriptor.mediaType}`,
      );
    }
    throw new RegistryIntegrityError('the signature tag holds something other than an image manifest', {
      ...details,
      mediaType: fetched.descriptor.mediaType,
    });
  }
  const manifest = parseManifestBytes(imageManifestSchema, fetched.bytes, details, options);
  const foreign = rewrite ? notCosignSignatureManifest(manifest) : undefined;
  if (foreign !== undefined)
    throw new ForeignTagContentError('cosign', image, tag, fetched.descriptor, foreign);
  return { descriptor: fetched.descriptor, manifest };
}

/** The config media types cosign gives a `.sig` image: OCI's, or Docker's with COSIGN_DOCKER_MEDIA_TYPES. */
const COSIGN_CONFIG_TYPES: readonly string[] = [OCI_CONFIG, DOCKER_CONFIG];

/**
 * Why a manifest under a `.sig` tag is not a cosign signature manifest, or undefined when it is one:
 * at least one layer, every layer a simple-signing payload, and an image config as cosign writes
 * one (an empty image's: OCI's or Docker's config media type). Such a manifest holds nothing a
 * runtime would unpack, and signOnPush skips it as a signature artifact (signatureArtifactKind), as
 * it does the manifest appending to it gives. The config blob itself is not read: with no filesystem
 * layer nothing runs whatever it says, other signers write it in their own ways, and it is rebuilt
 * for the new layers (buildSignatureManifest).
 */
function notCosignSignatureManifest(manifest: ImageManifest): string | undefined {
  const other = manifest.layers.find((layer) => layer.mediaType !== SIMPLE_SIGNING_MEDIA_TYPE);
  if (other !== undefined) return `an image manifest with a layer of type ${other.mediaType}`;
  if (manifest.layers.length === 0) return 'an image manifest with no layers';
  if (!COSIGN_CONFIG_TYPES.includes(manifest.config.mediaType)) {
    return `an image manifest whose config is of type ${manifest.config.mediaType}`;
  }
  return undefined;
}

/**
 * The `.sig` image: the existing manifest's other fields kept, its layers replaced, and a config that
 * lists the layers as go-containerregistry (which cosign uses) writes it for static layers.
 */
function buildSignatureManifest(
  existing: ImageManifest | undefined,
  existingMediaType: string | undefined,
  layers: Descriptor[],
): { manifest: { bytes: Uint8Array; mediaType: string }; config: { bytes: Uint8Array; mediaType: string } } {
  const configMediaType = existing?.config.mediaType ?? OCI_CONFIG;
  const configBytes = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: layers.map(() => ({ created: '0001-01-01T00:00:00Z' })),
      os: '',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
      config: {},
    }),
  );
  const config = {
    mediaType: configMediaType,
    digest: sha256Digest(configBytes),
    size: configBytes.byteLength,
  };
  const mediaType = existingMediaType ?? OCI_MANIFEST;
  const manifest = { ...existing, schemaVersion: 2, mediaType, config, layers };
  return {
    manifest: { bytes: Buffer.from(JSON.stringify(manifest)), mediaType },
    config: { bytes: configBytes, mediaType: configMediaType },
  };
}
