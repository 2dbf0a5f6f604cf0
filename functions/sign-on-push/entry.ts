/**
 * The `signOnPush` CloudEvent handler: parse the Pub/Sub delivery and the `gcr` message, then hand
 * the notification to the core. Bad input is acknowledged with one structured error line: the
 * Pub/Sub emulator redelivers a failed push about once a second, so throwing on input that can
 * never become valid would be a retry storm. Everything else is rethrown so Pub/Sub retries.
 */
import { InvalidInputError, isRetryable, SigsentryError } from '../errors.ts';
import { type GcrNotification, parseGcrMessage } from '../events/gcr-message.ts';
import { type CloudEventLike, parsePubsubCloudEvent } from '../events/pubsub-cloud-event.ts';
import type { Logger } from '../logging/logger.ts';

export interface NotificationHandler {
  handle(
    notification: GcrNotification,
    /**
     * `publishedAt`: when Pub/Sub published the message (ms), when it says. `deliveryAttempt`: which
     * delivery of the message this is, when Pub/Sub says (a subscription with a dead-letter policy).
     */
    context: {
      messageId: string | undefined;
      publishedAt?: number;
      deliveryAttempt?: number;
      logger: Logger;
    },
  ): Promise<void>;
}

export function createSignOnPushEntry(deps: { logger: Logger; core: NotificationHandler }) {
  return async (event: CloudEventLike): Promise<void> => {
    let notification: GcrNotification;
    let messageId: string | undefined = typeof event.id === 'string' ? event.id : undefined;
    let publishedAt: number | undefined;
    let deliveryAttempt: number | undefined;
    try {
      const delivery = parsePubsubCloudEvent(event);
      messageId = delivery.messageId;
      const published = delivery.publishTime === undefined ? Number.NaN : Date.parse(delivery.publishTime);
      if (Number.isFinite(published)) publishedAt = published;
      deliveryAttempt = delivery.deliveryAttempt;
      notification = parseGcrMessage(delivery.data, messageId);
    } catch (err) {
      // Whatever went wrong here depends on the input alone: a retry would fail the same way.
      const invalid =
        err instanceof InvalidInputError
          ? err
          : new InvalidInputError('gcr delivery could not be parsed', { messageId }, err);
      deps.logger.error(`rejected gcr message: ${invalid.message}`, { messageId, error: invalid.toJSON() });
      return;
    }
    const logger = deps.logger.child({
      messageId,
      action: notification.action,
      image: notification.raw.digest ?? notification.raw.tag,
      ...(deliveryAttempt !== undefined ? { deliveryAttempt } : {}),
    });
    logger.info('received gcr event', { gcr: notification.raw, validated: true });
    try {
      await deps.core.handle(notification, {
        messageId,
        ...(publishedAt !== undefined ? { publishedAt } : {}),
        ...(deliveryAttempt !== undefined ? { deliveryAttempt } : {}),
        logger,
      });
    } catch (err) {
      if (err instanceof SigsentryError && err.code === 'SIGNING_IN_PROGRESS') {
        // A concurrent delivery of the same push is signing it; the redelivery will find it done.
        logger.info('another attempt is signing this image; Pub/Sub will redeliver', { error: err });
        throw err;
      }
      if (isRetryable(err)) {
        // A DELETE signs nothing: what failed is recording it (sign-on-push/not-in-registry.ts).
        const what = notification.action === 'DELETE' ? 'recording the deletion' : 'signing attempt';
        logger.error(`${what} failed; Pub/Sub will redeliver`, { error: err });
        throw err;
      }
      logger.error('refused gcr event', { error: err });
    }
  };
}
