/**
 * The referrers tag-schema fallback index (tag `sha256-<hex>`, an OCI index of referrer
 * descriptors) is skipped by its content too, since a digest-only `gcr` message names it without
 * its tag (test/integration/sign-on-push/refusals.test.ts has it end to end); runnable indexes
 * (multi-arch, buildx with attestation manifests) are not mistaken for one.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { OCI_INDEX, OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import { signatureArtifactKind } from '../../../functions/sign-on-push/signature-artifacts.ts';

const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

const child = (digest: string, extra: Record<string, unknown>) => ({
  mediaType: OCI_MANIFEST,
  digest,
  size: 1,
  ...extra,
});

describe('what counts as a referrers fallback index', () => {
  const referrer = child(`sha256:${'b'.repeat(64)}`, { artifactType: BUNDLE_TYPE });
  const index = (manifests: unknown[], extra: Record<string, unknown> = {}) => ({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests,
    ...extra,
  });

  test('an OCI index of referrer descriptors, whatever their artifact types', () => {
    const sbom = child(`sha256:${'c'.repeat(64)}`, { artifactType: 'application/spdx+json' });
    assert.equal(signatureArtifactKind(index([referrer, sbom])), 'referrers fallback index');
  });

  test('not when any descriptor could be run: a platform, no artifactType, or manifest fields', () => {
    const platform = { os: 'linux', architecture: 'amd64' };
    assert.equal(signatureArtifactKind(index([referrer, child(referrer.digest, { platform })])), undefined);
    assert.equal(signatureArtifactKind(index([{ ...referrer, platform }])), undefined);
    assert.equal(signatureArtifactKind(index([referrer, child(referrer.digest, {})])), undefined);
    assert.equal(signatureArtifactKind(index([child(referrer.digest, { artifactType: '' })])), undefined);
    assert.equal(
      signatureArtifactKind(index([referrer], { config: referrer, layers: [referrer] })),
      undefined,
    );
    assert.equal(signatureArtifactKind(index([referrer], { mediaType: OCI_MANIFEST })), undefined);
    assert.equal(signatureArtifactKind(index([])), undefined);
    assert.equal(signatureArtifactKind(index([null])), undefined);
  });

  test('runnable indexes are not: multi-arch, and buildx with attestation manifests (unknown/unknown)', () => {
    const amd64 = child(`sha256:${'d'.repeat(64)}`, { platform: { os: 'linux', architecture: 'amd64' } });
    const arm64 = child(`sha256:${'e'.repeat(64)}`, { platform: { os: 'linux', architecture: 'arm64' } });
    const attestation = child(`sha256:${'f'.repeat(64)}`, {
      platform: { os: 'unknown', architecture: 'unknown' },
      annotations: {
        'vnd.docker.reference.digest': amd64.digest,
        'vnd.docker.reference.type': 'attestation-manifest',
      },
    });
    assert.equal(signatureArtifactKind(index([amd64, arm64])), undefined);
    assert.equal(signatureArtifactKind(index([amd64, attestation])), undefined);
  });
});
