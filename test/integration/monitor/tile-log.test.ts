/**
 * monitorLog on the stack's tile log (Rekor v2, C2SP tlog-tiles), built from the environment as the
 * function builds it with REKOR_API=v2: state and alerts in the Firestore emulator, fan-out shards
 * over the Pub/Sub emulator. Each test monitors under its own log name.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { FirestoreAlertStore } from '../../../functions/alerts/firestore-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { type MonitorDeps, runMonitor } from '../../../functions/monitor-log/core.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import { FirestoreMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV2Client } from '../../../functions/tlog/client/rekor-v2.ts';
import { appendV2Entry, kmsRogueSigner } from '../../helpers/log-entries.ts';
import { runFanOutToEnd } from '../../helpers/shard-messages.ts';
import { type TestStack, testStack } from '../../helpers/stack.ts';

describe('monitorLog on the local stack’s tile log (Rekor v2)', () => {
  let stack: TestStack;
  let firestore: Firestore;
  let pubsub: PubSub;
  let env: NodeJS.ProcessEnv;
  let log: RekorV2Client;
  let rogue: Awaited<ReturnType<typeof kmsRogueSigner>>;
  const logger = createMemoryLogger();

  before(async () => {
    stack = testStack();
    firestore = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
    const publicKey = fs.readFileSync(stack.env.REKOR_V2_PUBLIC_KEY_FILE!, 'utf8');
    env = { ...process.env, ...stack.env, REKOR_API: 'v2', REKOR_PUBLIC_KEY: publicKey };
    log = new RekorV2Client({ baseUrl: stack.env.REKOR_URL!, logKey: publicKey });
    rogue = await kmsRogueSigner(stack);
  });
  after(async () => {
    await pubsub.close();
    await firestore.terminate();
  });

  async function monitor(extra: NodeJS.ProcessEnv = {}): Promise<{ deps: MonitorDeps; name: string }> {
    const deps = await monitorDepsFromEnv({ ...env, ...extra }, { logger, firestore, pubsub });
    const name = `it-v2-${crypto.randomBytes(5).toString('hex')}`;
    deps.logs[0]!.name = name;
    return { deps, name };
  }
  const state = (name: string) => new FirestoreMonitorStore(firestore).load(name);
  const rogueAlerts = async (name: string) =>
    (await new FirestoreAlertStore(firestore).list({ open: true })).filter((a) =>
      a.key.startsWith(`rogue-signature:${name}:`),
    );

  it('alerts on a signature by the organisation’s KMS key that sigsentry did not make, once; entries by other keys are not alerted', async () => {
    const { deps, name } = await monitor();
    await runMonitor(deps); // the first run starts at the head
    const start = (await state(name))!.cursor;
    for (let i = 0; i < 3; i++) await appendV2Entry(log);
    const rogueIndex = await appendV2Entry(log, rogue);
    for (let i = 0; i < 3; i++) await appendV2Entry(log);

    const result = await runMonitor(deps);
    assert.equal(result.ok, true, JSON.stringify(result.logs));
    assert.equal(result.logs[0]?.scanned, 7);
    assert.equal((await state(name))!.cursor, start + 7);
    const alerts = await rogueAlerts(name);
    assert.deepEqual(
      alerts.map((a) => a.evidence.logIndex),
      [rogueIndex],
    );
    assert.equal(alerts[0]!.count, 1);

    // A second run over nothing new raises nothing more.
    await runMonitor(deps);
    assert.equal((await rogueAlerts(name))[0]!.count, 1);
  });

  it('a backlog fans out over Pub/Sub into shards across entry bundles; two handlers scan them and the cursor reaches the head', async () => {
    const topicName = `monitor-shards-v2-${crypto.randomBytes(4).toString('hex')}`;
    const [topic] = await pubsub.createTopic(topicName);
    const [shardSub] = await topic.createSubscription(`${topicName}-sub`);
    try {
      const { deps, name } = await monitor({ MONITOR_SHARD_TOPIC: topicName });
      assert.ok(deps.fanOut, 'MONITOR_SHARD_TOPIC turns fan-out on');
      // Shards of 100 entries: their ends fall inside the log's 256-entry bundles.
      deps.limits = { ...deps.limits, fanOutAbove: 200, shardSize: 100 };
      await runMonitor(deps);
      const start = (await state(name))!.cursor;
      const rogueAt = 150;
      let rogueIndex = -1;
      for (let i = 0; i < 300; i++) {
        const index = await appendV2Entry(log, i === rogueAt ? rogue : undefined);
        if (i === rogueAt) rogueIndex = index;
      }

      await runFanOutToEnd({
        deps,
        name,
        start,
        shardSize: 100,
        subscription: shardSub,
        firestore,
        logger,
      });
      const alerts = await rogueAlerts(name);
      assert.deepEqual(
        alerts.map((a) => a.evidence.logIndex),
        [rogueIndex],
      );
      assert.equal(alerts[0]!.count, 1);
    } finally {
      await shardSub.close();
      await shardSub.delete();
      await topic.delete();
    }
  });
});
