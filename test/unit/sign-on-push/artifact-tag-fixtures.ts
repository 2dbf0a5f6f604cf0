/**
 * What cosign pushes under `sha256-<hex>.att` and `sha256-<hex>.sbom`, built as cosign builds them
 * (specs/ATTESTATION_SPEC.md, specs/SBOM_SPEC.md): an OCI image manifest whose config is an empty
 * image's config (no platform) and whose layers are each one attachment, a DSSE envelope for
 * `cosign attest`, an SBOM document for `cosign attach sbom`.
 */
import { createHash } from 'node:crypto';
import type { Descriptor } from '../../../functions/registry/manifest.ts';
import { OCI_CONFIG, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import type { RepositoryRef } from '../../../functions/registry/reference.ts';
import type { Registry } from '../../../functions/registry/registry.ts';

export const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';

/** The tag cosign gives an image's attachment of `kind`: `sha256-<hex>.att`, `sha256-<hex>.sbom`. */
export function attachmentTag(digest: string, kind: 'att' | 'sbom'): string {
  return `${digest.replace(':', '-')}.${kind}`;
}

/** A DSSE envelope over an in-toto statement about `digest` (its signature is not checked here). */
export function dsseEnvelope(digest: string): Buffer {
  const statement = {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: 'https://slsa.dev/provenance/v0.2',
    subject: [{ name: 'team/app', digest: { sha256: digest.split(':')[1] } }],
    predicate: { builder: { id: 'https://example.com/builder' } },
  };
  return Buffer.from(
    JSON.stringify({
      payloadType: 'application/vnd.in-toto+json',
      payload: Buffer.from(JSON.stringify(statement)).toString('base64'),
      signatures: [{ keyid: '', sig: Buffer.from('not checked here').toString('base64') }],
    }),
  );
}

/** An SPDX 2.3 JSON document. */
export function spdxDocument(seed: string): Buffer {
  return Buffer.from(
    JSON.stringify({
      spdxVersion: 'SPDX-2.3',
      dataLicense: 'CC0-1.0',
      SPDXID: 'SPDXRef-DOCUMENT',
      name: seed,
      documentNamespace: `https://example.com/spdx/${seed}`,
      creationInfo: { created: '2026-01-01T00:00:00Z', creators: ['Tool: test'] },
      packages: [],
    }),
  );
}

/**
 * Pushes a manifest of attachment layers (each `[mediaType, bytes]`) under `reference` as cosign
 * does: its blobs first, then the manifest. Returns the manifest's descriptor.
 */
export async function pushAttachment(
  registry: Registry,
  repo: RepositoryRef,
  reference: string,
  layers: ReadonlyArray<readonly [string, Buffer]>,
): Promise<Descriptor> {
  const descriptors = [];
  for (const [mediaType, bytes] of layers) {
    const pushed = await registry.putBlob(repo, bytes, mediaType);
    descriptors.push({ mediaType, digest: pushed.digest, size: bytes.byteLength });
  }
  // An empty image's config, as go-containerregistry's empty.Image gives cosign: no os, no architecture.
  const config = Buffer.from(
    JSON.stringify({
      architecture: '',
      created: '0001-01-01T00:00:00Z',
      history: descriptors.map(() => ({ created: '0001-01-01T00:00:00Z' })),
      os: '',
      rootfs: {
        type: 'layers',
        diff_ids: descriptors.map((d) => d.digest),
      },
      config: {},
    }),
  );
  const configDescriptor = await registry.putBlob(repo, config, OCI_CONFIG);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: OCI_CONFIG, digest: configDescriptor.digest, size: config.byteLength },
      layers: descriptors,
    }),
  );
  await registry.putManifest(repo, reference, manifest, OCI_MANIFEST);
  return {
    mediaType: OCI_MANIFEST,
    digest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
    size: manifest.byteLength,
  };
}
