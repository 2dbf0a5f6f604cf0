/**
 * One SIGSENTRY_CONFIG document whose two watch rules sign with two KMS keys, on the local stack:
 * signOnPush's core signs pushes by it (KMS emulator keys, Rekor emulator log), and reverifyImages,
 * built from the same document, verifies each repository's images against its own rule's key only
 * (verdicts in the Firestore emulator). Before, reverifyImages refused such a document outright.
 * The stack's own signOnPush (one key for every repository) is held back for the file, so each
 * image carries only the signatures the test makes.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { KeyManagementServiceClient } from '@google-cloud/kms';
import { PubSub } from '@google-cloud/pubsub';
import { ensureSigningKey } from '../../../emulators/kms/setup.ts';
import { parseGcrMessage } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import type { ReverifySummary } from '../../../functions/reverify/core.ts';
import { createReverifyFromConfig, type ReverifyRuntime } from '../../../functions/reverify/from-env.ts';
import { KEPT_KEYS_COLLECTION, keptKeyDocumentId } from '../../../functions/reverify/kept-keys.ts';
import { keyAlertKey } from '../../../functions/reverify/key-alerts.ts';
import { TAGS_COLLECTION, tagDocumentId } from '../../../functions/reverify/store.ts';
import { createSignOnPush } from '../../../functions/sign-on-push/core.ts';
import { signOnPushDepsFromEnv } from '../../../functions/sign-on-push/from-env.ts';
import { createKmsClient } from '../../../functions/signing/kms-client.ts';
import { kmsPublicKey } from '../../../functions/signing/kms-signer.ts';
import { setKeyVersionState } from '../../helpers/kms.ts';
import { makeOciImage } from '../../helpers/oci-layout.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { skopeoCopy } from '../../helpers/skopeo.ts';
import { freshRepository, stackFirestore, type TestStack, testStack } from '../../helpers/stack.ts';

describe('reverifyImages with a key per watch rule, on the local stack', () => {
  const firestore = stackFirestore();
  const alerts = new RecordingAlertSink();
  const repositoryA = freshRepository('rule-key-a');
  const repositoryB = freshRepository('rule-key-b');
  let stack: TestStack;
  let kms: KeyManagementServiceClient;
  let pubsub: PubSub;
  let keyA: string;
  let keyB: string;
  const subscription = () => pubsub.subscription('signOnPush-gcr');
  const ref = (repository: string, tag: string) => `${stack.env.REGISTRY}/${repository}:${tag}`;

  before(async () => {
    stack = testStack();
    process.env.KMS_ENDPOINT = stack.env.KMS_ENDPOINT;
    kms = createKmsClient({ endpoint: stack.env.KMS_ENDPOINT! });
    keyA = stack.env.KMS_KEY!;
    // A key of this run's own, so disabling it touches nothing else.
    keyB = await ensureSigningKey(kms, {
      project: stack.env.GCP_PROJECT!,
      location: 'global',
      keyRing: 'sigsentry',
      key: `rule-key-b-${crypto.randomBytes(4).toString('hex')}`,
      algorithm: 'EC_SIGN_P256_SHA256',
    });
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    // Pushes made meanwhile wait on Pub/Sub, delivered (and signed with the stack's key) after the file.
    await subscription().modifyPushConfig({});
  });
  after(async () => {
    await subscription().modifyPushConfig({
      pushEndpoint: `${stack.env.FUNCTIONS_URL}/projects/${stack.env.GCP_PROJECT}/topics/gcr`,
    });
    await pubsub.close();
    await kms.close();
  });

  /** The environment of a deployment configured by one document watching these rules. */
  const documentEnv = (watch: Array<{ repositories: string; key: string }>) => ({
    ...process.env,
    ...stack.env,
    SIGSENTRY_CONFIG: JSON.stringify({
      project: stack.env.GCP_PROJECT,
      watch,
      log: { kind: 'rekor-v1', url: stack.env.REKOR_URL },
    }),
  });
  const twoRules = () => [
    { repositories: `${stack.env.REGISTRY}/${repositoryA}`, key: keyA },
    { repositories: `${stack.env.REGISTRY}/${repositoryB}`, key: keyB },
  ];

  /** Pushes an image and signs it with signOnPush's core configured by the document of `watch`. */
  async function pushSigned(repository: string, tag: string, watch: ReturnType<typeof twoRules>) {
    const image = makeOciImage({ tag });
    await skopeoCopy(image.source, `docker://${stack.env.REGISTRY}/${repository}:${tag}`);
    const notification = parseGcrMessage(
      Buffer.from(
        JSON.stringify({
          action: 'INSERT',
          digest: `${stack.env.REGISTRY}/${repository}@${image.digest}`,
          tag: ref(repository, tag),
        }),
      ),
    );
    const signOnPush = createSignOnPush(signOnPushDepsFromEnv(documentEnv(watch)));
    const result = await signOnPush.sign(notification, createMemoryLogger());
    assert.equal(result.outcome, 'signed', JSON.stringify(result));
  }

  // Built once, as a function instance builds it: the keys' public keys are read from KMS then.
  let runtime: ReverifyRuntime | undefined;
  const pass = async (): Promise<ReverifySummary> => {
    runtime ??= await createReverifyFromConfig(loadReverifyConfig(documentEnv(twoRules())), {
      alerts,
      logger: createMemoryLogger(),
      firestore: firestore.db,
    });
    const summary = await runtime.run();
    assert.deepEqual(summary.errors, []);
    return summary;
  };
  const statusOf = (summary: ReverifySummary, r: string) => summary.outcomes.find((o) => o.ref === r)?.status;
  const recordedKeys = async (r: string) => {
    const doc = await firestore.db.collection(TAGS_COLLECTION).doc(tagDocumentId(r)).get();
    const findings = doc.data()!.findings as Array<{ keyVersion?: string; keyState?: string }>;
    return [...new Set(findings.map((f) => `${f.keyVersion} ${f.keyState}`))];
  };

  it("passes each repository's images signed with its rule's key, and reports an image of B signed with A's key as unsigned", async () => {
    await pushSigned(repositoryA, 'signed-a', twoRules());
    await pushSigned(repositoryB, 'signed-b', twoRules());
    // Signed as if `B` were A's: a signature by another rule's key.
    await pushSigned(repositoryB, 'signed-a', [
      { repositories: `${stack.env.REGISTRY}/${repositoryB}`, key: keyA },
    ]);

    const summary = await pass();
    assert.equal(summary.tags, 3);
    assert.equal(statusOf(summary, ref(repositoryA, 'signed-a')), 'valid');
    assert.equal(statusOf(summary, ref(repositoryB, 'signed-b')), 'valid');
    assert.equal(statusOf(summary, ref(repositoryB, 'signed-a')), 'unsigned');
    assert.deepEqual(await recordedKeys(ref(repositoryA, 'signed-a')), [`${keyA} ENABLED`]);
    assert.deepEqual(await recordedKeys(ref(repositoryB, 'signed-b')), [`${keyB} ENABLED`]);

    assert.deepEqual(alerts.openKinds(ref(repositoryB, 'signed-a')), ['unsigned-image']);
    const raised = [...alerts.open.values()].find((a) => a.subject === ref(repositoryB, 'signed-a'))!;
    assert.equal(raised.severity, 'HIGH');
    assert.deepEqual(alerts.openKinds(ref(repositoryA, 'signed-a')), []);
    assert.deepEqual(alerts.openKinds(ref(repositoryB, 'signed-b')), []);
  });

  it("checks the state of the second rule's key version in KMS", async () => {
    await setKeyVersionState(kms, keyB, 'DISABLED');
    try {
      const summary = await pass();
      assert.equal(statusOf(summary, ref(repositoryB, 'signed-b')), 'key-disabled');
      assert.equal(statusOf(summary, ref(repositoryA, 'signed-a')), 'valid');
      assert.deepEqual(alerts.openKinds(ref(repositoryB, 'signed-b')), ['key-disabled']);
    } finally {
      await setKeyVersionState(kms, keyB, 'ENABLED');
    }
    assert.equal(statusOf(await pass(), ref(repositoryB, 'signed-b')), 'valid');
    assert.deepEqual(alerts.openKinds(ref(repositoryB, 'signed-b')), []);
  });

  const keptDoc = () => firestore.db.collection(KEPT_KEYS_COLLECTION).doc(keptKeyDocumentId(keyB));
  /** A runtime built now, as a function instance starting while key B is disabled builds it. */
  const freshPass = async (logger = createMemoryLogger()) => {
    const fresh = await createReverifyFromConfig(loadReverifyConfig(documentEnv(twoRules())), {
      alerts,
      logger,
      firestore: firestore.db,
    });
    return { fresh, summary: await fresh.run() };
  };

  it("keeps the public key of each rule's key version in Firestore, as KMS gave it", async () => {
    const kept = (await keptDoc().get()).data();
    const given = await kmsPublicKey(kms, keyB);
    assert.equal(kept?.['keyVersion'], keyB);
    assert.equal(kept?.['pem'], given.pem);
    assert.equal(kept?.['algorithm'], 'EC_SIGN_P256_SHA256');
    assert.ok(Number.isFinite(Date.parse(kept?.['readAt'])), JSON.stringify(kept));
    const keptA = await firestore.db.collection(KEPT_KEYS_COLLECTION).doc(keptKeyDocumentId(keyA)).get();
    assert.equal(keptA.data()?.['keyVersion'], keyA);
  });

  it("a fresh instance built while the second rule's key version is disabled reports its images key-disabled with the kept key", async () => {
    const logger = createMemoryLogger();
    await setKeyVersionState(kms, keyB, 'DISABLED');
    let summary: ReverifySummary;
    try {
      ({ summary } = await freshPass(logger));
    } finally {
      await setKeyVersionState(kms, keyB, 'ENABLED');
    }
    assert.deepEqual(summary.errors, []);
    assert.equal(statusOf(summary, ref(repositoryA, 'signed-a')), 'valid');
    // As an instance that read the key before it was disabled reports it, not `unsigned`.
    assert.equal(statusOf(summary, ref(repositoryB, 'signed-b')), 'key-disabled');
    assert.equal(statusOf(summary, ref(repositoryB, 'signed-a')), 'unsigned');
    assert.deepEqual(alerts.openKinds(ref(repositoryB, 'signed-b')), ['key-disabled']);
    assert.deepEqual(await recordedKeys(ref(repositoryB, 'signed-b')), [`${keyB} DISABLED`]);
    assert.deepEqual(summary.keysNotEnabled, [{ keyVersion: keyB, state: 'DISABLED', trusted: true }]);
    const keyAlert = alerts.open.get(keyAlertKey(keyB));
    assert.equal(keyAlert?.kind, 'key-disabled');
    assert.equal(keyAlert?.evidence['trusted'], true);
    assert.match(keyAlert?.summary ?? '', /is DISABLED.*kept.*key-disabled/);
    const line = logger.entries.find((e) => e.severity === 'ERROR' && e['keyVersion'] === keyB);
    assert.equal(line?.['trusted'], true, JSON.stringify(logger.entries));
  });

  it("without a kept key, a fresh instance built while the second rule's key version is disabled reports its images unsigned, and heals when it is enabled", async () => {
    const logger = createMemoryLogger();
    await keptDoc().delete();
    await setKeyVersionState(kms, keyB, 'DISABLED');
    let fresh: ReverifyRuntime;
    let summary: ReverifySummary;
    try {
      ({ fresh, summary } = await freshPass(logger));
    } finally {
      await setKeyVersionState(kms, keyB, 'ENABLED');
    }
    assert.deepEqual(summary.errors, []);
    assert.equal(statusOf(summary, ref(repositoryA, 'signed-a')), 'valid');
    assert.equal(statusOf(summary, ref(repositoryB, 'signed-b')), 'unsigned');
    assert.deepEqual(alerts.openKinds(ref(repositoryB, 'signed-b')), ['unsigned-image']);
    assert.deepEqual(alerts.openKinds(ref(repositoryA, 'signed-a')), []);
    assert.deepEqual(summary.keysNotEnabled, [{ keyVersion: keyB, state: 'DISABLED', trusted: false }]);
    const keyAlert = alerts.open.get(keyAlertKey(keyB));
    assert.equal(keyAlert?.kind, 'key-disabled');
    assert.equal(keyAlert?.subject, keyB);
    assert.equal(keyAlert?.evidence['state'], 'DISABLED');
    assert.match(keyAlert?.summary ?? '', /is DISABLED/);
    const line = logger.entries.find((e) => e.severity === 'ERROR' && e['keyVersion'] === keyB);
    assert.equal(line?.['state'], 'DISABLED');
    // Key A is enabled: its alert, if any, is resolved, never raised.
    assert.equal(alerts.open.get(keyAlertKey(keyA)), undefined);
    assert.equal((await keptDoc().get()).exists, false, 'a refused key is not kept');

    const healed = await fresh.run();
    assert.deepEqual(healed.errors, []);
    assert.deepEqual(healed.keysNotEnabled, []);
    assert.equal(statusOf(healed, ref(repositoryB, 'signed-b')), 'valid');
    assert.equal(statusOf(healed, ref(repositoryA, 'signed-a')), 'valid');
    assert.deepEqual(alerts.openKinds(ref(repositoryB, 'signed-b')), []);
    assert.equal(alerts.open.get(keyAlertKey(keyB)), undefined, 'the key alert is resolved');
    assert.ok(alerts.calls.some((c) => c.op === 'resolve' && c.key === keyAlertKey(keyB)));
    assert.equal((await keptDoc().get()).data()?.['keyVersion'], keyB, 'kept again once KMS gives it');
  });
});
