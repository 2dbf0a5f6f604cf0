/**
 * Where an image's signatures live in the registry: the `.sig` manifest of cosign's layout, and the
 * Sigstore bundle referrers (referrers API, or the `sha256-<hex>` index of the tag schema). The
 * fingerprint is what a re-verification compares to know nothing changed without downloading anything;
 * it names the `.sig` manifest and the referrers listing only, not what they point to, so a pass
 * reusing a verdict also checks (HEAD) the blobs and manifests its verified findings were read from.
 */
import crypto from 'node:crypto';
import {
  readCosignLayers,
  type StoredCosignSignature,
  signatureTag,
  type UnreadableCosignLayer,
} from '../attach/cosign-layout.ts';
import {
  listFallbackIndexReferrers,
  MAX_UNTYPED_REFERRER_BYTES,
  MAX_UNTYPED_REFERRERS,
  readBundleReferrer,
  readUntypedBundleReferrer,
  type SelectedReferrers,
  SIGSTORE_BUNDLE_V03,
  selectReferrers,
} from '../attach/referrer.ts';
import { SigsentryError } from '../errors.ts';
import { digestTag, sha256Digest } from '../registry/digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError } from '../registry/errors.ts';
import type { Descriptor } from '../registry/manifest.ts';
import type { DigestReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';
import { BlobsReadOnce } from './blobs-read-once.ts';

export interface SignatureFingerprint {
  /** Digest of the `.sig` manifest, or null. */
  signatureManifest: string | null;
  /** Digest of the tag-schema referrers index, `api:<hash>` of the referrers API listing, or null. */
  referrers: string | null;
}

export interface SignatureSources {
  fingerprint: SignatureFingerprint;
  cosign: StoredCosignSignature[];
  /** `.sig` layers whose payload could not be read: each is its own finding, the others still count. */
  cosignUnreadable?: UnreadableCosignLayer[];
  /** Set when the `.sig` tag holds something unreadable: that is a finding, not an outage. */
  cosignError?: string;
  /**
   * Each bundle referrer read: `location` its manifest digest, `blob` the digest of the bundle's blob
   * (its layer), with the bytes read from it. A verdict records both for each verified signature, so
   * a later pass reusing it can check they are still there (reverify/core.ts).
   */
  bundles: Array<{ location: string; bytes?: Uint8Array; blob?: string; error?: string }>;
}

/**
 * The signature artifacts changed between taking their fingerprint and reading them: the findings
 * would not belong to the fingerprint they are stored with, so none are made (retry on the next pass).
 */
export class SignaturesChangedError extends SigsentryError {
  constructor(image: DigestReference, artifact: string, fingerprinted: string, cause?: unknown) {
    super(
      'SIGNATURES_CHANGED',
      `the ${artifact} of ${image.host}/${image.repository}@${image.digest} changed while it was read (fingerprinted ${fingerprinted})`,
      { retryable: true, cause, details: { digest: image.digest, artifact, fingerprinted } },
    );
  }
}

/** `api:<hash>` of a referrers API listing: its digests, order ignored. */
function apiListingFingerprint(listed: readonly Descriptor[]): string {
  const listing = listed
    .map((d) => d.digest)
    .sort()
    .join('\n');
  return `api:${crypto.createHash('sha256').update(listing).digest('hex')}`;
}

async function digestOfTag(registry: Registry, image: DigestReference, tag: string): Promise<string | null> {
  try {
    return (await registry.resolve({ host: image.host, repository: image.repository, tag })).digest;
  } catch (err) {
    if (err instanceof RegistryNotFoundError) return null;
    throw err;
  }
}

export async function signatureFingerprint(
  registry: Registry,
  image: DigestReference,
): Promise<SignatureFingerprint> {
  const [signatureManifest, viaApi] = await Promise.all([
    digestOfTag(registry, image, signatureTag(image.digest)),
    registry.referrers(image, image.digest, { artifactType: SIGSTORE_BUNDLE_V03 }),
  ]);
  let referrers: string | null;
  if (viaApi === undefined) {
    referrers = await digestOfTag(registry, image, digestTag(image.digest));
  } else if (viaApi.length === 0) {
    referrers = null;
  } else {
    referrers = apiListingFingerprint(viaApi);
  }
  return { signatureManifest, referrers };
}

/**
 * Reads every signature of `image`; registry outages propagate, malformed artifacts become findings.
 * Pass the fingerprint when it was just taken, to save the requests. What is read is exactly what the
 * fingerprint names (the `.sig` manifest and referrers index by digest, the API listing compared), so
 * the findings always belong to the fingerprint stored with them; SignaturesChangedError otherwise.
 */
export async function collectSignatures(
  registry: Registry,
  image: DigestReference,
  known?: SignatureFingerprint,
): Promise<SignatureSources> {
  const fingerprint = known ?? (await signatureFingerprint(registry, image));
  const sources: SignatureSources = { fingerprint, cosign: [], bundles: [] };
  if (fingerprint.signatureManifest !== null) {
    try {
      // Every layer judged, each distinct payload blob fetched once: layers may share one.
      const layers = await readCosignLayers(
        new BlobsReadOnce(registry),
        image,
        fingerprint.signatureManifest,
      );
      sources.cosign = layers.signatures;
      sources.cosignUnreadable = layers.unreadable;
    } catch (err) {
      if (err instanceof RegistryNotFoundError) {
        throw new SignaturesChangedError(image, 'signature manifest', fingerprint.signatureManifest, err);
      }
      if (!(err instanceof RegistryIntegrityError)) throw err;
      sources.cosignError = err.message;
    }
  }
  if (fingerprint.referrers !== null) {
    let listed: SelectedReferrers;
    try {
      listed = await listFingerprintedReferrers(registry, image, fingerprint.referrers);
    } catch (err) {
      if (!(err instanceof RegistryIntegrityError)) throw err;
      sources.bundles.push({ location: digestTag(image.digest), error: err.message });
      return sources;
    }
    for (const descriptor of listed.descriptors) {
      try {
        const read = await readBundleReferrer(registry, image, descriptor);
        sources.bundles.push(bundleRead(descriptor, read.bundle));
      } catch (err) {
        if (!(err instanceof RegistryIntegrityError || err instanceof RegistryNotFoundError)) throw err;
        sources.bundles.push({ location: descriptor.digest, error: err.message });
      }
    }
    // Listed without saying what they are (as cosign 3 lists its bundles on a registry without the
    // referrers API): read, bounded, and kept only if their manifests are bundle referrers.
    for (const descriptor of listed.untyped) {
      try {
        const read = await readUntypedBundleReferrer(registry, image, descriptor);
        if (read !== undefined) sources.bundles.push(bundleRead(descriptor, read.bundle));
      } catch (err) {
        if (!(err instanceof RegistryIntegrityError || err instanceof RegistryNotFoundError)) throw err;
        sources.bundles.push({ location: descriptor.digest, error: err.message });
      }
    }
    if (listed.untypedSkipped > 0) {
      sources.bundles.push({
        location: fingerprint.referrers.startsWith('api:') ? 'referrers' : digestTag(image.digest),
        error:
          `${listed.untypedSkipped} listed referrer(s) without an artifactType left unread ` +
          `(at most ${MAX_UNTYPED_REFERRERS} are read, image manifests of at most ${MAX_UNTYPED_REFERRER_BYTES} bytes)`,
      });
    }
  }
  return sources;
}

/** A bundle read from the referrer `descriptor` names: its blob's digest is that of the bytes (getBlob checked them against it). */
const bundleRead = (descriptor: Descriptor, bytes: Uint8Array) => ({
  location: descriptor.digest,
  bytes,
  blob: sha256Digest(bytes),
});

/**
 * The bundle referrers the fingerprint `referrers` names: the same API listing, or that index; those
 * listed as bundles, and the bounded few listed without an artifactType (selectReferrers).
 */
async function listFingerprintedReferrers(
  registry: Registry,
  image: DigestReference,
  referrers: string,
): Promise<SelectedReferrers> {
  if (referrers.startsWith('api:')) {
    const viaApi = await registry.referrers(image, image.digest, { artifactType: SIGSTORE_BUNDLE_V03 });
    if (viaApi === undefined || apiListingFingerprint(viaApi) !== referrers) {
      throw new SignaturesChangedError(image, 'referrers listing', referrers);
    }
    return selectReferrers(viaApi);
  }
  try {
    return await listFallbackIndexReferrers(registry, image, referrers);
  } catch (err) {
    if (err instanceof RegistryNotFoundError) {
      throw new SignaturesChangedError(image, 'referrers index', referrers, err);
    }
    throw err;
  }
}
