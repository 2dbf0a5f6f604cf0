/**
 * The structured log line: severity ALERT for a new or re-opened incident, so a log-based alerting
 * policy pages once per incident; a repeat of an open incident is a NOTICE with its count.
 */
import type { Logger } from '../logging/logger.ts';
import type { Alert } from './alert.ts';
import { boundAlert } from './bounds.ts';
import type { AlertNotifier } from './notifier.ts';
import type { RaisedAlert } from './record.ts';

/** The channel Cloud Logging reads, on which the log-based alerting policy pages. */
export const LOG_CHANNEL = 'log';

export class LogAlertNotifier implements AlertNotifier {
  readonly name: string;
  readonly wantsRepeats = true;
  private readonly logger: Logger;

  /** `name` is `log` where the lines reach Cloud Logging, `terminal` in the CLI. */
  constructor(logger: Logger, name = LOG_CHANNEL) {
    this.logger = logger;
    this.name = name;
  }

  /**
   * The alert is bounded again (bounds.ts; a no-op for one the record made): a line over Cloud
   * Logging's 256 KB LogEntry limit is dropped, and the ALERT line is what pages.
   */
  async notify(raised: RaisedAlert): Promise<void> {
    const { status } = raised;
    const alert = boundAlert(raised.alert);
    const fields = { alert, alertStatus: status };
    const message = `${alert.kind}: ${alert.summary}`;
    if (status === 'repeat') this.logger.notice(`alert recurred (${alert.count}x): ${message}`, fields);
    else this.logger.alert(message, fields);
  }

  async resolved(resolved: Alert): Promise<void> {
    const alert = boundAlert(resolved);
    this.logger.notice(`alert resolved: ${alert.kind}: ${alert.subject}`, { alert, alertStatus: 'resolved' });
  }
}
