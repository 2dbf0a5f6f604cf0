export * from './alert.ts';
export { AlertDeliveryError, FanOutAlertSink, type OwedRedelivery } from './fanout.ts';
export { ALERTS_COLLECTION, FirestoreAlertStore } from './firestore-sink.ts';
export { type AlertClients, alertSinkFromEnv, checkWebhookUrl } from './from-env.ts';
export { LOG_CHANNEL, LogAlertNotifier } from './log-sink.ts';
export { MemoryAlertSink } from './memory-sink.ts';
export { type AlertNotifier, notifierAsSink } from './notifier.ts';
export {
  type AlertPublisher,
  alertMessage,
  DEFAULT_ALERT_TOPIC,
  PubSubAlertNotifier,
} from './pubsub-sink.ts';
export {
  type AlertRecorder,
  nextAlert,
  type RaisedAlert,
  type RaiseStatus,
  resolvedAlert,
} from './record.ts';
export { slackMessage, WEBHOOK_CHANNEL, WebhookAlertNotifier, type WebhookOptions } from './webhook-sink.ts';
