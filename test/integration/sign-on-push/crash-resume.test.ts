import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import type { Witness } from '@sigstore/sign';
import type { AlertInput, AlertSink } from '../../../functions/alerts/alert.ts';
import { readCosignSignatures } from '../../../functions/attach/cosign-layout.ts';
import { FirestoreSubjectLock } from '../../../functions/attach/firestore-subject-lock.ts';
import { InProcessSubjectLock, NestedSubjectLock } from '../../../functions/attach/lock.ts';
import { listBundleReferrers, readBundleReferrer } from '../../../functions/attach/referrer.ts';
import type { SignatureFormat } from '../../../functions/config/sign-config.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { parseGcrMessage } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import type { Registry } from '../../../functions/registry/registry.ts';
import {
  createSignOnPush,
  SigningExhaustedError,
  SigningInProgressError,
} from '../../../functions/sign-on-push/core.ts';
import { timedLock } from '../../../functions/sign-on-push/dependency-calls.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';
import { makeOciIndex } from '../../helpers/oci-layout.ts';
import { pushSampleImage } from '../../helpers/push.ts';
import { logEntriesWithHash, sha256Hex, signingRecords, waitForState } from '../../helpers/signatures.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, sleep, type TestStack, testStack } from '../../helpers/stack.ts';

/** `real`, its two writes replaced. */
function withWrites(real: Registry, writes: Pick<Registry, 'putBlob' | 'putManifest'>): Registry {
  return {
    resolve: (...a) => real.resolve(...a),
    getManifest: (...a) => real.getManifest(...a),
    deleteManifest: (...a) => real.deleteManifest(...a),
    hasBlob: (...a) => real.hasBlob(...a),
    getBlob: (...a) => real.getBlob(...a),
    listTags: (...a) => real.listTags(...a),
    catalog: (...a) => real.catalog(...a),
    referrers: (...a) => real.referrers(...a),
    ...writes,
  };
}

/** A registry whose writes hang forever (the process "died" there) or fail `failures` times. */
function faultyRegistry(real: Registry, mode: { hangWrites?: boolean; failures?: number }) {
  const seen = { writes: 0 };
  const write =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      seen.writes++;
      if (mode.hangWrites) return new Promise<R>(() => {});
      if ((mode.failures ?? 0) > 0) {
        mode.failures!--;
        throw new DependencyError('registry', 'injected: registry answered 503');
      }
      return fn(...args);
    };
  const registry = withWrites(real, {
    putBlob: write((...a: Parameters<Registry['putBlob']>) => real.putBlob(...a)),
    putManifest: write((...a: Parameters<Registry['putManifest']>) => real.putManifest(...a)),
  });
  return { registry, seen };
}

// The core runs in this process against the real stack (Firestore, KMS, log, registry), with the
// stack's own signOnPush held back by turning its push subscription into a pull one meanwhile.
describe('signOnPush resumes from its Firestore record', () => {
  let stack: TestStack;
  let pubsub: PubSub;
  let records: ReturnType<typeof signingRecords>;
  let real: RegistryClient;
  const env = () => ({ ...process.env, ...stack.env });
  const subscription = () => pubsub.subscription('signOnPush-gcr');

  before(async () => {
    stack = testStack();
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    records = signingRecords(stack);
    real = new RegistryClient({ allowedHosts: [stack.env.REGISTRY!] });
    // Held back for the whole file: pushes made meanwhile are delivered once it is restored.
    await subscription().modifyPushConfig({});
  });
  after(async () => {
    await subscription().modifyPushConfig({
      pushEndpoint: `${stack.env.FUNCTIONS_URL}/projects/${stack.env.GCP_PROJECT}/topics/gcr`,
    });
    await pubsub.close();
    await records.db.terminate();
  });

  const pushImage = () => pushSampleImage(stack, 'resume');

  test('killed after the log write, before the registry write: the redelivery reuses the log entry', async () => {
    const { image, notification, ref } = await pushImage();
    const crashed = faultyRegistry(real, { hangWrites: true });
    const first = createSignOnPush({
      ...signOnPushDepsFromEnv(env()),
      registry: crashed.registry,
      leaseMs: 3000,
    });
    void first.sign(notification, createMemoryLogger()); // never settles: this attempt "died"

    // Wait until the first attempt has logged its bundle and reached the registry write.
    const deadline = Date.now() + 20_000;
    let record = await records.get(image);
    while (!(record?.formats.bundle?.bundle && crashed.seen.writes > 0) && Date.now() < deadline) {
      await sleep(100);
      record = await records.get(image);
    }
    const logged = record?.formats.bundle?.bundle as {
      verificationMaterial: { tlogEntries: Array<{ logIndex: string }> };
    };
    assert.ok(logged, 'the first attempt stored its log entry before touching the registry');
    assert.equal((await listBundleReferrers(real, ref)).descriptors.length, 0, 'nothing attached yet');

    const deps = signOnPushDepsFromEnv(env());
    const second = createSignOnPush({
      ...deps,
      // The dead attempt holds the image's attach lease; a killed process stops renewing it, so it
      // runs out within its 30 s. This one only hangs and renews it: the redelivery's clock is past it.
      lock: new NestedSubjectLock(
        new InProcessSubjectLock(),
        new FirestoreSubjectLock(records.db, { now: () => Date.now() + 3_600_000 }),
      ),
    });
    // While the dead attempt's lease lasts, a redelivery is told to come back later.
    await assert.rejects(second.sign(notification, createMemoryLogger()), SigningInProgressError);
    await sleep(3500);
    const result = await second.sign(notification, createMemoryLogger());
    assert.equal(result.outcome, 'signed');

    const done = await waitForState(records, image, 'attached');
    assert.equal(done.attempts, 2);
    const referrers = await listBundleReferrers(real, ref);
    assert.equal(referrers.descriptors.length, 1);
    const attached = JSON.parse(
      Buffer.from((await readBundleReferrer(real, ref, referrers.descriptors[0]!)).bundle).toString(),
    );
    assert.equal(
      attached.verificationMaterial.tlogEntries[0].logIndex,
      logged.verificationMaterial.tlogEntries[0]!.logIndex,
      'the attached bundle carries the log entry made before the crash',
    );
    const payload = Buffer.from(attached.dsseEnvelope.payload, 'base64');
    assert.equal((await logEntriesWithHash(stack, sha256Hex(payload))).length, 1, 'one dsse entry');
    const sigs = await readCosignSignatures(real, ref);
    assert.equal(sigs.length, 1);
    assert.equal(
      (await logEntriesWithHash(stack, sha256Hex(sigs[0]!.payload))).length,
      1,
      'one hashedrekord entry',
    );
  });

  test('a multi-arch index is signed, and each platform manifest when the rule asks', async () => {
    const repository = freshRepository('multiarch');
    const index = makeOciIndex({ tag: 'v1' });
    await skopeoCopy(index.source, `docker://${stack.env.REGISTRY}/${repository}:v1`, { all: true });
    const deps = signOnPushDepsFromEnv(env());
    deps.config.watch = deps.config.watch.map((rule) => ({ ...rule, signPlatformManifests: true }));
    const core = createSignOnPush(deps);
    const gcr = { action: 'INSERT', digest: `${stack.env.REGISTRY}/${repository}@${index.digest}` };
    const result = await core.sign(parseGcrMessage(Buffer.from(JSON.stringify(gcr))), createMemoryLogger());
    assert.equal(result.outcome, 'signed');
    for (const digest of [index.digest, ...index.platforms.map((p) => p.digest)]) {
      await waitForState(records, `${stack.env.REGISTRY}/${repository}@${digest}`, 'attached');
      const sigs = await readCosignSignatures(real, { host: stack.env.REGISTRY!, repository, digest });
      assert.equal(sigs.length, 1, `one signature on ${digest}`);
    }
  });

  test('a platform manifest that cannot be signed is alerted on its own; the index and the other platforms are signed', async () => {
    const repository = freshRepository('multiarch-partial');
    const index = makeOciIndex({ tag: 'v1' });
    await skopeoCopy(index.source, `docker://${stack.env.REGISTRY}/${repository}:v1`, { all: true });
    const raised: AlertInput[] = [];
    const deps = signOnPushDepsFromEnv(env());
    deps.config.watch = deps.config.watch.map((rule) => ({ ...rule, signPlatformManifests: true }));
    deps.config.maxAttempts = 1;
    // The first platform has used its one attempt already (an attempt that died): it is exhausted.
    const [stuck, ...others] = index.platforms.map((p) => `${stack.env.REGISTRY}/${repository}@${p.digest}`);
    await deps.store.claim({ image: stuck!, keyVersion: deps.config.watch[0]!.key }, 'a dead attempt', {
      leaseMs: 1,
      maxAttempts: 1,
    });
    await sleep(10);
    const core = createSignOnPush({
      ...deps,
      alerts: { raise: async (a) => void raised.push(a), resolve: async () => {} },
    });
    const gcr = { action: 'INSERT', digest: `${stack.env.REGISTRY}/${repository}@${index.digest}` };
    const result = await core.sign(parseGcrMessage(Buffer.from(JSON.stringify(gcr))), createMemoryLogger());
    assert.equal(result.outcome, 'signed', 'the index is signed');
    for (const image of [gcr.digest, ...others]) await waitForState(records, image, 'attached');
    assert.equal((await records.get(stuck!))?.state, 'failed');
    assert.deepEqual(
      raised.map((a) => [a.kind, a.subject]),
      [['signing-failed', stuck]],
    );
  });

  test('a digest that keeps failing is given up after maxAttempts, with a signing-failed alert', async () => {
    const { image, notification } = await pushImage();
    const raised: AlertInput[] = [];
    const alerts: AlertSink = { raise: async (a) => void raised.push(a), resolve: async () => {} };
    const deps = signOnPushDepsFromEnv(env());
    deps.config.maxAttempts = 2;
    const core = createSignOnPush({
      ...deps,
      registry: faultyRegistry(real, { failures: 100 }).registry,
      alerts,
    });
    const context = { messageId: 'm', logger: createMemoryLogger() };
    await assert.rejects(core.handle(notification, context), DependencyError);
    await assert.rejects(core.handle(notification, context), DependencyError);
    assert.equal(raised.length, 0, 'no alert while attempts remain');
    await assert.rejects(core.handle(notification, context), SigningExhaustedError);
    assert.equal(raised.length, 1);
    assert.equal(raised[0]?.kind, 'signing-failed');
    assert.equal(raised[0]?.evidence.image, image);
    assert.equal((await records.get(image))?.state, 'failed');
  });

  test('a format added since that keeps failing is given up with one alert naming it; the image stays attached in its old format', async () => {
    const { image, notification, ref } = await pushImage();
    const raised: AlertInput[] = [];
    const alerts: AlertSink = { raise: async (a) => void raised.push(a), resolve: async () => {} };
    const context = { messageId: 'm', logger: createMemoryLogger() };
    const withFormats = (formats: SignatureFormat[]) => {
      const deps = signOnPushDepsFromEnv(env());
      deps.config.watch = deps.config.watch.map((rule) => ({ ...rule, formats }));
      deps.config.maxAttempts = 2;
      return { ...deps, alerts };
    };
    await createSignOnPush(withFormats(['cosign'])).handle(notification, context);
    const cosign = (await waitForState(records, image, 'attached')).formats.cosign;
    assert.equal(cosign?.attached, true);

    // The rule adds the bundle while the log is down.
    let logCalls = 0;
    const downLog: Witness = {
      testify: async () => {
        logCalls++;
        throw new DependencyError('tlog', 'injected: the log answered 503');
      },
    };
    const later = createSignOnPush({ ...withFormats(['bundle', 'cosign']), witness: downLog });
    for (let attempt = 1; attempt <= 2; attempt++) {
      await assert.rejects(later.handle(notification, context), DependencyError);
      assert.equal((await records.get(image))?.state, 'attached', 'attached in cosign meanwhile');
    }
    assert.equal(raised.length, 0, 'no alert while attempts remain');
    await assert.rejects(later.handle(notification, context), SigningExhaustedError);
    const given = await records.get(image);
    assert.equal(given?.state, 'attached');
    assert.deepEqual(given?.failedFormats, ['bundle']);
    assert.deepEqual(given?.formats.cosign, cosign, 'the cosign signature is kept as it was');
    assert.equal(logCalls, 2);
    assert.deepEqual(
      raised.map((a) => [a.kind, a.severity, a.subject, a.evidence.digest, a.evidence.formats]),
      [['signing-failed', 'HIGH', image, ref.digest, ['bundle']]],
    );

    // A later push, the log back: the bundle is attached, its signature the one made first.
    await createSignOnPush(withFormats(['bundle', 'cosign'])).handle(notification, context);
    const done = await waitForState(records, image, 'attached');
    assert.equal(done.formats.bundle?.attached, true);
    assert.equal(done.formats.bundle?.signature, given?.formats.bundle?.signature, 'signed once');
    assert.deepEqual(done.failedFormats, []);
    assert.deepEqual(done.formats.cosign, cosign);
    assert.equal(raised.length, 1, 'no alert on the later push');
    assert.equal((await listBundleReferrers(real, ref)).descriptors.length, 1);
    const sigs = await readCosignSignatures(real, ref);
    assert.equal(sigs.length, 1);
    assert.equal((await logEntriesWithHash(stack, sha256Hex(sigs[0]!.payload))).length, 1);
  });

  test('registry 503s are retried and, once healed, nothing is half-written', async () => {
    const { image, notification, ref } = await pushImage();
    const flaky = faultyRegistry(real, { failures: 3 });
    const core = createSignOnPush({ ...signOnPushDepsFromEnv(env()), registry: flaky.registry });
    let failures = 0;
    for (;;) {
      try {
        await core.sign(notification, createMemoryLogger());
        break;
      } catch (err) {
        assert.ok(err instanceof DependencyError, `a retryable error, not ${err}`);
        failures++;
        assert.ok(failures <= 3, 'bounded');
      }
    }
    assert.equal(failures, 3);
    await waitForState(records, image, 'attached');
    const sigs = await readCosignSignatures(real, ref);
    assert.equal(sigs.length, 1);
    assert.equal((await listBundleReferrers(real, ref)).descriptors.length, 1);
    assert.equal((await logEntriesWithHash(stack, sha256Hex(sigs[0]!.payload))).length, 1);
  });

  test('an attach lease that lapses unrenewed mid-signing replaces no tag; the redelivery signs once', async () => {
    const { image, notification, ref } = await pushImage();
    // The lease's clock leaps past it at the first registry write (renewals that never got
    // through, as with Firestore out of reach): the hold fails its check before any tag is written.
    let leap = 0;
    const tags = new Set<string>();
    const leaping = withWrites(real, {
      putBlob: (...a) => {
        leap = 3_600_000;
        return real.putBlob(...a);
      },
      putManifest: (...a) => {
        tags.add(a[1]);
        return real.putManifest(...a);
      },
    });
    const lapsing = createSignOnPush({
      ...signOnPushDepsFromEnv(env()),
      registry: leaping,
      // As signOnPushDepsFromEnv wires it: the in-process lock around the timed Firestore lease.
      lock: new NestedSubjectLock(
        new InProcessSubjectLock(),
        timedLock(new FirestoreSubjectLock(records.db, { now: () => Date.now() + leap })),
      ),
    });
    await assert.rejects(lapsing.sign(notification, createMemoryLogger()), (err: unknown) => {
      assert.ok(err instanceof DependencyError, `a retryable error, not ${err}`);
      assert.match(err.message, /attach lock on .* is about to lapse/);
      return true;
    });
    assert.deepEqual(
      [...tags].filter((tag) => !tag.startsWith('sha256:')),
      [],
      'no .sig manifest or fallback index was written',
    );
    assert.deepEqual(await readCosignSignatures(real, ref), []);

    const redelivery = createSignOnPush(signOnPushDepsFromEnv(env()));
    assert.equal((await redelivery.sign(notification, createMemoryLogger())).outcome, 'signed');
    await waitForState(records, image, 'attached');
    const sigs = await readCosignSignatures(real, ref);
    assert.equal(sigs.length, 1);
    assert.equal((await listBundleReferrers(real, ref)).descriptors.length, 1);
    assert.equal((await logEntriesWithHash(stack, sha256Hex(sigs[0]!.payload))).length, 1);
  });
});
