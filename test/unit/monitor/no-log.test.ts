/**
 * A deployment without a transparency log (REKOR_URL=none, infra's rekor_url = "none") still
 * deploys monitorLog: it has no log to watch, but every run tells the channels the alert notices
 * still owed to them (a failed webhook delivery, an alert raised from the CLI). Such a run answers
 * 200 and says that no log was watched, without asking KMS for the owned keys, and leaves a record
 * of itself (`monitorRuns/no-log`) from which the dashboard says that no log is watched rather than
 * that the monitor never ran; a `from` (a backfill) is refused with 400. REKOR_URL unset (rather
 * than `none`) is still a configuration error. monitorLog is wired here as functions/index.ts wires
 * it: its dependencies from the environment, the run, the owed notices.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Firestore } from '@google-cloud/firestore';
import type { PubSub } from '@google-cloud/pubsub';
import { AlertDeliveryError, FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError, InvalidInputError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadMonitorConfig } from '../../../functions/monitor-log/config.ts';
import { NO_LOG_NOTE, runMonitor, runMonitorShard } from '../../../functions/monitor-log/core.ts';
import { createMonitorLogEntry } from '../../../functions/monitor-log/entry.ts';
import { monitorDepsFromEnv } from '../../../functions/monitor-log/from-env.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { createMonitorShardEntry } from '../../../functions/monitor-log/shard-entry.ts';
import {
  MemoryMonitorStore,
  MONITOR_RUNS_COLLECTION,
  NO_LOG_RUN_DOCUMENT,
} from '../../../functions/monitor-log/state.ts';
import { RecordingNotifier, rogue } from '../../helpers/recording-notifier.ts';
import { unrelatedIdentity } from '../../helpers/unrelated-identity.ts';

const keyVersion = 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1';
const noLogWatched = /no transparency log is configured.*no log was watched/;

/** A client the run must not use: any property read throws. */
function untouchable<T>(what: string): T {
  return new Proxy(
    {},
    {
      get(_target, prop) {
        if (prop === 'then') return undefined;
        throw new Error(`${what} was used (${String(prop)}) by a run without a log`);
      },
    },
  ) as T;
}

/**
 * The Firestore a run without a log may use: it sets its record, `monitorRuns/no-log`, and touches
 * nothing else (any other use throws). `fail` makes the write fail as Firestore would.
 */
function recordOnlyFirestore() {
  const written: Array<{ path: string; data: Record<string, unknown> }> = [];
  const state = { fail: undefined as Error | undefined };
  const collection = (name: string) => {
    if (name !== MONITOR_RUNS_COLLECTION)
      throw new Error(`collection ${name} was used by a run without a log`);
    return {
      doc: (id: string) => ({
        set: async (data: Record<string, unknown>) => {
          if (state.fail) throw state.fail;
          written.push({ path: `${name}/${id}`, data: structuredClone(data) });
        },
      }),
    };
  };
  const db = new Proxy(
    {},
    {
      get(_target, prop) {
        if (prop === 'then') return undefined;
        if (prop === 'collection') return collection;
        throw new Error(`Firestore was used (${String(prop)}) by a run without a log`);
      },
    },
  ) as Firestore;
  return { db, written, state };
}

/** A clock the test moves; the alert record and the sinks share it. */
function clock() {
  let t = Date.parse('2026-12-02T10:00:00Z');
  return { now: () => new Date(t), pass: (ms: number) => (t += ms) };
}

/**
 * The deployed alert pipeline, with one notice owed to its webhook: the webhook was down when a
 * monitor alert was raised, six minutes ago.
 */
async function pipelineOwingOneNotice() {
  const time = clock();
  const recorder = new MemoryAlertSink(time.now);
  const webhook = new RecordingNotifier('webhook');
  const sink = new FanOutAlertSink({ recorder, notifiers: [webhook], now: time.now });
  webhook.fail = true;
  await assert.rejects(sink.raise(rogue()), AlertDeliveryError);
  webhook.fail = false;
  time.pass(6 * 60_000);
  return { recorder, webhook, sink };
}

/**
 * The clients monitorDepsFromEnv gets: the alert pipeline, a Firestore that takes the run's record
 * only, and Pub/Sub it must not touch.
 */
function clientsOf(
  sink: FanOutAlertSink,
  logger: ReturnType<typeof createMemoryLogger>,
  firestore: Firestore,
) {
  return {
    logger,
    alerts: sink,
    firestore,
    pubsub: { topic: () => untouchable('the shard topic') } as unknown as PubSub,
  };
}

/** monitorLog as functions/index.ts wires it, answering one call (scheduled: no query): status and body. */
async function scheduledRun(
  env: NodeJS.ProcessEnv,
  sink: FanOutAlertSink,
  {
    query = {},
    firestore = recordOnlyFirestore(),
  }: { query?: Record<string, unknown>; firestore?: ReturnType<typeof recordOnlyFirestore> } = {},
) {
  const logger = createMemoryLogger();
  const entry = createMonitorLogEntry({
    logger,
    run: (options) =>
      monitorDepsFromEnv(env, clientsOf(sink, logger, firestore.db)).then((deps) =>
        runMonitor({ ...deps, ...options }),
      ),
    redeliverOwedAlerts: () => sink.redeliverOwed(),
  });
  const answer = { status: 0, body: undefined as unknown as Record<string, unknown> };
  const res = {
    status(code: number) {
      answer.status = code;
      return res;
    },
    json(body: unknown) {
      answer.body = body as Record<string, unknown>;
    },
  };
  await entry({ query }, res);
  return { ...answer, logger, written: firestore.written };
}

describe('monitorLog in a deployment without a transparency log', () => {
  // KMS_ENDPOINT points here: a run without a log must not ask KMS for the owned key.
  let kms: net.Server;
  let kmsConnections = 0;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    kms = net.createServer((socket) => {
      kmsConnections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => kms.listen(0, '127.0.0.1', resolve));
    const { port } = kms.address() as net.AddressInfo;
    // What infra gives monitorLog with rekor_url = "none" (empty values dropped).
    env = {
      GCP_PROJECT: 'p',
      REKOR_URL: 'none',
      REKOR_API: 'v1',
      KMS_KEY: keyVersion,
      KMS_ENDPOINT: `127.0.0.1:${port}`,
      ALERT_TOPIC: 'signing-alerts',
      MONITOR_SHARD_TOPIC: 'monitor-shards',
    };
  });
  after(() => new Promise<void>((resolve) => kms.close(() => resolve())));

  it('REKOR_URL=none: the run answers 200, says no log was watched, and still tells the owed alert notices', async () => {
    const { recorder, webhook, sink } = await pipelineOwingOneNotice();
    const started = Date.now();
    const { status, body, logger, written } = await scheduledRun(env, sink);
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body['ok'], true);
    assert.deepEqual(body['logs'], [], 'no log was watched');
    assert.match(String(body['note']), noLogWatched);
    assert.deepEqual(body['owedAlerts'], { told: 1, dropped: 0, failed: 0 });
    assert.deepEqual(
      webhook.seen.map((r) => [r.alert.key, r.status]),
      [['rogue-signature:log:7', 'new']],
      'the webhook hears the notice it was owed',
    );
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);

    const said = logger.entries.filter((l) => noLogWatched.test(l.message));
    assert.deepEqual(
      said.map((l) => l.severity),
      ['NOTICE'],
      'one notice line says no log was watched',
    );
    assert.deepEqual(
      logger.entries.filter((l) => l.severity === 'ERROR' || l.severity === 'WARNING'),
      [],
    );
    assert.equal(kmsConnections, 0, 'KMS is not asked for the owned key');

    // The run's record, for the dashboard: when it ran, and that no log is configured. Nothing else
    // is written (no log state: there is no checkpoint or cursor).
    assert.deepEqual(
      written.map((w) => w.path),
      [`${MONITOR_RUNS_COLLECTION}/${NO_LOG_RUN_DOCUMENT}`],
    );
    const record = written[0]!.data;
    assert.deepEqual(Object.keys(record).sort(), ['lastRunAt', 'note', 'schemaVersion']);
    assert.equal(record['schemaVersion'], 1);
    assert.equal(record['note'], NO_LOG_NOTE);
    const at = Date.parse(String(record['lastRunAt']));
    assert.ok(at >= started && at <= Date.now(), String(record['lastRunAt']));
  });

  it('a record that cannot be written is an ERROR line with its fields, and the run still answers 200 and tells the owed notices', async () => {
    const { recorder, webhook, sink } = await pipelineOwingOneNotice();
    const firestore = recordOnlyFirestore();
    firestore.state.fail = Object.assign(
      new Error('7 PERMISSION_DENIED: Missing or insufficient permissions.'),
      {
        code: 7,
      },
    );
    const { status, body, logger, written } = await scheduledRun(env, sink, { firestore });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body['ok'], true);
    assert.match(String(body['note']), noLogWatched);
    assert.deepEqual(body['owedAlerts'], { told: 1, dropped: 0, failed: 0 });
    assert.equal(webhook.seen.length, 1);
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
    assert.deepEqual(written, []);

    const errors = logger.entries.filter((l) => l.severity === 'ERROR');
    assert.equal(errors.length, 1, JSON.stringify(logger.entries));
    const error = errors[0]!;
    assert.match(error.message, /could not record this monitor run without a log/);
    assert.equal(error['collection'], MONITOR_RUNS_COLLECTION);
    assert.equal(error['document'], NO_LOG_RUN_DOCUMENT);
    assert.ok(!Number.isNaN(Date.parse(String(error['lastRunAt']))));
    const cause = error['error'] as {
      code: string;
      dependency: string;
      message: string;
      cause: { message: string };
    };
    assert.equal(cause.code, 'DEPENDENCY_FAILED');
    assert.equal(cause.dependency, 'firestore');
    assert.match(cause.message, /could not record the monitor run without a log in monitorRuns\/no-log/);
    assert.match(cause.cause.message, /PERMISSION_DENIED/);
  });

  it('a from (backfill) is refused with 400 and says there is no log to backfill; the owed notices are still told', async () => {
    const { recorder, webhook, sink } = await pipelineOwingOneNotice();
    const { status, body, written } = await scheduledRun(env, sink, { query: { from: '5' } });
    assert.equal(status, 400, JSON.stringify(body));
    assert.equal(body['ok'], false);
    assert.deepEqual(body['logs'], []);
    assert.match(
      String(body['error']),
      /backfill from log index 5.*no transparency log is configured.*no log to backfill/,
    );
    assert.match(String(body['note']), noLogWatched);
    assert.deepEqual(body['owedAlerts'], { told: 1, dropped: 0, failed: 0 }, 'as after every run');
    assert.equal(webhook.seen.length, 1);
    assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
    assert.equal(written.length, 1, 'the run is recorded: it found no log configured');

    // A from that is not a log index is refused before anything runs, log or not: nothing is told.
    const malformed = await pipelineOwingOneNotice();
    const refused = await scheduledRun(env, malformed.sink, { query: { from: 'x' } });
    assert.equal(refused.status, 400);
    assert.match(String(refused.body['error']), /from must be a log index/);
    assert.equal(refused.body['owedAlerts'], undefined);
    assert.equal(malformed.webhook.seen.length, 0);
    assert.deepEqual(refused.written, []);
  });

  it('the core records the run with its clock in the store it is given, apart from any log state', async () => {
    const store = new MemoryMonitorStore();
    const logger = createMemoryLogger();
    const now = Date.parse('2026-12-02T10:15:00Z');
    const result = await runMonitor({
      logs: [],
      store,
      alerts: (await pipelineOwingOneNotice()).sink,
      records: untouchable('the signing records'),
      identities: [],
      logger,
      now: () => now,
    });
    assert.deepEqual(result, { ok: true, logs: [], note: NO_LOG_NOTE });
    assert.deepEqual(store.noLogRun, {
      schemaVersion: 1,
      lastRunAt: '2026-12-02T10:15:00.000Z',
      note: NO_LOG_NOTE,
    });
    assert.equal(store.states.size, 0, 'no log state');
  });

  it('a run with a log drops that record first, so a log configured later that the monitor cannot read shows as no state, not as no log', async () => {
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const logger = createMemoryLogger();
    const common = { store, alerts, records: untouchable<never>('the signing records'), logger };
    await runMonitor({ ...common, logs: [], identities: [] });
    assert.ok(store.noLogRun, 'recorded while there was no log');

    const unreachable: MonitoredLog = {
      url: 'https://rekor.example.com',
      getCheckpoint: () => Promise.reject(new DependencyError('rekor', 'the log cannot be reached')),
      verifyConsistency: () => Promise.reject(new Error('not reached')),
      readEntries: () => Promise.reject(new Error('not reached')),
    };
    const result = await runMonitor({
      ...common,
      logs: [{ name: 'rekor', log: unreachable, startIndex: 0 }],
      identities: await unrelatedIdentity(),
    });
    assert.equal(result.logs[0]?.outcome, 'failed', JSON.stringify(result));
    assert.equal(store.states.size, 0, 'the failed run saved no log state');
    assert.equal(store.noLogRun, undefined, 'the record of runs without a log is gone');
  });

  it('a record that cannot be dropped is logged as an error and the run with a log goes on', async () => {
    const store = new MemoryMonitorStore();
    store.forgetNoLogRun = () => Promise.reject(new DependencyError('firestore', 'unavailable'));
    const logger = createMemoryLogger();
    const result = await runMonitor({
      logs: [
        {
          name: 'rekor',
          log: {
            url: 'https://rekor.example.com',
            getCheckpoint: () => Promise.reject(new DependencyError('rekor', 'down')),
            verifyConsistency: () => Promise.reject(new Error('not reached')),
            readEntries: () => Promise.reject(new Error('not reached')),
          },
          startIndex: 0,
        },
      ],
      store,
      alerts: new MemoryAlertSink(),
      records: untouchable<never>('the signing records'),
      identities: await unrelatedIdentity(),
      logger,
    });
    assert.equal(result.logs[0]?.outcome, 'failed', 'the run went on to the log');
    const errors = logger.entries.filter((e) => e.severity === 'ERROR');
    assert.ok(
      errors.some((e) => /could not drop the record of monitor runs without a log/.test(String(e.message))),
      JSON.stringify(errors),
    );
  });

  it('REKOR_URL=none needs no owned identity: there are no entries to pass over', async () => {
    const { KMS_KEY: _, ...withoutKey } = env;
    assert.deepEqual(loadMonitorConfig(withoutKey).logs, []);
    const { status, body } = await scheduledRun(withoutKey, (await pipelineOwingOneNotice()).sink);
    assert.equal(status, 200, JSON.stringify(body));
    assert.match(String(body['note']), noLogWatched);
  });

  it('REKOR_URL unset or empty is not taken for none: refused at start-up as a configuration error, naming REKOR_URL', async () => {
    const { REKOR_URL: _, ...unset } = env;
    for (const missing of [unset, { ...env, REKOR_URL: '' }]) {
      assert.throws(
        () => loadMonitorConfig(missing),
        (err: unknown) =>
          err instanceof InvalidInputError &&
          /invalid monitorLog configuration/.test(err.message) &&
          /REKOR_URL is not set/.test(err.message) &&
          /"none"/.test(err.message),
      );
      // The scheduled run fails (500, for the scheduler's failure metrics), and still tells what is owed.
      const { recorder, webhook, sink } = await pipelineOwingOneNotice();
      const { status, body } = await scheduledRun(missing, sink);
      assert.equal(status, 500);
      assert.equal(body['ok'], false);
      assert.match(String(body['error']), /REKOR_URL is not set/);
      assert.deepEqual(body['owedAlerts'], { told: 1, dropped: 0, failed: 0 });
      assert.equal(webhook.seen.length, 1);
      assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
    }
  });

  it('a SIGSENTRY_CONFIG document whose log is none, with no monitor.logs, behaves as REKOR_URL=none', async () => {
    const watch = [{ repositories: 'europe-docker.pkg.dev/p/releases/**', key: keyVersion }];
    for (const doc of [
      { project: 'p', watch, log: { kind: 'none' } },
      { project: 'p', watch, log: { kind: 'none' }, monitor: { limits: { maxEntriesPerRun: 5000 } } },
    ]) {
      // The plain variables give way to the document: REKOR_URL unset there is no error.
      const docEnv = {
        GCP_PROJECT: 'p',
        KMS_ENDPOINT: env.KMS_ENDPOINT,
        SIGSENTRY_CONFIG: JSON.stringify(doc),
      };
      assert.deepEqual(loadMonitorConfig(docEnv).logs, [], JSON.stringify(doc));
      const { recorder, webhook, sink } = await pipelineOwingOneNotice();
      const { status, body } = await scheduledRun(docEnv, sink);
      assert.equal(status, 200, JSON.stringify(body));
      assert.deepEqual(body['logs'], []);
      assert.match(String(body['note']), noLogWatched);
      assert.deepEqual(body['owedAlerts'], { told: 1, dropped: 0, failed: 0 });
      assert.equal(webhook.seen.length, 1);
      assert.equal(recorder.alerts.get('rogue-signature:log:7')?.undelivered, undefined);
    }
    assert.equal(kmsConnections, 0, "KMS is not asked for the watch rules' key");
  });

  it('a SIGSENTRY_CONFIG document naming a log monitorLog cannot watch, or an empty monitor.logs, is still refused', () => {
    const watch = [{ repositories: 'europe-docker.pkg.dev/p/releases/**', key: keyVersion }];
    for (const doc of [
      // A v2 log is listed in monitor.logs with its Ed25519 key.
      { project: 'p', watch, log: { kind: 'rekor-v2', url: 'https://log2025-1.rekor.sigstore.dev' } },
      { project: 'p', watch, log: { kind: 'rekor-v1' } },
      { project: 'p', watch, log: 'none' },
      { project: 'p', watch, log: { kind: 'none' }, monitor: { logs: [] } },
    ]) {
      assert.throws(
        () => loadMonitorConfig({ SIGSENTRY_CONFIG: JSON.stringify(doc) }),
        (err: unknown) => err instanceof InvalidInputError && /at least one log/.test(err.message),
        JSON.stringify(doc),
      );
    }
  });

  it('monitorShard without a log acknowledges a shard message with a notice line: no scan, no retry', async () => {
    const logger = createMemoryLogger();
    const { sink } = await pipelineOwingOneNotice();
    const results: Array<Awaited<ReturnType<typeof runMonitorShard>>> = [];
    const handler = createMonitorShardEntry({
      logger,
      run: (message) =>
        monitorDepsFromEnv(env, clientsOf(sink, logger, untouchable<Firestore>('Firestore'))).then(
          async (deps) => {
            const result = await runMonitorShard(deps, message);
            results.push(result);
            return result;
          },
        ),
    });
    const message = { log: 'rekor.sigstore.dev', plan: 'p1', start: 0 };
    await handler({
      type: 'google.cloud.pubsub.topic.v1.messagePublished',
      data: { message: { data: Buffer.from(JSON.stringify(message)).toString('base64') } },
    });
    assert.equal(results.length, 1);
    assert.match(results[0]?.skipped ?? '', /no transparency log is configured/);
    assert.deepEqual(
      logger.entries.filter((l) => /skipped: no transparency log/.test(l.message)).map((l) => l.severity),
      ['NOTICE'],
    );
    assert.equal(kmsConnections, 0);
  });
});
