/**
 * reverifyImages on the real local stack: images signed by the signOnPush function (KMS emulator key,
 * Rekor emulator log), verdicts in the Firestore emulator, alerts recorded by a test sink, and every
 * change an attacker or an operator could make: an unsigned digest under a watched tag, a deleted `.sig`
 * tag, a tampered signature annotation, a disabled KMS key version, each fixed again.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { OCI_MANIFEST } from '../../../functions/registry/media-types.ts';
import type { ReverifySummary } from '../../../functions/reverify/core.ts';
import { createReverifyFromConfig, type ReverifyRuntime } from '../../../functions/reverify/from-env.ts';
import { TAGS_COLLECTION, tagDocumentId } from '../../../functions/reverify/store.ts';
import { createKmsClient } from '../../../functions/signing/kms-client.ts';
import { setKeyVersionState } from '../../helpers/kms.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import {
  freshRepository,
  sleep,
  type TestStack,
  testStack,
  withSignOnPushHeldBack,
} from '../../helpers/stack.ts';
import { flipSignatures, rewriteSignatureManifest } from '../../unit/verify/tamper.ts';

describe('reverifyImages on the local stack', () => {
  let stack: TestStack;
  let repository: string;
  let registry: RegistryClient;
  let runtime: ReverifyRuntime;
  let firestore: Firestore;
  let kms: KeyManagementServiceClient;
  const alerts = new RecordingAlertSink();
  const ref = (tag: string) => `${stack.env.REGISTRY}/${repository}:${tag}`;

  before(async () => {
    stack = testStack();
    repository = freshRepository('reverify');
    registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
    firestore = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    kms = createKmsClient({ endpoint: stack.env.KMS_ENDPOINT! });
    process.env.KMS_ENDPOINT = stack.env.KMS_ENDPOINT;
    runtime = await createReverifyFromConfig(
      {
        project: stack.env.GCP_PROJECT!,
        // Only this test's repository: other tests' images are not ours to judge.
        watch: [{ repositories: `${stack.env.REGISTRY}/${repository}` }],
        keys: [stack.env.KMS_KEY!],
        publicKeys: [],
        log: {
          kind: 'rekor-v1',
          url: stack.env.REKOR_URL!,
          publicKey: fs.readFileSync(stack.env.REKOR_PUBLIC_KEY_FILE!, 'utf8'),
        },
        watchlist: [],
        concurrency: 8,
        staleAfterHours: 24,
        redirectHosts: [],
        tuf: { mirror: 'none' },
      },
      { alerts, logger: createMemoryLogger(), firestore },
    );
  });
  after(async () => {
    await kms.close();
    await firestore.terminate();
  });

  const pass = async (): Promise<ReverifySummary> => {
    const summary = await runtime.run();
    assert.deepEqual(summary.errors, []);
    return summary;
  };
  const statusOf = (summary: ReverifySummary, tag: string) =>
    summary.outcomes.find((o) => o.ref === ref(tag))?.status;

  /** Pushes an image and waits (bounded) until signOnPush has attached both signatures. */
  async function pushSigned(tag: string): Promise<string> {
    const image = makeOciImage({ tag });
    await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repository}:${tag}`);
    const at = { host: stack.env.REGISTRY!, repository };
    for (const deadline = Date.now() + 30_000; ; ) {
      const tags = await registry.listTags(at);
      const hex = image.digest.slice('sha256:'.length);
      if (tags.includes(`sha256-${hex}.sig`) && tags.includes(`sha256-${hex}`)) break;
      if (Date.now() > deadline) throw new Error(`signOnPush did not sign ${image.digest} within 30 s`);
      await sleep(200);
    }
    return image.digest;
  }

  it('calls an image signed by signOnPush valid, and stores the verdict in Firestore', async () => {
    const digest = await pushSigned('v1');
    const summary = await pass();
    assert.equal(statusOf(summary, 'v1'), 'valid');
    const doc = await firestore
      .collection(TAGS_COLLECTION)
      .doc(tagDocumentId(ref('v1')))
      .get();
    const data = doc.data()!;
    assert.equal(data.schemaVersion, 1);
    assert.equal(data.digest, digest);
    assert.equal(data.status, 'valid');
    assert.deepEqual(data.verifiedLayouts, ['bundle', 'cosign']);
    assert.equal(data.history.length, 1);
    assert.ok(
      (data.findings as Array<{ keyVersion?: string; keyState?: string }>).every(
        (f) => f.keyVersion === stack.env.KMS_KEY && f.keyState === 'ENABLED',
      ),
    );
    // A second pass re-checks inclusion without downloading the signatures again.
    const warm = await pass();
    assert.equal(statusOf(warm, 'v1'), 'valid');
    assert.ok(warm.outcomes.find((o) => o.ref === ref('v1'))!.cached);
  });

  it('raises unsigned-image and tag-moved when a watched tag moves to a digest nobody signed, resolves them when it moves back', async () => {
    const signed = await pushSigned('prod');
    assert.equal(statusOf(await pass(), 'prod'), 'valid');
    // signOnPush is held back while the tag points at a digest nobody signed (a copy of the image with
    // one more annotation), so the verdict is computed before the function could sign it.
    const at = { host: stack.env.REGISTRY!, repository };
    const original = await registry.getManifest(at, signed);
    const manifest = JSON.parse(Buffer.from(original.bytes).toString('utf8'));
    const unsigned = {
      ...manifest,
      annotations: { ...manifest.annotations, 'test.unsigned': String(Date.now()) },
    };
    await withSignOnPushHeldBack(stack, async () => {
      await registry.putManifest(at, 'prod', Buffer.from(JSON.stringify(unsigned)), OCI_MANIFEST);
      const moved = await pass();
      assert.equal(statusOf(moved, 'prod'), 'unsigned');
      assert.deepEqual(alerts.openKinds(ref('prod')), ['tag-moved', 'unsigned-image']);
      const raised = [...alerts.open.values()].find(
        (a) => a.kind === 'unsigned-image' && a.subject === ref('prod'),
      )!;
      assert.equal(raised.evidence.previousDigest, signed);
    });

    await registry.putManifest(at, 'prod', original.bytes, original.descriptor.mediaType);
    assert.equal(statusOf(await pass(), 'prod'), 'valid');
    assert.deepEqual(alerts.openKinds(ref('prod')), []);
  });

  it('raises signature-missing when the .sig tag is deleted, resolves it when it is restored', async () => {
    const digest = await pushSigned('missing');
    assert.equal(statusOf(await pass(), 'missing'), 'valid');
    const image = { host: stack.env.REGISTRY!, repository, digest };
    const sig = await registry.getManifest(image, signatureTag(digest));
    assert.equal(await registry.deleteManifest(image, sig.descriptor.digest), true);
    assert.equal(statusOf(await pass(), 'missing'), 'missing');
    assert.deepEqual(alerts.openKinds(ref('missing')), ['signature-missing']);
    await registry.putManifest(image, signatureTag(digest), sig.bytes, sig.descriptor.mediaType);
    assert.equal(statusOf(await pass(), 'missing'), 'valid');
    assert.deepEqual(alerts.openKinds(ref('missing')), []);
  });

  it('raises signature-invalid when the signature annotation is tampered with, keeps it open when restored', async () => {
    const digest = await pushSigned('tampered');
    assert.equal(statusOf(await pass(), 'tampered'), 'valid');
    const image = { host: stack.env.REGISTRY!, repository, digest };
    const { before: original, mediaType } = await rewriteSignatureManifest(registry, image, flipSignatures);
    assert.equal(statusOf(await pass(), 'tampered'), 'invalid');
    assert.deepEqual(alerts.openKinds(ref('tampered')), ['signature-invalid']);
    await registry.putManifest(image, signatureTag(digest), original, mediaType);
    assert.equal(statusOf(await pass(), 'tampered'), 'valid');
    assert.deepEqual(alerts.openKinds(ref('tampered')), ['signature-invalid']);
  });

  it('raises key-disabled when the KMS key version is disabled, resolves it when it is enabled again', async () => {
    await pushSigned('kms');
    assert.equal(statusOf(await pass(), 'kms'), 'valid');
    const setState = (state: 'ENABLED' | 'DISABLED') => setKeyVersionState(kms, stack.env.KMS_KEY!, state);
    await setState('DISABLED');
    try {
      const summary = await pass();
      assert.equal(statusOf(summary, 'kms'), 'key-disabled');
      assert.deepEqual(alerts.openKinds(ref('kms')), ['key-disabled']);
      const alert = [...alerts.open.values()].find((a) => a.subject === ref('kms'))!;
      assert.equal(alert.evidence.keyVersion, stack.env.KMS_KEY);
    } finally {
      await setState('ENABLED');
    }
    assert.equal(statusOf(await pass(), 'kms'), 'valid');
    assert.deepEqual(alerts.openKinds(ref('kms')), []);
  });
});
