/**
 * Bounded retries end in a dead letter, and a dead letter can be replayed: on the local stack a
 * fan-out shard whose log is down is delivered to the served monitorShard exactly
 * MAX_DELIVERY_ATTEMPTS times (infra's max_delivery_attempts), then lands on the dead-letter
 * subscription with the shard untouched; published again once the log is back (infra/README.md,
 * "Dead letters"), it is scanned and the fan-out finishes with nothing skipped.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { type Message, PubSub } from '@google-cloud/pubsub';
import { deadLetterTopicOf, MAX_DELIVERY_ATTEMPTS } from '../../../emulators/stack/stack.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { defaultLogName } from '../../../functions/monitor-log/config.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { MONITOR_SHARD_COLLECTION, type ShardMessage } from '../../../functions/monitor-log/fan-out.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import {
  FirestoreMonitorStore,
  MONITOR_COLLECTION,
  monitorDocumentId,
} from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { linesOf } from '../../helpers/function-instances.ts';
import { appendForeignEntry } from '../../helpers/log-entries.ts';
import { sleep, type TestStack, testStack } from '../../helpers/stack.ts';

describe('a monitor shard that keeps failing', () => {
  let stack: TestStack;
  let firestore: Firestore;
  let pubsub: PubSub;
  const logger = createMemoryLogger();

  before(() => {
    stack = testStack();
    firestore = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
    pubsub = new PubSub({ projectId: stack.env.GCP_PROJECT });
  });
  after(async () => {
    await fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'DELETE' });
    await pubsub.close();
    await firestore.terminate();
  });

  const faults = (f: Record<string, unknown>) =>
    fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'POST', body: JSON.stringify(f) }).then((r) =>
      assert.equal(r.status, 200),
    );

  it(`is delivered ${MAX_DELIVERY_ATTEMPTS} times, dead-lettered untouched, and scanned once replayed`, {
    timeout: 240_000,
  }, async () => {
    const env = {
      ...process.env,
      ...stack.env,
      REKOR_PUBLIC_KEY: fs.readFileSync(stack.env.REKOR_PUBLIC_KEY_FILE!, 'utf8'),
    };
    // The served function monitors the log under its configured name: start that log afresh.
    const deps = await monitorDepsFromEnv(env, { logger, firestore, pubsub });
    const name = defaultLogName(stack.env.REKOR_URL!);
    assert.equal(deps.logs[0]!.name, name);
    await firestore.collection(MONITOR_COLLECTION).doc(monitorDocumentId(name)).delete();
    deps.limits = { ...deps.limits, fanOutAbove: 5, shardSize: 4 };
    assert.equal((await runMonitor(deps)).ok, true);
    const rekor = new RekorV1Client({ baseUrl: stack.env.REKOR_URL!, logKey: env.REKOR_PUBLIC_KEY });
    for (let i = 0; i < 8; i++) await appendForeignEntry(rekor);

    // Hold the served function's deliveries back while the plan is made and the log goes down.
    const shardSubscription = pubsub.subscription('monitorShard-monitor-shards');
    const [metadata] = await shardSubscription.getMetadata();
    const pushEndpoint = metadata.pushConfig!.pushEndpoint!;
    assert.equal(metadata.deadLetterPolicy?.maxDeliveryAttempts, MAX_DELIVERY_ATTEMPTS);
    const logFile = stack.functionLog('monitorShard');
    const logFrom = fs.statSync(logFile).size;
    await shardSubscription.modifyPushConfig({});
    let plan: NonNullable<Awaited<ReturnType<FirestoreMonitorStore['load']>>>['fanOut'];
    try {
      const planned = await runMonitor(deps);
      assert.equal(planned.logs[0]?.outcome, 'fanned-out', JSON.stringify(planned.logs));
      plan = (await new FirestoreMonitorStore(firestore).load(name))!.fanOut!;
      await faults({ errorStatus: 503 });
    } finally {
      await shardSubscription.modifyPushConfig({ pushEndpoint });
    }
    const shardCount = Math.ceil((plan.end - plan.start) / 4);

    const deadLetters: Message[] = [];
    const deadLetterSubscription = pubsub.subscription(deadLetterTopicOf('monitor-shards'));
    deadLetterSubscription.on('message', (m: Message) => {
      deadLetters.push(m);
      m.ack();
    });
    try {
      const mine = () =>
        deadLetters.filter((m) => (JSON.parse(m.data.toString()) as ShardMessage).plan === plan.id);
      for (const deadline = Date.now() + 200_000; mine().length < shardCount; await sleep(250)) {
        if (Date.now() > deadline)
          throw new Error(`only ${mine().length} of ${shardCount} shards dead-lettered`);
      }
      // Each shard was tried exactly MAX_DELIVERY_ATTEMPTS times by the served function, then given up.
      const failures = linesOf({ logFile, from: logFrom }).entries.filter(
        (e) => e.message === 'monitor shard failed; Pub/Sub will redeliver' && e['plan'] === plan.id,
      );
      for (const message of mine()) {
        const shard = JSON.parse(message.data.toString()) as ShardMessage;
        assert.equal(
          message.attributes['CloudPubSubDeadLetterSourceDeliveryCount'],
          String(MAX_DELIVERY_ATTEMPTS),
        );
        assert.equal(
          failures.filter((e) => e['start'] === shard.start).length,
          MAX_DELIVERY_ATTEMPTS,
          `deliveries of shard ${shard.start}`,
        );
      }
      // Nothing was skipped: every shard is still pending at its start, and the log's cursor waits.
      const records = await firestore.collection(MONITOR_SHARD_COLLECTION).where('plan', '==', plan.id).get();
      assert.equal(records.size, shardCount);
      for (const r of records.docs) {
        assert.equal(r.get('state'), 'pending');
        assert.equal(r.get('cursor'), r.get('start'));
      }
      assert.equal((await new FirestoreMonitorStore(firestore).load(name))?.fanOut?.id, plan.id);

      // The log is back: the documented replay publishes each dead letter's data to monitor-shards.
      await fetch(`${stack.env.REKOR_URL}/__faults`, { method: 'DELETE' });
      for (const message of mine())
        await pubsub.topic('monitor-shards').publishMessage({ data: message.data });
      for (const deadline = Date.now() + 60_000; ; await sleep(250)) {
        const pending = await firestore
          .collection(MONITOR_SHARD_COLLECTION)
          .where('plan', '==', plan.id)
          .where('state', '==', 'done')
          .get();
        if (pending.size === shardCount) break;
        if (Date.now() > deadline) throw new Error('the replayed shards were not scanned');
      }
      const closed = await runMonitor(deps);
      assert.equal(closed.ok, true, JSON.stringify(closed.logs));
      const state = await new FirestoreMonitorStore(firestore).load(name);
      assert.equal(state?.fanOut, undefined);
      assert.ok(state!.cursor >= plan.end, `the cursor moved over the whole plan (${state!.cursor})`);
    } finally {
      await deadLetterSubscription.close();
    }
  });
});
