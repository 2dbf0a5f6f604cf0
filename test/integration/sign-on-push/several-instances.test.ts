import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { waitFor } from '../../../emulators/stack/ports.ts';
import { groupAlive } from '../../../emulators/stack/processes.ts';
import { CRASH_LINE } from '../../../emulators/stack/stack.ts';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { listBundleReferrers, readBundleReferrer } from '../../../functions/attach/referrer.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { type FunctionInstance, linesOf, startExtraInstances } from '../../helpers/function-instances.ts';
import { pushSampleImage } from '../../helpers/push.ts';
import { logEntriesWithHash, sha256Hex, signingRecords, waitForState } from '../../helpers/signatures.ts';
import { type TestStack, testStack } from '../../helpers/stack.ts';

const IMAGES = 8;
const EXTRA_INSTANCES = ['b', 'c'] as const;

/**
 * What each instance did with each image: deliveries received, told the lease is busy, failed
 * (retryable, so redelivered), refused (acknowledged, never retried), signed.
 */
function tally(instances: FunctionInstance[], images: string[]) {
  const wanted = new Set(images);
  const counts = new Map<
    string,
    Map<string, { received: number; busy: number; failed: number; refused: number; signed: number }>
  >();
  for (const image of images) {
    counts.set(
      image,
      new Map(instances.map((i) => [i.name, { received: 0, busy: 0, failed: 0, refused: 0, signed: 0 }])),
    );
  }
  for (const instance of instances) {
    for (const e of linesOf(instance).entries) {
      const image = typeof e['image'] === 'string' ? e['image'] : undefined;
      if (!image || !wanted.has(image)) continue;
      const c = counts.get(image)!.get(instance.name)!;
      if (e.message === 'received gcr event') c.received++;
      else if (e.message?.startsWith('another attempt is signing this image')) c.busy++;
      else if (e.message?.startsWith('signing attempt failed')) c.failed++;
      else if (e.message === 'refused gcr event') c.refused++;
      else if (e.message === 'image signed') c.signed++;
    }
  }
  return counts;
}

// Every `gcr` message goes to three separate Functions Framework processes serving signOnPush:
// the stack's own, fed by `signOnPush-gcr`, and two started here, each fed by its own push
// subscription on `gcr`. Each process is its own instance (its pid names its leases), sharing only
// Firestore, KMS, the log and the registry: a redelivery storm across real instances.
describe('several signOnPush instances receive every push at once', () => {
  let stack: TestStack;
  let pubsub: PubSub;
  let records: ReturnType<typeof signingRecords>;
  let registry: RegistryClient;
  let instances: FunctionInstance[] = [];
  let stopInstances: (() => Promise<void>) | undefined;

  before(async () => {
    stack = testStack();
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    records = signingRecords(stack);
    registry = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });

    ({ instances, stop: stopInstances } = await startExtraInstances(
      stack,
      pubsub,
      'signOnPush',
      EXTRA_INSTANCES,
    ));
  });

  after(async () => {
    await stopInstances?.();
    await pubsub?.close();
    await records?.db.terminate();
  });

  test(`${IMAGES} pushes, each delivered to ${1 + EXTRA_INSTANCES.length} processes, signed once each`, {
    timeout: 90_000,
  }, async (t) => {
    const treeSize = async () =>
      ((await (await fetch(`${stack.env.REKOR_URL}/api/v1/log`)).json()) as { treeSize: number }).treeSize;
    const sizeBefore = await treeSize();
    const pushed = await Promise.all(
      Array.from({ length: IMAGES }, () => pushSampleImage(stack, 'instances')),
    );
    const images = pushed.map((p) => p.image);
    for (const image of images) await waitForState(records, image, 'attached', 45_000);

    // Let the deliveries settle: every process has acknowledged every image (its last delivery
    // neither found the lease busy nor failed), and no new delivery arrived for 2 s. Past the
    // timeout the assertions below show which process did not acknowledge which image.
    const acknowledged = (c: { received: number; busy: number; failed: number }) =>
      c.received > c.busy + c.failed;
    let counts = tally(instances, images);
    let lastReceived = -1;
    let quietSince = Date.now();
    await waitFor(
      'every process to acknowledge every image',
      async () => {
        counts = tally(instances, images);
        const received = [...counts.values()]
          .flatMap((m) => [...m.values()])
          .reduce((n, c) => n + c.received, 0);
        if (received !== lastReceived) {
          lastReceived = received;
          quietSince = Date.now();
        }
        const settled = [...counts.values()].every((m) => [...m.values()].every(acknowledged));
        return settled && Date.now() - quietSince >= 2000;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    ).catch(() => {});

    // No process died or met an unhandled rejection (the Functions Framework logs either, then exits).
    for (const instance of instances) {
      assert.ok(groupAlive(instance.pid), `${instance.name} (pid ${instance.pid}) is still running`);
      const { text } = linesOf(instance);
      assert.doesNotMatch(text, CRASH_LINE, `${instance.name} crashed`);
    }

    // What each image ended with, read from the registry, the log and Firestore; all images are
    // compared at once so that a failure shows every image that went wrong.
    const names = instances.map((i) => i.name).sort();
    let busyElsewhere = 0;
    const facts = [];
    for (const { image, ref } of pushed) {
      const perInstance = counts.get(image)!;
      const signers = [...perInstance].filter(([, c]) => c.signed > 0).map(([name]) => name);
      for (const [name, c] of perInstance) if (!signers.includes(name)) busyElsewhere += c.busy;
      const sigs = await readCosignSignatures(registry, ref);
      let hashedrekordEntries = 0;
      for (const sig of sigs)
        hashedrekordEntries += (await logEntriesWithHash(stack, sha256Hex(sig.payload))).length;
      const referrers = (await listBundleReferrers(registry, ref)).descriptors;
      let dsseEntries = 0;
      for (const descriptor of referrers) {
        const { bundle } = await readBundleReferrer(registry, ref, descriptor);
        const payload = Buffer.from(
          JSON.parse(Buffer.from(bundle).toString()).dsseEnvelope.payload,
          'base64',
        );
        dsseEntries += (await logEntriesWithHash(stack, sha256Hex(payload))).length;
      }
      const record = await records.get(image);
      facts.push({
        image,
        // The race really happened: the push reached every process, and only one of them signed.
        receivedBy: [...perInstance]
          .filter(([, c]) => c.received > 0)
          .map(([name]) => name)
          .sort(),
        acknowledgedBy: [...perInstance]
          .filter(([, c]) => acknowledged(c))
          .map(([name]) => name)
          .sort(),
        refusals: [...perInstance.values()].reduce((n, c) => n + c.refused, 0),
        signings: [...perInstance.values()].reduce((n, c) => n + c.signed, 0),
        cosignSignatures: sigs.length,
        hashedrekordEntries,
        bundleReferrers: referrers.length,
        dsseEntries,
        record: { state: record?.state, attempts: record?.attempts },
        deliveries: Object.fromEntries(perInstance),
      });
    }
    const expected = facts.map(({ image, deliveries }) => ({
      image,
      receivedBy: names,
      acknowledgedBy: names,
      refusals: 0,
      signings: 1,
      cosignSignatures: 1,
      hashedrekordEntries: 1,
      bundleReferrers: 1,
      dsseEntries: 1,
      // Signed in its first claimed attempt: every other delivery found it busy or done.
      record: { state: 'attached', attempts: 1 },
      deliveries,
    }));
    assert.deepEqual(facts, expected);
    // Two log entries per image (hashedrekord and DSSE), none orphaned by a losing instance.
    assert.equal((await treeSize()) - sizeBefore, IMAGES * 2, 'exactly one log entry per image and format');
    // At least once, a process was refused the lease another process held: they overlapped.
    assert.ok(busyElsewhere > 0, 'no delivery ever found another process signing the same image');

    const signedBy: Record<string, number> = {};
    for (const perInstance of counts.values()) {
      for (const [name, c] of perInstance) if (c.signed) signedBy[name] = (signedBy[name] ?? 0) + 1;
    }
    t.diagnostic(
      `images signed by ${JSON.stringify(signedBy)}; ${busyElsewhere} deliveries found another process signing`,
    );
  });
});
