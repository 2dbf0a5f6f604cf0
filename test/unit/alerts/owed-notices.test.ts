import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AlertDeliveryError, FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { LogAlertNotifier } from '../../../functions/alerts/log-sink.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import type { RaisedAlert } from '../../../functions/alerts/record.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { createMonitorLogEntry } from '../../../functions/monitor-log/entry.ts';
import { RecordingNotifier, rogue } from '../../helpers/recording-notifier.ts';

/** A clock the test moves; the record and the sinks share it. */
function clock() {
  let t = Date.parse('2026-12-02T10:00:00Z');
  return { now: () => new Date(t), pass: (ms: number) => (t += ms) };
}

describe('owed alert notices are redelivered without waiting for the alert to recur', () => {
  it('a webhook down when a monitor alert was raised hears it on a later run, as new, once', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const webhook = new RecordingNotifier('webhook');
    const pubsub = new RecordingNotifier('pubsub');
    const sink = new FanOutAlertSink({ recorder, notifiers: [webhook, pubsub], now: time.now });
    webhook.fail = true;
    await assert.rejects(sink.raise(rogue()), AlertDeliveryError);
    webhook.fail = false;

    const early = await sink.redeliverOwed({ minAgeMs: 60_000 });
    assert.equal(early.told, 0, 'a notice younger than a minute is left to the delivery under way');
    time.pass(61_000);
    webhook.fail = true;
    const stillDown = await sink.redeliverOwed({ minAgeMs: 60_000 });
    assert.deepEqual(
      stillDown.failures.map((f) => [f.key, f.sink]),
      [['rogue-signature:log:7', 'webhook']],
    );
    webhook.fail = false;
    const run = await sink.redeliverOwed({ minAgeMs: 60_000 });
    assert.equal(run.told, 1);
    assert.deepEqual(
      webhook.seen.map((r) => [r.alert.key, r.status]),
      [['rogue-signature:log:7', 'new']],
    );
    assert.equal(pubsub.seen.length, 1, 'a channel told at the raise is not told again');
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
    assert.equal((await sink.redeliverOwed({ minAgeMs: 0 })).told, 0, 'told once');
  });

  it('an owed resolution is sent as a resolution; a channel the deployment lacks is crossed off', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const pubsub = new RecordingNotifier('pubsub');
    const sink = new FanOutAlertSink({ recorder, notifiers: [pubsub], now: time.now });
    await sink.raise(rogue());
    pubsub.failResolved = true;
    await assert.rejects(sink.resolve('rogue-signature:log:7', 'rotated'), AlertDeliveryError);
    pubsub.failResolved = false;
    // Owed to a webhook too, as a CLI run without the URL leaves it; this deployment has none.
    const owed = recorder.alerts.get('rogue-signature:log:7')!;
    recorder.alerts.set(owed.key, {
      ...owed,
      undelivered: { ...owed.undelivered!, channels: ['pubsub', 'webhook'] },
    });
    time.pass(6 * 60_000);
    const run = await sink.redeliverOwed();
    assert.deepEqual(pubsub.resolvedSeen, ['rogue-signature:log:7']);
    assert.deepEqual(run.dropped, [{ key: 'rogue-signature:log:7', channel: 'webhook' }]);
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.state, 'resolved');
  });

  it('an alert raised from a terminal stays owed to Cloud Logging until a deployed run writes its ALERT line', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const terminal = createMemoryLogger();
    const cli = new FanOutAlertSink({
      recorder,
      notifiers: [new LogAlertNotifier(terminal, 'terminal'), new RecordingNotifier('pubsub')],
      owedElsewhere: ['log', 'webhook'],
      now: time.now,
    });
    await cli.raise(rogue());
    assert.equal(terminal.entries.filter((l) => l.severity === 'ALERT').length, 1, 'the operator sees it');
    assert.deepEqual(recorder.alerts.get('rogue-signature:log:7')?.undelivered?.channels, ['log', 'webhook']);

    const cloudLogging = createMemoryLogger();
    const webhook = new RecordingNotifier('webhook');
    const deployed = new FanOutAlertSink({
      recorder,
      notifiers: [new LogAlertNotifier(cloudLogging), new RecordingNotifier('pubsub'), webhook],
      now: time.now,
    });
    const entry = createMonitorLogEntry({
      logger: createMemoryLogger(),
      run: async () => ({ ok: true, logs: [] }),
      redeliverOwedAlerts: () => deployed.redeliverOwed(),
    });
    time.pass(6 * 60_000);
    let body: unknown;
    await entry({}, { status: () => ({ json: (b: unknown) => (body = b) }) as never, json: () => undefined });
    const paged = cloudLogging.entries.filter((l) => l.severity === 'ALERT');
    assert.equal(paged.length, 1, 'the ALERT line reaches Cloud Logging, which pages');
    assert.match(String(paged[0]?.message), /rogue-signature/);
    assert.deepEqual(
      webhook.seen.map((r) => r.status),
      ['new'],
    );
    assert.deepEqual((body as { owedAlerts?: unknown }).owedAlerts, { told: 2, dropped: 0, failed: 0 });
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
  });

  it("a channel down for good holds back neither another channel's notices nor the run", async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const webhook = new RecordingNotifier('webhook');
    const cli = new FanOutAlertSink({ recorder, notifiers: [webhook], now: time.now });
    webhook.fail = true;
    for (let i = 0; i < 250; i++) await assert.rejects(cli.raise(rogue(100 + i)), AlertDeliveryError);
    time.pass(60_000);
    // Then an alert from a terminal: owed to Cloud Logging, behind 250 notices owed to the webhook.
    const terminal = new FanOutAlertSink({ recorder, notifiers: [], owedElsewhere: ['log'], now: time.now });
    await terminal.raise(rogue(7));
    time.pass(6 * 60_000);

    const log = new RecordingNotifier('log', true);
    let attempts = 0;
    const counting = Object.assign(Object.create(webhook), {
      notify: async (raised: RaisedAlert) => {
        attempts++;
        return webhook.notify(raised);
      },
    }) as RecordingNotifier;
    const deployed = new FanOutAlertSink({ recorder, notifiers: [log, counting], now: time.now });
    const run = await deployed.redeliverOwed();
    assert.deepEqual(
      log.seen.map((r) => [r.alert.key, r.status]),
      [['rogue-signature:log:7', 'new']],
      'the notice that pages is told',
    );
    assert.equal(attempts, 3, 'the webhook, down, is tried three times a run, not 250 times');
    assert.equal(run.failures.length, 3);
    webhook.fail = false;
    assert.equal((await deployed.redeliverOwed()).told, 200, 'once up, the backlog drains, 200 a run');
  });

  it('a notice superseded while the pass runs is not sent as it was', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const webhook = new RecordingNotifier('webhook');
    const sink = new FanOutAlertSink({ recorder, notifiers: [webhook], now: time.now });
    webhook.fail = true;
    await assert.rejects(sink.raise(rogue(1)), AlertDeliveryError);
    await assert.rejects(sink.raise(rogue(2)), AlertDeliveryError);
    webhook.fail = false;
    time.pass(6 * 60_000);
    // While the first is told, another instance resolves the second (its resolution told at once).
    const racing = Object.assign(Object.create(webhook), {
      notify: async (raised: RaisedAlert) => {
        await webhook.notify(raised);
        if (raised.alert.key === 'rogue-signature:log:1')
          await sink.resolve('rogue-signature:log:2', 'fixed');
      },
    }) as RecordingNotifier;
    const deployed = new FanOutAlertSink({ recorder, notifiers: [racing], now: time.now });
    await deployed.redeliverOwed();
    assert.deepEqual(
      webhook.seen.map((r) => [r.alert.key, r.status, r.alert.state]),
      [
        ['rogue-signature:log:1', 'new'],
        // Told by the resolve, right before its resolution; not announced again after it.
        ['rogue-signature:log:2', 'new', 'open'],
      ].map(([key, status, state]) => [key, status, state ?? 'open']),
      'the second is not announced as new after its resolution',
    );
    assert.deepEqual(webhook.resolvedSeen, ['rogue-signature:log:2']);
  });

  it('one notice a channel refuses does not hold back the notices after it', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const webhook = new RecordingNotifier('webhook');
    const sink = new FanOutAlertSink({ recorder, notifiers: [webhook], now: time.now });
    webhook.fail = true;
    for (const i of [1, 2, 3]) await assert.rejects(sink.raise(rogue(i)), AlertDeliveryError);
    webhook.fail = false;
    time.pass(6 * 60_000);
    // The webhook answers 4xx to the first (say, too large) and takes the others.
    const picky = Object.assign(Object.create(webhook), {
      notify: async (raised: RaisedAlert) => {
        if (raised.alert.key === 'rogue-signature:log:1') throw new Error('webhook answered 400');
        return webhook.notify(raised);
      },
    }) as RecordingNotifier;
    const deployed = new FanOutAlertSink({ recorder, notifiers: [picky], now: time.now });
    const run = await deployed.redeliverOwed();
    assert.deepEqual(
      webhook.seen.map((r) => r.alert.key),
      ['rogue-signature:log:2', 'rogue-signature:log:3'],
    );
    assert.deepEqual(
      run.failures.map((f) => f.key),
      ['rogue-signature:log:1'],
    );
  });

  it('a rise owed to a channel is told at the severity it rose to, after a lower repeat', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const pubsub = new RecordingNotifier('pubsub');
    const sink = new FanOutAlertSink({ recorder, notifiers: [pubsub], now: time.now });
    const raise = (severity: 'MEDIUM' | 'CRITICAL') =>
      sink.raise({ ...rogue(), kind: 'log-tree-changed', severity, key: 'log-tree-changed:rekor:b' });
    await raise('MEDIUM');
    pubsub.fail = true;
    await assert.rejects(raise('CRITICAL'), AlertDeliveryError);
    pubsub.fail = false;
    await raise('MEDIUM'); // a repeat below the peak: it carries the owed notice
    assert.deepEqual(
      pubsub.seen.map((r) => `${r.status}:${r.alert.severity}`),
      ['new:MEDIUM', 'changed:CRITICAL'],
    );
  });
  it('a resolution that overtakes a raise never told to a channel tells it the raise first, then the resolution', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const webhook = new RecordingNotifier('webhook');
    const pubsub = new RecordingNotifier('pubsub');
    const sink = new FanOutAlertSink({ recorder, notifiers: [webhook, pubsub], now: time.now });
    webhook.fail = true;
    await assert.rejects(sink.raise(rogue()), AlertDeliveryError);
    // Resolved (the next pass, an operator) while the webhook is still down: neither notice reaches it.
    await assert.rejects(sink.resolve('rogue-signature:log:7', 'rotated'), AlertDeliveryError);
    assert.deepEqual(recorder.alerts.get('rogue-signature:log:7')?.undelivered?.overtook, {
      status: 'new',
      channels: ['webhook'],
    });
    webhook.fail = false;
    time.pass(6 * 60_000);
    const run = await sink.redeliverOwed();
    assert.equal(run.told, 1);
    assert.deepEqual(
      webhook.seen.map((r) => [r.alert.key, r.status, r.alert.state, r.alert.severity]),
      [['rogue-signature:log:7', 'new', 'open', 'CRITICAL']],
      'the raise it never heard, as the open incident it was',
    );
    assert.deepEqual(webhook.resolvedSeen, ['rogue-signature:log:7'], 'then its resolution');
    assert.deepEqual(
      pubsub.seen.map((r) => r.status),
      ['new'],
    );
    assert.deepEqual(
      pubsub.resolvedSeen,
      ['rogue-signature:log:7'],
      'a channel told of the raise hears only the resolution',
    );
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
    assert.equal((await sink.redeliverOwed({ minAgeMs: 0 })).told, 0, 'told once');
  });

  it('a resolve that reaches the channel owed a raise tells it the raise, then the resolution, at once', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const webhook = new RecordingNotifier('webhook');
    const sink = new FanOutAlertSink({ recorder, notifiers: [webhook], now: time.now });
    webhook.fail = true;
    await assert.rejects(sink.raise(rogue()), AlertDeliveryError);
    webhook.fail = false;
    await sink.resolve('rogue-signature:log:7', 'rotated');
    assert.deepEqual(
      webhook.seen.map((r) => [r.status, r.alert.state]),
      [['new', 'open']],
    );
    assert.deepEqual(webhook.resolvedSeen, ['rogue-signature:log:7']);
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
  });
  it('a resolution the channel refuses after it took the overtaken raise is retried alone', async () => {
    const time = clock();
    const recorder = new MemoryAlertSink(time.now);
    const webhook = new RecordingNotifier('webhook');
    const sink = new FanOutAlertSink({ recorder, notifiers: [webhook], now: time.now });
    webhook.fail = true;
    await assert.rejects(sink.raise(rogue()), AlertDeliveryError);
    webhook.fail = false;
    webhook.failResolved = true; // the raise reaches it, the resolution does not
    await assert.rejects(sink.resolve('rogue-signature:log:7', 'fixed'), AlertDeliveryError);
    webhook.failResolved = false;
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered?.overtook, undefined);
    time.pass(10 * 60_000);
    assert.equal((await sink.redeliverOwed()).told, 1);
    assert.deepEqual(
      webhook.seen.map((r) => r.status),
      ['new'],
      'the raise told once',
    );
    assert.deepEqual(webhook.resolvedSeen, ['rogue-signature:log:7']);
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
  });
});
