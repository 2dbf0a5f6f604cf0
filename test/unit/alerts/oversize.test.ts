/**
 * Alerts carry text others wrote (a certificate identity, a tag name, a log's error): however large
 * it is, an alert record stays far below Firestore's 1 MiB entity limit and its log line below Cloud
 * Logging's 256 KB LogEntry limit, with a marker saying what was cut; and no line break in that text
 * can forge a line of the webhook message.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import {
  type Alert,
  type AlertInput,
  AlertSchema,
  alertDocumentId,
} from '../../../functions/alerts/alert.ts';
import { FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { LogAlertNotifier } from '../../../functions/alerts/log-sink.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { nextAlert, resolvedAlert } from '../../../functions/alerts/record.ts';
import { slackMessage } from '../../../functions/alerts/webhook-sink.ts';
import { createLogger } from '../../../functions/logging/logger.ts';

/** Serialized size in UTF-8 bytes, as Firestore and Cloud Logging count it. */
const bytes = (value: unknown) =>
  Buffer.byteLength(typeof value === 'string' ? value : JSON.stringify(value));
const sha256 = (text: string) => crypto.createHash('sha256').update(text, 'utf8').digest('hex');
const REF = 'registry.example.com/team/app:prod';
const FIRESTORE_ENTITY_LIMIT = 1_048_576;
const LOG_ENTRY_LIMIT = 256 * 1024;

/** An unsigned-image alert as reverify raises it for a foreign signature with a 400 KB issuer. */
function hugeInput(): AlertInput {
  const reason = `signed by https://x.example/a via https://issuer.example/${'A'.repeat(400 * 1024)}`;
  const verifierOutput = `no signature by an expected key or identity (${reason})`;
  return {
    kind: 'unsigned-image',
    severity: 'HIGH',
    subject: REF,
    key: `unsigned-image:${REF}`,
    summary: `${REF} points to a digest no expected signer signed: ${verifierOutput}`,
    evidence: {
      image: `registry.example.com/team/app@sha256:${'a'.repeat(64)}`,
      digest: `sha256:${'a'.repeat(64)}`,
      tag: REF,
      verifierOutput,
      findings: Array.from({ length: 2000 }, (_, i) => ({
        layout: 'bundle',
        location: `sha256:${i.toString(16).padStart(64, '0')}`,
        outcome: 'foreign',
        reason: i === 0 ? reason : `signed by https://x${i}.example/${'\u009b'.repeat(900)}`,
      })),
      signatureManifest: null,
      referrers: `sha256:${'c'.repeat(64)}`,
    },
  };
}

describe('attacker-sized text in alerts', () => {
  it('bounds the stored alert: summary, each evidence string, and the evidence as a whole', () => {
    const input = hugeInput();
    const { alert } = nextAlert(input, undefined, new Date('2026-12-03T00:00:00Z'));
    assert.ok(bytes(alert) < 160 * 1024, `the alert is ${bytes(alert)} bytes`);
    AlertSchema.parse(alert);
    assert.ok(alert.summary.length <= 4096, `the summary is ${alert.summary.length} characters`);
    assert.ok(alert.summary.startsWith(`${REF} points to a digest no expected signer signed: `));
    // What identifies the image is kept whole; what was cut is said, with the size and hash of the whole.
    assert.equal(alert.evidence.digest, input.evidence.digest);
    assert.equal(alert.evidence.image, input.evidence.image);
    assert.equal(alert.evidence.tag, REF);
    assert.ok(alert.evidence.verifierOutput!.includes(sha256(input.evidence.verifierOutput!)));
    assert.match(String(alert.evidence['evidenceTruncated']), /findings/);
    const kept = alert.evidence['findings'] as unknown[];
    assert.ok(Array.isArray(kept) && kept.length > 0 && kept.length < 2000);
    // A repeat (the next pass) is bounded the same way.
    const again = nextAlert(input, alert, new Date('2026-12-03T01:00:00Z'));
    assert.equal(again.status, 'repeat');
    assert.ok(bytes(again.alert) < 160 * 1024);
    // A resolution's reason too.
    const resolved = resolvedAlert(alert, `the tag is gone: ${'x'.repeat(500 * 1024)}`, new Date());
    assert.ok(bytes(resolved) < 160 * 1024, `the resolved alert is ${bytes(resolved)} bytes`);
  });

  it('keeps the record and the ALERT log line under Firestore and Cloud Logging limits', async () => {
    const lines: string[] = [];
    const recorder = new MemoryAlertSink();
    const sink = new FanOutAlertSink({
      recorder,
      notifiers: [new LogAlertNotifier(createLogger({}, (l) => lines.push(l)))],
    });
    await sink.raise(hugeInput());
    const stored = recorder.alerts.get(`unsigned-image:${REF}`)!;
    assert.ok(bytes(stored) < FIRESTORE_ENTITY_LIMIT / 4, `the record is ${bytes(stored)} bytes`);
    assert.equal(lines.length, 1);
    assert.ok(bytes(lines[0]!) < LOG_ENTRY_LIMIT, `the ALERT line is ${bytes(lines[0]!)} bytes`);
    assert.equal(JSON.parse(lines[0]!).severity, 'ALERT');
  });

  it('bounds an alert the log sink is handed as it is (one stored before the bound)', async () => {
    const { alert } = nextAlert(hugeInput(), undefined, new Date());
    const unbounded: Alert = {
      ...alert,
      summary: `x ${'y'.repeat(600 * 1024)}`,
      subject: 'z'.repeat(300_000),
    };
    const lines: string[] = [];
    const notifier = new LogAlertNotifier(createLogger({}, (l) => lines.push(l)));
    await notifier.notify({ alert: unbounded, status: 'new' });
    await notifier.resolved({ ...unbounded, state: 'resolved', resolvedReason: 'r'.repeat(400_000) });
    for (const line of lines) assert.ok(bytes(line) < LOG_ENTRY_LIMIT, `a line is ${bytes(line)} bytes`);
  });

  it('keys a huge subject by a bounded key that stays distinct and resolvable by the full key', async () => {
    const sink = new MemoryAlertSink();
    const subject = (tail: string) => `registry.example.com/team/app:${'t'.repeat(300 * 1024)}${tail}`;
    const base = { kind: 'tag-moved' as const, severity: 'MEDIUM' as const, summary: 's', evidence: {} };
    const a = await sink.record({ ...base, subject: subject('a') });
    const b = await sink.record({ ...base, subject: subject('b') });
    assert.ok(a.alert.key.length <= 1024 && a.alert.subject.length <= 1024);
    assert.notEqual(a.alert.key, b.alert.key, 'two subjects differing past the prefix are two incidents');
    assert.equal(a.status, 'new');
    assert.equal(b.status, 'new');
    assert.equal(alertDocumentId(`tag-moved:${subject('a')}`), alertDocumentId(a.alert.key));
    await sink.resolve(`tag-moved:${subject('a')}`, 'gone');
    assert.equal((await sink.get(a.alert.key))?.state, 'resolved');
    assert.equal((await sink.get(b.alert.key))?.state, 'open');
  });
});

describe('webhook text: data cannot add lines', () => {
  const alertWith = (fields: Partial<Alert>): Alert =>
    AlertSchema.parse({
      kind: 'unsigned-image',
      severity: 'HIGH',
      subject: REF,
      key: `unsigned-image:${REF}`,
      summary: 'x',
      evidence: {},
      schemaVersion: 1,
      state: 'open',
      count: 1,
      firstSeen: '2026-12-02T00:00:00.000Z',
      lastSeen: '2026-12-02T00:00:00.000Z',
      ...fields,
    });

  it('shows line breaks in the subject, summary and evidence instead of breaking the line', () => {
    const forged =
      '\n\n*Resolved* unsigned-image: registry.example.com/team/app:prod\n_false alarm, no action needed_';
    const { text } = slackMessage(
      alertWith({
        subject: `${REF}\r\n*Resolved* x`,
        summary: `${REF} points to a digest no expected signer signed: signed by https://x.example/a${forged} via y`,
        evidence: {
          verifierOutput: `no signature (signed by https://x.example/a${forged}\u2028*Resolved* z\u2029_ok_)`,
          identity: `a\u0085*Resolved* b`,
        },
      }),
      'new',
    );
    const lines = text.split(/\r\n|[\n\r\u2028\u2029\u0085]/);
    // head, summary, two evidence lines, "seen" line: nothing else.
    assert.equal(lines.length, 5, text);
    assert.ok(lines[0]!.startsWith('*[HIGH] unsigned-image*: '));
    for (const line of lines.slice(1)) assert.doesNotMatch(line, /^\s*\*Resolved\*/);
    assert.match(text, /⏎/, 'a line break is shown, not dropped silently');
    // Slack's control sequences stay escaped.
    const escaped = slackMessage(alertWith({ summary: '<!channel> a & b' }), 'new').text;
    assert.match(escaped, /&lt;!channel&gt; a &amp; b/);
  });

  it('bounds the subject and summary of the message (Slack cuts text at 40,000 characters)', () => {
    const { text } = slackMessage(
      alertWith({ subject: `${REF}${'s'.repeat(50_000)}`, summary: `x${'y'.repeat(100_000)}` }),
      'resolved',
    );
    assert.ok(text.length < 12_000, `the text is ${text.length} characters`);
    assert.ok(text.startsWith(`*Resolved* unsigned-image: ${REF}`));
  });
});
