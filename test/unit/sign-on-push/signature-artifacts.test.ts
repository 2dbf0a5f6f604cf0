import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { toCosignRekorBundle } from '../../../functions/sign-on-push/core.ts';
import {
  isSignatureArtifactManifest,
  isSignatureArtifactTag,
} from '../../../functions/sign-on-push/signature-artifacts.ts';

const layer = (mediaType: string) => ({ mediaType, digest: `sha256:${'a'.repeat(64)}`, size: 1 });
const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const TAR = 'application/vnd.oci.image.layer.v1.tar+gzip';

describe('what signOnPush recognises as its own signature artifacts', () => {
  test('signature tags', () => {
    assert.ok(isSignatureArtifactTag(`sha256-${'a'.repeat(64)}.sig`));
    assert.ok(isSignatureArtifactTag(`sha256-${'a'.repeat(64)}`));
    assert.ok(!isSignatureArtifactTag('v1'));
    assert.ok(!isSignatureArtifactTag(`sha256-${'a'.repeat(63)}.sig`));
    assert.ok(!isSignatureArtifactTag(undefined));
  });

  test('a .sig manifest and a bundle referrer are skipped', () => {
    assert.ok(isSignatureArtifactManifest({ layers: [layer(SIMPLE_SIGNING), layer(SIMPLE_SIGNING)] }));
    assert.ok(isSignatureArtifactManifest({ artifactType: BUNDLE, subject: {}, layers: [layer(BUNDLE)] }));
  });

  test('a runnable image is never skipped, whatever it claims', () => {
    // A subject field, an artifactType, or one signature layer among real ones is not enough.
    assert.ok(!isSignatureArtifactManifest({ subject: { digest: 'x' }, layers: [layer(TAR)] }));
    assert.ok(!isSignatureArtifactManifest({ artifactType: BUNDLE, layers: [layer(TAR)] }));
    assert.ok(!isSignatureArtifactManifest({ layers: [layer(SIMPLE_SIGNING), layer(TAR)] }));
    assert.ok(!isSignatureArtifactManifest({ layers: [] }));
    assert.ok(!isSignatureArtifactManifest({ manifests: [] }));
    assert.ok(!isSignatureArtifactManifest(null));
  });
});

describe("cosign's bundle annotation from a Sigstore bundle", () => {
  test('the first entry of a log (index 0, left out of proto3 JSON) keeps logIndex 0', () => {
    const bundle = {
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      verificationMaterial: {
        tlogEntries: [
          {
            logId: { keyId: Buffer.alloc(32, 1).toString('base64') },
            kindVersion: { kind: 'hashedrekord', version: '0.0.1' },
            integratedTime: '1700000000',
            inclusionPromise: { signedEntryTimestamp: 'c2V0' },
            canonicalizedBody: 'Ym9keQ==',
          },
        ],
      },
    };
    const annotation = toCosignRekorBundle(bundle as never);
    assert.equal(annotation.Payload.logIndex, 0);
    assert.equal(annotation.Payload.integratedTime, 1700000000);
    assert.equal(annotation.Payload.logID, '01'.repeat(32));
  });
});
