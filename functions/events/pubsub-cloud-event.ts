/**
 * The CloudEvent a gen2 function receives for a Pub/Sub message
 * (`google.cloud.pubsub.topic.v1.messagePublished`): `data.message.data` is the base64 payload.
 * `data` is the push request's body, which carries `deliveryAttempt` beside `message` when the
 * subscription has a dead-letter policy (https://cloud.google.com/pubsub/docs/push); it is read when
 * it is there, and its absence (no policy, or a deliverer that leaves it out) changes nothing.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.ts';

export const MESSAGE_PUBLISHED = 'google.cloud.pubsub.topic.v1.messagePublished';

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export const PubsubMessagePublishedSchema = z.object({
  message: z.object({
    data: z.string().regex(BASE64, 'message.data is not base64').optional(),
    attributes: z.record(z.string(), z.string()).optional(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
    publishTime: z.string().optional(),
  }),
  subscription: z.string().optional(),
  // Read on its own (deliveryAttemptOf): a malformed count must not refuse the message it came with.
  deliveryAttempt: z.unknown().optional(),
});

export interface PubsubDelivery {
  messageId: string | undefined;
  publishTime: string | undefined;
  attributes: Record<string, string>;
  data: Buffer;
  /** Which delivery of the message this is (1 for the first), when Pub/Sub says. */
  deliveryAttempt: number | undefined;
}

/** The push body's `deliveryAttempt`, if it is a count (a positive integer); else undefined. */
function deliveryAttemptOf(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isSafeInteger(value) && value > 0 ? value : undefined;
}

export interface CloudEventLike {
  id?: unknown;
  type?: unknown;
  source?: string;
  data?: unknown;
}

export function parsePubsubCloudEvent(event: CloudEventLike): PubsubDelivery {
  if (event.type !== undefined && event.type !== MESSAGE_PUBLISHED) {
    // The type may be any JSON value: describe it without calling its methods.
    const type = typeof event.type === 'string' ? event.type : `of JSON type ${typeof event.type}`;
    throw new InvalidInputError(`unexpected CloudEvent type ${type.slice(0, 200)}`, {
      eventId: typeof event.id === 'string' ? event.id : undefined,
    });
  }
  const parsed = PubsubMessagePublishedSchema.safeParse(event.data);
  if (!parsed.success) {
    throw new InvalidInputError(`CloudEvent is not a Pub/Sub message: ${z.prettifyError(parsed.error)}`, {
      eventId: typeof event.id === 'string' ? event.id : undefined,
    });
  }
  const { message, deliveryAttempt } = parsed.data;
  return {
    messageId:
      message.messageId ?? message.message_id ?? (typeof event.id === 'string' ? event.id : undefined),
    publishTime: message.publishTime,
    attributes: message.attributes ?? {},
    data: Buffer.from(message.data ?? '', 'base64'),
    deliveryAttempt: deliveryAttemptOf(deliveryAttempt),
  };
}
