/**
 * A real public-good keyless cosign signature (salrashid123/server_image, signed by a GitHub Actions
 * workflow; test/unit/verify/fixtures/SOURCE.md): its `.sig` layer and payload, the identity it was
 * made for, and a way to put it into a test registry under the image's digest, as a mirror of the
 * image would hold it.
 */
import { readFileSync } from 'node:fs';
import { signatureTag } from '../../functions/attach/cosign-layout.ts';
import { SIMPLE_SIGNING_MEDIA_TYPE } from '../../functions/attach/simple-signing.ts';
import type { RegistryClient } from '../../functions/registry/client.ts';
import type { Descriptor } from '../../functions/registry/manifest.ts';
import { OCI_CONFIG, OCI_MANIFEST } from '../../functions/registry/media-types.ts';

export const keylessFixture = (name: string): Buffer =>
  readFileSync(new URL(`../unit/verify/fixtures/${name}`, import.meta.url));

export const GITHUB_ISSUER = 'https://token.actions.githubusercontent.com';

export const SERVER_IMAGE = {
  host: 'index.docker.io',
  repository: 'salrashid123/server_image',
  digest: 'sha256:c05263d2ff654c3a94243662440913f045075d59c436e2c69e9145ec2b87a321',
};

export const SERVER_IDENTITY = {
  subjectAlternativeName:
    'https://github.com/salrashid123/go-bazel-github-workflow/.github/workflows/release.yaml@refs/tags/v0.0.30',
  issuer: GITHUB_ISSUER,
};

/** The repository the signature's payload names: a mirror's policy accepts it (`references`). */
export const SERVER_REFERENCE = 'index.docker.io/salrashid123/server_image';

const sigManifest = JSON.parse(keylessFixture('cosign-sig-manifest.EXTRACTED.txt').toString('utf8')) as {
  layers: Array<Descriptor & { annotations: Record<string, string> }>;
};
export const serverSignatureLayer = sigManifest.layers[0]!;
export const serverSignaturePayload = keylessFixture('cosign-payload.RECONSTRUCTED.bin');

/** The image's real `.sig` manifest layer, put into a test registry under the image's digest. */
export async function mirrorServerSignature(
  registry: RegistryClient,
  image: { host: string; repository: string; digest: string },
): Promise<void> {
  // The layer is the real one; the config is ours (the original's bytes were not published).
  await registry.putBlob(image, serverSignaturePayload, SIMPLE_SIGNING_MEDIA_TYPE);
  const config = await registry.putBlob(image, Buffer.from('{"rootfs":{"type":"layers"}}'), OCI_CONFIG);
  const manifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers: [serverSignatureLayer] };
  await registry.putManifest(
    image,
    signatureTag(image.digest),
    Buffer.from(JSON.stringify(manifest)),
    OCI_MANIFEST,
  );
}
