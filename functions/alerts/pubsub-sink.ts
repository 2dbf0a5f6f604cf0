/**
 * Pub/Sub topic `signing-alerts`: one JSON message per alert state change, validated against the
 * alert schema before it leaves, with `kind`, `severity` and `state` as attributes so
 * subscriptions can filter without parsing the body.
 */
import { DependencyError } from '../errors.ts';
import { type Alert, AlertSchema } from './alert.ts';
import type { AlertNotifier } from './notifier.ts';
import type { RaisedAlert } from './record.ts';

export const DEFAULT_ALERT_TOPIC = 'signing-alerts';

/** What the sink needs of a topic; @google-cloud/pubsub's Topic satisfies it. */
export interface AlertPublisher {
  publishMessage(message: { data: Buffer; attributes: Record<string, string> }): Promise<string>;
}

export function alertMessage(
  alert: Alert,
  status: string,
): { data: Buffer; attributes: Record<string, string> } {
  const checked = AlertSchema.parse(alert);
  return {
    data: Buffer.from(JSON.stringify(checked)),
    attributes: { kind: checked.kind, severity: checked.severity, state: checked.state, status },
  };
}

export class PubSubAlertNotifier implements AlertNotifier {
  readonly name = 'pubsub';
  readonly wantsRepeats = false;
  private readonly topic: AlertPublisher;

  constructor(topic: AlertPublisher) {
    this.topic = topic;
  }

  async notify({ alert, status }: RaisedAlert): Promise<void> {
    await this.publish(alert, status);
  }

  async resolved(alert: Alert): Promise<void> {
    await this.publish(alert, 'resolved');
  }

  private async publish(alert: Alert, status: string): Promise<void> {
    try {
      await this.topic.publishMessage(alertMessage(alert, status));
    } catch (err) {
      throw new DependencyError('pubsub', `could not publish alert ${alert.key}`, {}, err);
    }
  }
}
