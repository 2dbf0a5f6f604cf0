/**
 * The structured log line: severity ALERT for a new or re-opened incident, so a log-based alerting
 * policy pages once per incident; a repeat of an open incident is a NOTICE with its count.
 */
import type { Logger } from '../logging/logger.ts';
import type { Alert } from './alert.ts';
import type { AlertNotifier } from './notifier.ts';
import type { RaisedAlert } from './record.ts';

export class LogAlertNotifier implements AlertNotifier {
  readonly name = 'log';
  readonly wantsRepeats = true;
  private readonly logger: Logger;

  constructor(logger: Logger) {
    this.logger = logger;
  }

  async notify({ alert, status }: RaisedAlert): Promise<void> {
    const fields = { alert, alertStatus: status };
    const message = `${alert.kind}: ${alert.summary}`;
    if (status === 'repeat') this.logger.notice(`alert recurred (${alert.count}x): ${message}`, fields);
    else this.logger.alert(message, fields);
  }

  async resolved(alert: Alert): Promise<void> {
    this.logger.notice(`alert resolved: ${alert.kind}: ${alert.subject}`, { alert, alertStatus: 'resolved' });
  }
}
