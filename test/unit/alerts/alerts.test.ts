import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { AlertSchema } from '../../../functions/alerts/alert.ts';
import { AlertDeliveryError, FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { checkWebhookUrl } from '../../../functions/alerts/from-env.ts';
import { LogAlertNotifier } from '../../../functions/alerts/log-sink.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { alertMessage } from '../../../functions/alerts/pubsub-sink.ts';
import { slackMessage, WebhookAlertNotifier } from '../../../functions/alerts/webhook-sink.ts';
import { renderDashboard } from '../../../functions/dashboard/render.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RecordingNotifier, rogue } from '../../helpers/recording-notifier.ts';

describe('alert records: one incident, a count, re-opened on recurrence', () => {
  it('counts repeats, re-opens a resolved alert, keeps firstSeen', async () => {
    let t = Date.parse('2025-01-01T00:00:00Z');
    const sink = new MemoryAlertSink(() => {
      t += 1000;
      return new Date(t);
    });
    const first = await sink.record(rogue());
    assert.equal(first.status, 'new');
    assert.equal(first.alert.count, 1);
    const second = await sink.record(rogue());
    assert.equal(second.status, 'repeat');
    assert.equal(second.alert.count, 2);
    assert.equal(second.alert.firstSeen, first.alert.firstSeen);
    assert.notEqual(second.alert.lastSeen, first.alert.lastSeen);
    await sink.resolve('rogue-signature:log:7', 'rotated the key');
    assert.equal(sink.alerts.get('rogue-signature:log:7')?.state, 'resolved');
    assert.equal(sink.alerts.get('rogue-signature:log:7')?.resolvedReason, 'rotated the key');
    const third = await sink.record(rogue());
    assert.equal(third.status, 'reopened');
    assert.equal(third.alert.state, 'open');
    assert.equal(third.alert.count, 3);
    assert.equal(third.alert.resolvedAt, undefined);
    AlertSchema.parse(third.alert);
  });

  it('keeps an open incident at its highest severity through a lower repeat, on the record and the status page', async () => {
    const sink = new MemoryAlertSink();
    const moved = {
      kind: 'log-tree-changed' as const,
      subject: 'https://rekor.example',
      key: 'log-tree-changed:L:log - 2',
      evidence: {},
    };
    await sink.raise({ ...moved, severity: 'HIGH', summary: 'moved to another tree, unannounced' });
    await sink.raise({ ...moved, severity: 'MEDIUM', summary: 'moved to another tree, announced' });
    const alert = sink.alerts.get(moved.key)!;
    assert.equal(alert.severity, 'HIGH');
    assert.equal(alert.summary, 'moved to another tree, announced', 'the newest words');
    const page = renderDashboard({
      generatedAt: '2026-12-03T00:00:00.000Z',
      project: 'p',
      coverage: [],
      recentSignings: [],
      openAlerts: [alert],
      monitors: [],
      truncated: [],
    });
    assert.match(page, /badge b-HIGH/);
    // Re-opened after a resolve, it starts again from what it is now.
    await sink.resolve(moved.key, 'announced');
    await sink.raise({ ...moved, severity: 'MEDIUM', summary: 'moved again, announced' });
    assert.equal(sink.alerts.get(moved.key)!.severity, 'MEDIUM');
  });

  it('defaults the key to kind:subject and rejects input outside the schema', async () => {
    const sink = new MemoryAlertSink();
    const { key: _k, ...noKey } = rogue();
    const raised = await sink.record(noKey);
    assert.equal(raised.alert.key, `rogue-signature:${noKey.subject}`);
    await assert.rejects(sink.record({ ...noKey, kind: 'no-such-kind' as never }));
  });
});

describe('fan-out: the record first, then every channel on its own', () => {
  it('notifies channels of new and re-opened alerts; repeats only reach channels that want them', async () => {
    const log = new RecordingNotifier('log', true);
    const pubsub = new RecordingNotifier('pubsub');
    const fanout = new FanOutAlertSink({ recorder: new MemoryAlertSink(), notifiers: [log, pubsub] });
    await fanout.raise(rogue());
    await fanout.raise(rogue());
    assert.deepEqual(
      log.seen.map((r) => r.status),
      ['new', 'repeat'],
    );
    assert.deepEqual(
      pubsub.seen.map((r) => r.status),
      ['new'],
    );
    await fanout.resolve('rogue-signature:log:7', 'fixed');
    await fanout.resolve('rogue-signature:log:7', 'again');
    assert.deepEqual(pubsub.resolvedSeen, ['rogue-signature:log:7'], 'a resolved alert is resolved once');
    await fanout.raise(rogue());
    assert.equal(pubsub.seen.at(-1)?.status, 'reopened');
  });

  it('an open incident that rose in severity, or moved to another digest, is told to every channel as changed', async () => {
    const recorder = new MemoryAlertSink();
    const log = new RecordingNotifier('log', true);
    const pubsub = new RecordingNotifier('pubsub');
    const webhook = new RecordingNotifier('webhook');
    const fanout = new FanOutAlertSink({ recorder, notifiers: [log, pubsub, webhook] });
    const treeChanged = (severity: 'MEDIUM' | 'HIGH') => ({
      kind: 'log-tree-changed' as const,
      severity,
      subject: 'https://rekor.example',
      key: 'log-tree-changed:rekor:origin-b',
      summary: `the log moved to another tree (${severity})`,
      evidence: {},
    });
    await fanout.raise(treeChanged('MEDIUM'));
    await fanout.raise(treeChanged('MEDIUM'));
    await fanout.raise(treeChanged('HIGH'));
    await fanout.raise(treeChanged('HIGH'));
    await fanout.raise(treeChanged('MEDIUM'));
    await fanout.raise(treeChanged('HIGH')); // a flap back under the peak: no new page
    assert.deepEqual(
      webhook.seen.map((r) => [r.status, r.alert.severity]),
      [
        ['new', 'MEDIUM'],
        ['changed', 'HIGH'],
      ],
      'a rise past the peak is news; the same severity again, a lower one, or a flap back up is a repeat',
    );
    assert.deepEqual(
      pubsub.seen.map((r) => r.status),
      ['new', 'changed'],
    );

    const unsigned = (digest: string) => ({
      kind: 'unsigned-image' as const,
      severity: 'HIGH' as const,
      subject: 'h/team/app:prod',
      summary: `h/team/app:prod points to ${digest}, which no expected signer signed`,
      evidence: { tag: 'prod', digest },
    });
    const [a, b] = [`sha256:${'a'.repeat(64)}`, `sha256:${'b'.repeat(64)}`];
    await fanout.raise(unsigned(a));
    await fanout.raise(unsigned(a));
    await fanout.raise(unsigned(b));
    assert.deepEqual(
      webhook.seen.slice(2).map((r) => [r.status, r.alert.evidence.digest]),
      [
        ['new', a],
        ['changed', b],
      ],
      'the tag moved on to another unsigned digest: the webhook hears it',
    );
    assert.equal(recorder.alerts.get('unsigned-image:h/team/app:prod')?.count, 3);
    assert.equal(recorder.alerts.get('unsigned-image:h/team/app:prod')?.undelivered, undefined);
  });

  it('a failing channel does not stop the others nor lose the record', async () => {
    const recorder = new MemoryAlertSink();
    const webhook = new RecordingNotifier('webhook');
    webhook.fail = true;
    const pubsub = new RecordingNotifier('pubsub');
    const fanout = new FanOutAlertSink({ recorder, notifiers: [webhook, pubsub] });
    const err = await fanout.raise(rogue()).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof AlertDeliveryError);
    assert.equal(err.recorded, true);
    assert.deepEqual(
      err.failures.map((f) => f.sink),
      ['webhook'],
    );
    assert.equal(pubsub.seen.length, 1);
    assert.equal(recorder.alerts.size, 1);
  });

  it('a channel that failed is told on the retry, as what the alert was; a retried resolve too', async () => {
    const recorder = new MemoryAlertSink();
    const webhook = new RecordingNotifier('webhook');
    const pubsub = new RecordingNotifier('pubsub');
    const log = new RecordingNotifier('log', true);
    const fanout = new FanOutAlertSink({ recorder, notifiers: [log, webhook, pubsub] });
    webhook.fail = true;
    await assert.rejects(fanout.raise(rogue()), AlertDeliveryError);
    webhook.fail = false;
    await fanout.raise(rogue()); // the caller's retry, or the next occurrence
    assert.deepEqual(
      webhook.seen.map((r) => r.status),
      ['new'],
      'the webhook hears the alert once it is up, as new',
    );
    assert.deepEqual(
      pubsub.seen.map((r) => r.status),
      ['new'],
      'pubsub, told the first time, hears no repeat',
    );
    await fanout.raise(rogue());
    assert.equal(webhook.seen.length, 1, 'once told, repeats do not reach it');
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);

    pubsub.failResolved = true;
    await assert.rejects(fanout.resolve('rogue-signature:log:7', 'fixed'), AlertDeliveryError);
    pubsub.failResolved = false;
    await fanout.resolve('rogue-signature:log:7', 'fixed');
    assert.deepEqual(pubsub.resolvedSeen, ['rogue-signature:log:7'], 'told on the retried resolve');
    assert.deepEqual(webhook.resolvedSeen, ['rogue-signature:log:7'], 'and the webhook only once');
    await fanout.resolve('rogue-signature:log:7', 'again');
    assert.equal(pubsub.resolvedSeen.length, 1);
  });

  it('a failing record still reaches every channel, and says it was not recorded', async () => {
    const pubsub = new RecordingNotifier('pubsub');
    const broken = {
      record: async () => {
        throw new DependencyError('firestore', 'down');
      },
      markResolved: async () => undefined,
      markDelivered: async () => {},
      markOvertakenTold: async () => {},
      listOwed: async () => [],
      get: async () => undefined,
    };
    const fanout = new FanOutAlertSink({ recorder: broken, notifiers: [pubsub] });
    const err = await fanout.raise(rogue()).catch((e: unknown) => e);
    assert.ok(err instanceof AlertDeliveryError);
    assert.equal(err.recorded, false);
    assert.equal(pubsub.seen[0]?.status, 'new');
  });
});

describe('log line and Pub/Sub message', () => {
  it('logs new alerts at severity ALERT and repeats at NOTICE, with the alert as fields', async () => {
    const logger = createMemoryLogger();
    const fanout = new FanOutAlertSink({
      recorder: new MemoryAlertSink(),
      notifiers: [new LogAlertNotifier(logger)],
    });
    await fanout.raise(rogue());
    await fanout.raise(rogue());
    assert.deepEqual(
      logger.entries.map((e) => e.severity),
      ['ALERT', 'NOTICE'],
    );
    const line = logger.entries[0]!;
    assert.equal((line['alert'] as { kind: string }).kind, 'rogue-signature');
    assert.equal((line['alert'] as { evidence: { logIndex: number } }).evidence.logIndex, 7);
  });

  it('publishes schema-valid JSON with kind and severity attributes', async () => {
    const { alert } = await new MemoryAlertSink().record(rogue());
    const msg = alertMessage(alert, 'new');
    assert.deepEqual(AlertSchema.parse(JSON.parse(msg.data.toString())), alert);
    assert.equal(msg.attributes['kind'], 'rogue-signature');
    assert.equal(msg.attributes['severity'], 'CRITICAL');
    assert.throws(() => alertMessage({ ...alert, count: 0 }, 'new'));
  });
});

describe('webhook: Slack JSON, bounded retries with backoff, the URL never shown', () => {
  let server: Server;
  let base: string;
  const received: Array<{ path: string; body: unknown; type: string | undefined }> = [];
  let answers: number[] = [];
  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          path: req.url ?? '',
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')),
          type: req.headers['content-type'],
        });
        res.writeHead(answers.shift() ?? 200).end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it('retries 5xx until it is accepted and sends {text}', async () => {
    received.length = 0;
    answers = [500, 503];
    const hook = new WebhookAlertNotifier({ url: `${base}/services/T0/B0/secret-token`, backoffMs: 1 });
    const { alert } = await new MemoryAlertSink().record(rogue());
    await hook.notify({ alert, status: 'new' });
    assert.equal(received.length, 3);
    const body = received[2]!.body as { text: string };
    assert.deepEqual(Object.keys(body), ['text']);
    assert.match(body.text, /\[CRITICAL\] rogue-signature/);
    assert.match(body.text, /logIndex: 7/);
    assert.equal(received[2]!.type, 'application/json');
  });

  it("escapes Slack's control characters in what pushers and loggers wrote: no channel ping, no disguised link", () => {
    const { text } = slackMessage(
      AlertSchema.parse({
        ...rogue(),
        key: 'signature-invalid:h/r:v1',
        kind: 'signature-invalid',
        subject: 'h/r:<!here>',
        summary:
          'an attestation (<!channel> <https://evil.example/ack|Click to acknowledge>), not a signature',
        evidence: { reason: 'a & b <https://evil.example|x>' },
        schemaVersion: 1,
        state: 'open',
        count: 1,
        firstSeen: '2026-12-02T00:00:00.000Z',
        lastSeen: '2026-12-02T00:00:00.000Z',
      }),
      'new',
    );
    assert.doesNotMatch(text, /<!|<https?:/, 'no raw control sequence survives');
    assert.match(text, /&lt;!channel&gt; &lt;https:\/\/evil\.example\/ack\|Click to acknowledge&gt;/);
    assert.match(text, /reason: a &amp; b/);
    assert.match(
      text,
      /^\*\[CRITICAL\] signature-invalid\*: h\/r:&lt;!here&gt;$/m,
      "sigsentry's own markup stays",
    );
  });

  it('shows the bidirectional and zero-width characters of what others wrote: no identity made to read as another', () => {
    // A right-to-left override makes `moc.rodnev@esaeler` display as `release@vendor.com`; a
    // zero-width space hides inside a look-alike domain.
    const spoofed = 'https://idp/\u202emoc.rodnev@esaeler';
    const { text } = slackMessage(
      AlertSchema.parse({
        ...rogue(),
        key: 'unsigned-image:h/r:v1',
        kind: 'unsigned-image',
        subject: 'h/r:v1\u200b',
        summary: `signed by ${spoofed}, not the expected identity`,
        evidence: { identity: 'release@vendor\u200b.com', isolate: 'a\u2066b\u2069c\ufeff' },
        schemaVersion: 1,
        state: 'open',
        count: 1,
        firstSeen: '2026-12-02T00:00:00.000Z',
        lastSeen: '2026-12-02T00:00:00.000Z',
      }),
      'new',
    );
    assert.doesNotMatch(text, /[\u200b\u202e\u2066\u2069\ufeff]/u);
    assert.match(text, /https:\/\/idp\/\\u202emoc\.rodnev@esaeler/);
    assert.match(text, /h\/r:v1\\u200b$/m);
    assert.match(text, /release@vendor\\u200b\.com/);
    assert.match(text, /a\\u2066b\\u2069c\\ufeff/);
  });

  it('gives up after its attempts without naming the URL; does not retry a 4xx', async () => {
    received.length = 0;
    answers = [500, 500, 500, 500];
    const url = `${base}/services/T0/B0/secret-token`;
    const hook = new WebhookAlertNotifier({ url, attempts: 3, backoffMs: 1 });
    const { alert } = await new MemoryAlertSink().record(rogue());
    const err = await hook.notify({ alert, status: 'new' }).catch((e: unknown) => e);
    assert.ok(err instanceof DependencyError);
    assert.equal(received.length, 3);
    assert.doesNotMatch(JSON.stringify((err as DependencyError).toJSON()), /secret-token|127\.0\.0\.1/);

    received.length = 0;
    answers = [404];
    await assert.rejects(hook.notify({ alert, status: 'new' }), /answered 404/);
    assert.equal(received.length, 1);
  });

  it('fails over a refused connection without leaking the address', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const hook = new WebhookAlertNotifier({
      url: `http://127.0.0.1:${port}/hook/secret-token`,
      attempts: 2,
      backoffMs: 1,
    });
    const { alert } = await new MemoryAlertSink().record(rogue());
    const err = (await hook.notify({ alert, status: 'new' }).catch((e: unknown) => e)) as Error;
    assert.match(err.message, /webhook request failed/);
    assert.doesNotMatch(err.message, /secret-token/);
  });

  it('accepts https and loopback http only', () => {
    assert.equal(checkWebhookUrl('https://hooks.slack.com/services/x'), 'https://hooks.slack.com/services/x');
    assert.equal(checkWebhookUrl('http://127.0.0.1:9/x'), 'http://127.0.0.1:9/x');
    assert.throws(() => checkWebhookUrl('http://example.com/x'), /must be https/);
    assert.throws(() => checkWebhookUrl('not a url'), /not a URL/);
  });
});
