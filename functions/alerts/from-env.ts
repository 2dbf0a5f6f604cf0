/**
 * The alert pipeline from the environment (the ALERT_* rows of config/environment.ts): Firestore
 * `alerts` as the record, then the ALERT log line, Pub/Sub ALERT_TOPIC (default signing-alerts)
 * and, when ALERT_WEBHOOK_URL is set, the webhook.
 */
import { Firestore } from '@google-cloud/firestore';
import { PubSub } from '@google-cloud/pubsub';
import { firestoreSettings } from '../config/firestore.ts';
import { InvalidInputError } from '../errors.ts';
import { createLogger, type Logger } from '../logging/logger.ts';
import { FanOutAlertSink } from './fanout.ts';
import { FirestoreAlertStore } from './firestore-sink.ts';
import { LOG_CHANNEL, LogAlertNotifier } from './log-sink.ts';
import type { AlertNotifier } from './notifier.ts';
import { DEFAULT_ALERT_TOPIC, PubSubAlertNotifier } from './pubsub-sink.ts';
import { WEBHOOK_CHANNEL, WebhookAlertNotifier } from './webhook-sink.ts';

export interface AlertClients {
  logger?: Logger;
  firestore?: Firestore;
  pubsub?: PubSub;
  fetch?: typeof fetch;
  /**
   * Alerts raised from an operator's terminal (the CLI): their lines go to the terminal, so Cloud
   * Logging (which pages), and the webhook when this shell has no URL, are left owed on the record
   * for the deployed functions to tell (`FanOutAlertSink.redeliverOwed`).
   */
  terminal?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The webhook must be https (plain http only on loopback, for local receivers). */
export function checkWebhookUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new InvalidInputError('ALERT_WEBHOOK_URL is not a URL');
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new InvalidInputError('ALERT_WEBHOOK_URL must be https');
  }
  return raw;
}

export function alertSinkFromEnv(env: NodeJS.ProcessEnv, clients: AlertClients = {}): FanOutAlertSink {
  const project = env.GCP_PROJECT ?? env.GOOGLE_CLOUD_PROJECT;
  if (!project) throw new InvalidInputError('GCP_PROJECT is required for the alert sinks');
  const firestore = clients.firestore ?? new Firestore(firestoreSettings(env, project));
  const pubsub = clients.pubsub ?? new PubSub({ projectId: project });
  const logger = clients.logger ?? createLogger({ component: 'alerts' });
  const notifiers: AlertNotifier[] = [
    clients.terminal ? new LogAlertNotifier(logger, 'terminal') : new LogAlertNotifier(logger),
    new PubSubAlertNotifier(pubsub.topic(env.ALERT_TOPIC || DEFAULT_ALERT_TOPIC)),
  ];
  if (env.ALERT_WEBHOOK_URL) {
    notifiers.push(
      new WebhookAlertNotifier({
        url: checkWebhookUrl(env.ALERT_WEBHOOK_URL),
        ...(clients.fetch ? { fetch: clients.fetch } : {}),
      }),
    );
  }
  const owedElsewhere = clients.terminal
    ? [LOG_CHANNEL, ...(env.ALERT_WEBHOOK_URL ? [] : [WEBHOOK_CHANNEL])]
    : [];
  return new FanOutAlertSink({ recorder: new FirestoreAlertStore(firestore), notifiers, owedElsewhere });
}
