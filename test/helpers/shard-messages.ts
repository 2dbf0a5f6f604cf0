/** Fan-out shard messages handled in the test process, as monitorShard instances would handle them. */
import type { Message, Subscription } from '@google-cloud/pubsub';
import type { Logger } from '../../functions/logging/logger.ts';
import { type MonitorDeps, runMonitorShard } from '../../functions/monitor-log/core.ts';
import { createMonitorShardEntry } from '../../functions/monitor-log/shard-entry.ts';
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
