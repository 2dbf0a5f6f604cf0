/**
 * monitorLog, built from the environment as the function builds it (Firestore state and alerts,
 * the KMS key's identity), following a Rekor v1 log through a shard rotation. The log is a Rekor
 * emulator of this test's own, so the rotation does not move the tree under the other tests.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { PubSub } from '@google-cloud/pubsub';
import { FirestoreAlertStore } from '../../../functions/alerts/firestore-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import { FirestoreMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { appendForeignEntry, appendRogueEntry } from '../../helpers/log-entries.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { stackFirestore, type TestStack, testStack } from '../../helpers/stack.ts';

describe('monitorLog through a Rekor v1 shard rotation, on the local stack', () => {
  let stack: TestStack;
  let ownLog: TestLog;
  const store = stackFirestore();
  let pubsub: PubSub;

  before(async () => {
    stack = testStack();
    ownLog = await startTestLog('monitor-rotation-it');
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
  });
  after(async () => {
    await pubsub.close();
    await ownLog.stop();
  });

  it("alerts the KMS key's entries in the frozen tree's tail and in the new tree; the state follows the new tree", async () => {
    // The stack's environment, not the developer's: a MONITOR_* or SIGSENTRY_* variable of theirs
    // would change what is monitored.
    const env = {
      PATH: process.env.PATH,
      ...stack.env,
      REKOR_URL: ownLog.rekor.url,
      REKOR_PUBLIC_KEY: ownLog.rekor.publicKeyPem,
      REKOR_PUBLIC_KEY_FILE: '',
    };
    const firestore = store.db;
    const deps = await monitorDepsFromEnv(env, { logger: createMemoryLogger(), firestore, pubsub });
    const name = `it-rotation-${crypto.randomBytes(5).toString('hex')}`;
    deps.logs[0]!.name = name;
    const rekor = new RekorV1Client({ baseUrl: ownLog.rekor.url, logKey: ownLog.rekor.publicKeyPem });
    const onOwnLog = { ...stack, env: { ...stack.env, REKOR_URL: ownLog.rekor.url } };

    await appendForeignEntry(rekor);
    assert.equal((await runMonitor(deps)).ok, true);
    const inTail = await appendRogueEntry(onOwnLog, 'just before the rotation');
    await appendForeignEntry(rekor);
    const rotation = ownLog.rekor.rotateV1();
    const inNewTree = await appendRogueEntry(onOwnLog, 'just after the rotation');

    const result = await runMonitor(deps);
    assert.equal(result.ok, true, JSON.stringify(result.logs));
    assert.equal(result.logs[0]?.scanned, 3);
    const alerts = new FirestoreAlertStore(firestore);
    const rogue = (await alerts.list({ open: true }))
      .filter((a) => a.key.startsWith(`rogue-signature:${name}:`))
      .map((a) => a.evidence.logIndex)
      .sort((a, b) => Number(a) - Number(b));
    assert.deepEqual(rogue, [inTail, inNewTree]);
    assert.equal(inNewTree, rotation.frozenTreeSize, 'numbered on from the frozen tree');
    const changed = (await alerts.list({ open: true })).find((a) =>
      a.key.startsWith(`log-tree-changed:${name}:`),
    );
    assert.equal(changed?.severity, 'MEDIUM');
    const state = await new FirestoreMonitorStore(firestore).load(name);
    assert.match(state?.origin ?? '', new RegExp(` - ${rotation.treeId}$`));
    assert.equal(state?.cursor, 1);
    assert.deepEqual(
      state?.previousShards.map((s) => [s.origin.endsWith(` - ${rotation.frozenTreeId}`), s.cursor]),
      [[true, rotation.frozenTreeSize]],
    );
  });
});
