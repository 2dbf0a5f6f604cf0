/**
 * The `monitorShard` CloudEvent handler: one Pub/Sub message per fan-out shard. A message that can
 * never be valid is acknowledged with an error line (no retry storm); a shard that failed on a
 * dependency throws, so Pub/Sub redelivers it with backoff and dead-letters it in the end. A lying
 * log is not a retry matter: the alert is raised and the shard stays unfinished.
 */
import { z } from 'zod';
import { InvalidInputError, isRetryable } from '../errors.ts';
import { type CloudEventLike, parsePubsubCloudEvent } from '../events/pubsub-cloud-event.ts';
import type { Logger } from '../logging/logger.ts';
import type { ShardRunResult } from './core.ts';
import { type ShardMessage, ShardMessageSchema } from './fan-out.ts';

export function parseShardMessage(data: Buffer): ShardMessage {
  let json: unknown;
  try {
    json = JSON.parse(data.toString('utf8'));
  } catch (err) {
    throw new InvalidInputError('monitor shard message is not JSON', {}, err);
  }
  const parsed = ShardMessageSchema.safeParse(json);
  if (!parsed.success) {
    throw new InvalidInputError(`monitor shard message is malformed: ${z.prettifyError(parsed.error)}`);
  }
  return parsed.data;
}

export function createMonitorShardEntry(deps: {
  logger: Logger;
  run(message: ShardMessage): Promise<ShardRunResult>;
}) {
  return async (event: CloudEventLike): Promise<void> => {
    let message: ShardMessage;
    const eventId = typeof event.id === 'string' ? event.id : undefined;
    try {
      message = parseShardMessage(parsePubsubCloudEvent(event).data);
    } catch (err) {
      const invalid =
        err instanceof InvalidInputError ? err : new InvalidInputError('shard delivery unreadable', {}, err);
      deps.logger.error(`rejected monitor shard message: ${invalid.message}`, {
        eventId,
        error: invalid.toJSON(),
      });
      return;
    }
    const result = await deps.run(message);
    if (result.outcome === 'failed' && isRetryable(result.error)) {
      // Pub/Sub redelivers; the shard resumes from its saved cursor. One line per failed delivery,
      // so the deliveries before a dead letter can be counted.
      deps.logger.error('monitor shard failed; Pub/Sub will redeliver', {
        ...message,
        eventId,
        cursor: result.cursor,
        error: result.error,
      });
      throw result.error;
    }
  };
}
