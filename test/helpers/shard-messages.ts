/** Fan-out shard messages handled in the test process, as monitorShard instances would handle them. */
import assert from 'node:assert/strict';
import type { Firestore } from '@google-cloud/firestore';
import type { Message, Subscription } from '@google-cloud/pubsub';
import type { Logger } from '../../functions/logging/logger.ts';
import { type MonitorDeps, runMonitor, runMonitorShard } from '../../functions/monitor-log/core.ts';
import { MONITOR_SHARD_COLLECTION } from '../../functions/monitor-log/fan-out.ts';
import { createMonitorShardEntry } from '../../functions/monitor-log/shard-entry.ts';
import { FirestoreMonitorStore } from '../../functions/monitor-log/state.ts';
import { sleep } from './stack.ts';

/**
 * Feeds each message of `subscription` to monitorShard's entry point (concurrently, as several
 * instances would) and acknowledges it once handled; resolves when `count` messages were.
 */
export async function handleShardMessages(
  subscription: Subscription,
  deps: MonitorDeps,
  logger: Logger,
  count: number,
  timeoutMs = 30_000,
): Promise<void> {
  const handler = createMonitorShardEntry({ logger, run: (m) => runMonitorShard(deps, m) });
  const handled: Array<Promise<void>> = [];
  subscription.on('message', (m: Message) => {
    handled.push(
      handler({
        id: m.id,
        type: 'google.cloud.pubsub.topic.v1.messagePublished',
        data: { message: { data: m.data.toString('base64'), messageId: m.id } },
      }).then(() => m.ack()),
    );
  });
  for (const deadline = Date.now() + timeoutMs; handled.length < count; await sleep(100)) {
    if (Date.now() > deadline) throw new Error(`${handled.length} of ${count} shard messages arrived`);
  }
  await Promise.all(handled);
}

/**
 * A fan-out from `start` run to its end, as the scheduler and the shard instances would: a run
 * that plans it (one message per `shardSize` entries, published on the topic `subscription`
 * reads), the shard messages handled here, and a run that closes it. Asserts each step: the plan,
 * its messages, and at the end the cursor at the plan's end with no shard record left.
 */
export async function runFanOutToEnd(opts: {
  deps: MonitorDeps;
  name: string;
  start: number;
  shardSize: number;
  subscription: Subscription;
  firestore: Firestore;
  logger: Logger;
}): Promise<void> {
  const { deps, name } = opts;
  const state = () => new FirestoreMonitorStore(opts.firestore).load(name);
  const planned = await runMonitor(deps);
  assert.equal(planned.logs[0]?.outcome, 'fanned-out', JSON.stringify(planned.logs));
  const plan = (await state())!.fanOut!;
  assert.equal(plan.start, opts.start);
  const shards = Math.ceil((plan.end - plan.start) / opts.shardSize);
  assert.equal(planned.logs[0]?.dispatched, shards);

  await handleShardMessages(opts.subscription, deps, opts.logger, shards);

  const finished = await runMonitor(deps);
  assert.equal(finished.ok, true, JSON.stringify(finished.logs));
  const after = (await state())!;
  assert.equal(after.fanOut, undefined);
  assert.ok(after.cursor >= plan.end, `cursor ${after.cursor} reached the plan's end ${plan.end}`);
  const left = await opts.firestore.collection(MONITOR_SHARD_COLLECTION).where('log', '==', name).get();
  assert.equal(left.size, 0, 'shard records are removed');
}
