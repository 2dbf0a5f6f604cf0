/** Test helper: edits an image's `.sig` manifest in place, as an attacker with push access could. */
import { SIGNATURE_ANNOTATION, signatureTag } from '../../../functions/attach/cosign-layout.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import type { Registry } from '../../../functions/registry/registry.ts';

interface Layer {
  digest: string;
  annotations?: Record<string, string>;
}

export async function rewriteSignatureManifest(
  registry: Registry,
  image: DigestReference,
  mutate: (layers: Layer[]) => void,
): Promise<{ before: Uint8Array; mediaType: string }> {
  const tag = signatureTag(image.digest);
  const fetched = await registry.getManifest(image, tag);
  const manifest = JSON.parse(Buffer.from(fetched.bytes).toString('utf8')) as { layers: Layer[] };
  mutate(manifest.layers);
  await registry.putManifest(image, tag, Buffer.from(JSON.stringify(manifest)), fetched.descriptor.mediaType);
  return { before: fetched.bytes, mediaType: fetched.descriptor.mediaType };
}

/** Flips one bit of every signature annotation. */
export function flipSignatures(layers: Layer[]): void {
  for (const layer of layers) {
    const sig = Buffer.from(layer.annotations?.[SIGNATURE_ANNOTATION] ?? '', 'base64');
    sig[sig.length - 1]! ^= 1;
    layer.annotations = { ...layer.annotations, [SIGNATURE_ANNOTATION]: sig.toString('base64') };
  }
}
