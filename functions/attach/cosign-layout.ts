/**
 * cosign's legacy signature layout (cosign specs/SIGNATURE_SPEC.md, "Storage"): the signatures of image
 * `REPO@sha256:H` live in the image manifest tagged `REPO:sha256-H.sig`, one layer per signature. Each layer
 * is a simple-signing payload blob whose descriptor annotations carry the base64 signature
 * (`dev.cosignproject.cosign/signature`) and, when logged, the Rekor bundle (`dev.sigstore.cosign/bundle`).
 * This is what cosign 2.x, policy-controller and Kyverno read.
 *
 * Attaching appends to the existing manifest, keeping every other signature, and is idempotent.
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
import { DOCKER_MANIFEST, OCI_CONFIG, OCI_MANIFEST } from '../registry/media-types.ts';
import { type DigestReference, formatImageReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
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
    l.digest === layer.digest && l.annotations?.[SIGNATURE_ANNOTATION] === sig.signature;

  const appended = await deps.lock.lock(subject, (hold) =>
    writeUntilPresent(
      {
        read: async () => {
          // Read for a rewrite: one that Go readers see otherwise (a list spelled two ways), or whose
          // re-serialisation would change another writer's entries, fails here, before anything is
          // written, as any unreadable `.sig` does (RegistryIntegrityError).
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

/**
 * The `.sig` manifest, read by its tag, or by `manifestDigest` when the caller already resolved the tag:
 * what is read is then exactly what was resolved (a tag can move between two reads), and a manifest
 * no longer there is a RegistryNotFoundError rather than no signature. Read as Go readers (cosign)
 * read it: a key spelled twice (`layers` and `Layers`) is an AmbiguousManifestError, for attaching
 * and verifying alike; `rewrite` (attaching) also refuses one sigsentry could not write back unchanged.
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
  if (fetched.descriptor.mediaType !== OCI_MANIFEST && fetched.descriptor.mediaType !== DOCKER_MANIFEST) {
    throw new RegistryIntegrityError('the signature tag holds something other than an image manifest', {
      ...details,
      mediaType: fetched.descriptor.mediaType,
    });
  }
  return {
    descriptor: fetched.descriptor,
    manifest: parseManifestBytes(imageManifestSchema, fetched.bytes, details, options),
  };
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
