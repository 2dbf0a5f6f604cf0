import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { listBundleReferrers, readBundleReferrer } from '../../../functions/attach/referrer.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { logEntriesWithHash, sha256Hex, signingRecords, waitForState } from '../../helpers/signatures.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, type TestStack, testStack } from '../../helpers/stack.ts';

const IMAGES = 50;
const EXTRA_DELIVERIES = 2;

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

describe('a redelivery storm signs each image exactly once', () => {
  let stack: TestStack;
  let pubsub: PubSub;
  let records: ReturnType<typeof signingRecords>;
  let registry: RegistryClient;
  before(() => {
    stack = testStack();
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    records = signingRecords(stack);
    registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
  });
  after(async () => {
    await pubsub.close();
    await records.db.terminate();
  });

  test(`${IMAGES} images pushed at once, each message delivered ${1 + EXTRA_DELIVERIES} times`, {
    timeout: 300_000,
  }, async () => {
    const treeSize = async () =>
      ((await (await fetch(`${stack.env.REKOR_URL}/api/v1/log`)).json()) as { treeSize: number }).treeSize;
    const sizeBefore = await treeSize();
    const repository = freshRepository('storm');
    const images = Array.from({ length: IMAGES }, (_, i) => ({ i, image: makeOciImage({ tag: `v${i}` }) }));

    // Every push is also published twice more by hand, concurrently with the bridge's own message.
    const topic = pubsub.topic('gcr');
    await inBatches(images, 10, async ({ i, image }) => {
      const message = Buffer.from(
        JSON.stringify({
          action: 'INSERT',
          digest: `${stack.env.REGISTRY}/${repository}@${image.digest}`,
          tag: `${stack.env.REGISTRY}/${repository}:v${i}`,
        }),
      );
      await Promise.all([
        skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repository}:v${i}`),
        ...Array.from({ length: EXTRA_DELIVERIES }, () => topic.publishMessage({ data: message })),
      ]);
    });

    for (const { image } of images) {
      await waitForState(records, `${stack.env.REGISTRY}/${repository}@${image.digest}`, 'attached', 240_000);
    }

    let attempts = 0;
    for (const { image } of images) {
      const ref = { host: stack.env.REGISTRY!, repository, digest: image.digest };
      const sigs = await readCosignSignatures(registry, ref);
      assert.equal(sigs.length, 1, `one cosign signature on ${image.digest}`);
      assert.equal((await logEntriesWithHash(stack, sha256Hex(sigs[0]!.payload))).length, 1);
      const referrers = await listBundleReferrers(registry, ref);
      assert.equal(referrers.descriptors.length, 1, `one bundle referrer on ${image.digest}`);
      const { bundle } = await readBundleReferrer(registry, ref, referrers.descriptors[0]!);
      const payload = Buffer.from(JSON.parse(Buffer.from(bundle).toString()).dsseEnvelope.payload, 'base64');
      assert.equal((await logEntriesWithHash(stack, sha256Hex(payload))).length, 1);
      attempts += (await records.get(`${stack.env.REGISTRY}/${repository}@${image.digest}`))!.attempts;
    }
    assert.equal((await treeSize()) - sizeBefore, IMAGES * 2, 'exactly one log entry per image and format');
    // Every signing finished in its first claimed attempt: the redeliveries found it busy or done.
    assert.equal(attempts, IMAGES);
  });
});
