/**
 * Where an image's signatures live in the registry: the `.sig` manifest of cosign's layout, and the
 * Sigstore bundle referrers (referrers API, or the `sha256-<hex>` index of the tag schema). The
 * fingerprint is what a re-verification compares to know nothing changed without downloading anything.
 */
import crypto from 'node:crypto';
import {
  readCosignLayers,
  type StoredCosignSignature,
  signatureTag,
  type UnreadableCosignLayer,
} from '../attach/cosign-layout.ts';
import { listBundleReferrers, readBundleReferrer, SIGSTORE_BUNDLE_V03 } from '../attach/referrer.ts';
import { digestTag } from '../registry/digest.ts';
import { RegistryIntegrityError, RegistryNotFoundError } from '../registry/errors.ts';
import type { DigestReference } from '../registry/reference.ts';
import type { Registry } from '../registry/registry.ts';

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
  bundles: Array<{ location: string; bytes?: Uint8Array; error?: string }>;
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
    const listing = viaApi
      .map((d) => d.digest)
      .sort()
      .join('\n');
    referrers = `api:${crypto.createHash('sha256').update(listing).digest('hex')}`;
  }
  return { signatureManifest, referrers };
}

/**
 * Reads every signature of `image`; registry outages propagate, malformed artifacts become findings.
 * Pass the fingerprint when it was just taken, to save the requests.
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
      const layers = await readCosignLayers(registry, image);
      sources.cosign = layers.signatures;
      sources.cosignUnreadable = layers.unreadable;
    } catch (err) {
      if (!(err instanceof RegistryIntegrityError || err instanceof RegistryNotFoundError)) throw err;
      sources.cosignError = err.message;
    }
  }
  if (fingerprint.referrers !== null) {
    let listed: Awaited<ReturnType<typeof listBundleReferrers>>;
    try {
      listed = await listBundleReferrers(registry, image);
    } catch (err) {
      if (!(err instanceof RegistryIntegrityError || err instanceof RegistryNotFoundError)) throw err;
      sources.bundles.push({ location: digestTag(image.digest), error: err.message });
      return sources;
    }
    for (const descriptor of listed.descriptors) {
      try {
        const read = await readBundleReferrer(registry, image, descriptor);
        sources.bundles.push({ location: descriptor.digest, bytes: read.bundle });
      } catch (err) {
        if (!(err instanceof RegistryIntegrityError || err instanceof RegistryNotFoundError)) throw err;
        sources.bundles.push({ location: descriptor.digest, error: err.message });
      }
    }
  }
  return sources;
}
