/**
 * An optional Slack-compatible webhook (Slack incoming webhooks and Google Chat both take
 * `{"text": …}`). Delivery is retried a bounded number of times with exponential backoff on
 * network errors, 408, 429 and 5xx. The URL carries its own credential, so it never appears in an
 * error message or a log line: the channel is named "webhook" and nothing more.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DependencyError } from '../errors.ts';
import { LINE_BREAKS, showUnprintable } from '../logging/bounded.ts';
import type { Alert } from './alert.ts';
import type { AlertNotifier } from './notifier.ts';
import type { RaisedAlert } from './record.ts';

export interface WebhookOptions {
  url: string;
  /** Attempts in all, the first included. */
  attempts?: number;
  /** First backoff; doubled on each retry, capped at maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

const RETRYABLE = (status: number): boolean => status === 408 || status === 429 || status >= 500;

/**
 * Slack's control sequences (`<!channel>`, `<https://…|label>`) start with `<`; its documented rule is
 * to escape `&`, `<` and `>` in text that is not meant as markup. Tag names, statement fields and log
 * entries come from whoever pushed or logged them, so none of it may ping a channel or disguise a link.
 */
function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * A value from the data, for one line of the message: line breaks shown, markup escaped, bounded.
 * Slack and Google Chat break on \n, other readers on the rest (LINE_BREAKS): in a value others
 * wrote, a line break could forge a line of its own (a "*Resolved*" head), so each is shown as ⏎
 * and only the message's template breaks lines.
 */
function value(text: string, max: number): string {
  // Bidirectional and zero-width characters shown too: they could make an attacker's certificate
  // identity read as the expected signer's.
  const line = showUnprintable(text.replace(LINE_BREAKS, ' ⏎ '));
  return escapeMrkdwn(line.length > max ? `${line.slice(0, max)}…` : line);
}

const STATUS_NOTE: Record<string, string> = { reopened: ' (re-opened)', changed: ' (changed)' };

/** Slack cuts a message's text at 40,000 characters: the subject and summary stay far below. */
const MAX_SUBJECT = 500;
const MAX_SUMMARY = 3000;

/** The message body: Slack mrkdwn text, readable as plain text elsewhere. */
export function slackMessage(alert: Alert, status: string): { text: string } {
  const subject = value(alert.subject, MAX_SUBJECT);
  const head =
    status === 'resolved'
      ? `*Resolved* ${alert.kind}: ${subject}`
      : `*[${alert.severity}] ${alert.kind}*${STATUS_NOTE[status] ?? ''}: ${subject}`;
  const evidence = Object.entries(alert.evidence)
    .filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => value(`• ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`, 500));
  const lines = [
    head,
    value(alert.summary, MAX_SUMMARY),
    ...evidence,
    `seen ${alert.count}x, first ${alert.firstSeen}`,
  ];
  return { text: lines.join('\n') };
}

export const WEBHOOK_CHANNEL = 'webhook';

export class WebhookAlertNotifier implements AlertNotifier {
  readonly name = WEBHOOK_CHANNEL;
  readonly wantsRepeats = false;
  private readonly url: string;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(opts: WebhookOptions) {
    this.url = opts.url;
    this.attempts = Math.max(1, opts.attempts ?? 4);
    this.backoffMs = opts.backoffMs ?? 500;
    this.maxBackoffMs = opts.maxBackoffMs ?? 8_000;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.fetch = opts.fetch ?? fetch;
  }

  async notify({ alert, status }: RaisedAlert): Promise<void> {
    await this.post(slackMessage(alert, status), alert.key);
  }

  async resolved(alert: Alert): Promise<void> {
    await this.post(slackMessage(alert, 'resolved'), alert.key);
  }

  private async post(body: { text: string }, key: string): Promise<void> {
    let last = 'no attempt';
    for (let attempt = 1; attempt <= this.attempts; attempt++) {
      let wait = Math.min(this.maxBackoffMs, this.backoffMs * 2 ** (attempt - 1));
      try {
        const res = await this.fetch(this.url, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
          redirect: 'error',
        });
        await res.body?.cancel();
        if (res.ok) return;
        last = `webhook answered ${res.status}`;
        if (!RETRYABLE(res.status)) break;
        const after = Number(res.headers.get('retry-after'));
        if (Number.isFinite(after) && after > 0) wait = Math.min(this.maxBackoffMs, after * 1000);
      } catch (err) {
        // Only the error's class and code: undici's messages are safe, but a cause may echo the URL.
        const code = (err as { cause?: { code?: string } }).cause?.code;
        last = `webhook request failed: ${(err as Error).name}${code ? ` ${code}` : ''}`;
      }
      if (attempt < this.attempts) await sleep(wait);
    }
    throw new DependencyError('webhook', `${last} (alert ${key}, ${this.attempts} attempts)`);
  }
}
