/**
 * A log that stops growing (`log-stalled`, stall.ts): a log, or a cache or bucket serving its files,
 * that keeps serving the same old signed checkpoint freezes the monitor's view while every run
 * succeeds. On the Rekor emulator, with the runs' clock injected: the alert is raised once the log
 * has not grown for longer than its setting, once per stall, resolved when it grows; never when
 * turned off; and a frozen shard, which never grows by design, is no stall. A cache in front of the
 * log (`Cache`) serves older signed checkpoints: a replayed one, or a return to a tree known before,
 * is no growth.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { Alert, AlertInput } from '../../../functions/alerts/alert.ts';
import { AlertDeliveryError, FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import type { AlertNotifier } from '../../../functions/alerts/notifier.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import {
  type MonitorDeps,
  type MonitoredLogConfig,
  runMonitor,
  runMonitorShard,
} from '../../../functions/monitor-log/core.ts';
import { MemoryShardStore, type ShardMessage } from '../../../functions/monitor-log/fan-out.ts';
import type { FrozenTree, MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import type { VerifiedCheckpoint } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { unrelatedIdentity as unrelatedIdentityOf } from '../../helpers/unrelated-identity.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const unrelatedIdentity = await unrelatedIdentityOf();

/**
 * The log through a cache (or a bucket serving its files) that can be made to serve another signed
 * checkpoint of it than its newest: `serving`, while set.
 */
class Cache implements MonitoredLog {
  serving: VerifiedCheckpoint | undefined;
  readonly url: string;
  private readonly log: RekorV1Source;
  constructor(log: RekorV1Source) {
    this.log = log;
    this.url = log.url;
  }
  getCheckpoint(): Promise<VerifiedCheckpoint> {
    return this.serving !== undefined ? Promise.resolve(this.serving) : this.log.getCheckpoint();
  }
  verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void> {
    return this.log.verifyConsistency(trusted, next);
  }
  frozenTrees(): Promise<FrozenTree[]> {
    return this.log.frozenTrees();
  }
  readEntries(start: number, end: number, head: VerifiedCheckpoint) {
    return this.log.readEntries(start, end, head);
  }
}

describe('monitorLog: a log that stops growing (log-stalled)', () => {
  let log: TestLog;
  let client: RekorV1Client;
  let counter = 0;
  const appendMany = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await client.append(hashedRekordProposal(theirs, Buffer.from(`stall ${counter++}`)).body);
    }
  };

  beforeEach(async () => {
    log = await startTestLog('log-stalled');
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
  });
  afterEach(() => log.stop());

  /** Runs of the monitor on the emulator's log, at the clock the test moves. */
  function monitor(
    logs: Array<Omit<MonitoredLogConfig, 'log'>> = [{ name: 'L' }],
    limits: MonitorDeps['limits'] = {},
  ) {
    let clock = T0;
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink(() => new Date(clock));
    const logger = createMemoryLogger();
    const deps: MonitorDeps = {
      logs: logs.map((l) => ({ ...l, log: new Cache(new RekorV1Source({ client, url: log.rekor.url })) })),
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities: unrelatedIdentity,
      logger,
      limits,
      now: () => clock,
    };
    const run = async (name = 'L', over: Partial<MonitorDeps> = {}) => {
      const mark = alerts.raised.length;
      const result = await runMonitor({ ...deps, ...over });
      const stalled = alerts.raised.slice(mark).filter((a) => a.kind === 'log-stalled');
      return { ok: result.ok, result: result.logs.find((l) => l.log === name)!, stalled };
    };
    return {
      deps,
      run,
      alerts,
      logger,
      store,
      cache: (name = 'L') => deps.logs.find((l) => l.name === name)!.log as Cache,
      state: (name = 'L') => store.states.get(name)!,
      pass: (ms: number) => {
        clock += ms;
      },
      at: () => new Date(clock).toISOString(),
    };
  }

  it('raises one log-stalled (MEDIUM) once the log has not grown for longer than 24 h, not before, and not again on later runs', async () => {
    await appendMany(3);
    const m = monitor();
    assert.equal((await m.run()).result.outcome, 'scanned'); // the first run: the clock starts now
    const served = await client.getCheckpoint();

    m.pass(23 * HOUR);
    assert.deepEqual((await m.run()).stalled, []);
    m.pass(HOUR); // exactly 24 h: not longer than allowed
    const atLimit = await m.run();
    assert.deepEqual(atLimit.stalled, []);
    assert.equal(atLimit.result.stalledSince, undefined);

    m.pass(1);
    const over = await m.run();
    assert.equal(over.ok, true, 'a stalled log is checked: the run succeeds (200)');
    assert.equal(over.result.outcome, 'scanned');
    assert.equal(over.result.stalledSince, new Date(T0).toISOString());
    assert.equal(over.stalled.length, 1);
    const [alert] = over.stalled as [AlertInput];
    assert.equal(alert.severity, 'MEDIUM');
    assert.equal(alert.key, 'log-stalled:L');
    assert.equal(alert.subject, log.rekor.url);
    assert.deepEqual(alert.evidence.checkpoints, [m.state().checkpoint], 'the checkpoint it keeps serving');
    assert.equal(alert.evidence.logUrl, log.rekor.url);
    assert.equal(alert.evidence['origin'], served.origin);
    assert.equal(alert.evidence['treeSize'], 3);
    assert.equal(alert.evidence['rootHash'], served.rootHash.toString('hex'));
    assert.equal(alert.evidence['since'], new Date(T0).toISOString());
    assert.equal(alert.evidence['stalledAfterHours'], 24);
    assert.ok(
      m.logger.entries.some((l) =>
        l.message.startsWith(
          `monitor run on L: scanned; the log has not grown since ${new Date(T0).toISOString()}`,
        ),
      ),
      'the run line says so',
    );

    for (const later of [5 * 60_000, HOUR, DAY]) {
      m.pass(later);
      const again = await m.run();
      assert.deepEqual(again.stalled, [], 'one alert per stall, not one per run');
      assert.equal(again.result.stalledSince, new Date(T0).toISOString(), 'still reported by each run');
    }
    const [open] = m.alerts.ofKind('log-stalled');
    assert.equal(open?.state, 'open');
    assert.equal(open?.count, 1);
  });

  it('resolves the alert when the log grows, and counts a new stall from then (the same incident re-opened)', async () => {
    await appendMany(2);
    const m = monitor();
    await m.run();
    m.pass(DAY + 1);
    assert.equal((await m.run()).stalled.length, 1);

    await appendMany(1);
    m.pass(HOUR);
    const grew = m.at();
    const grown = await m.run();
    assert.deepEqual(grown.stalled, []);
    assert.equal(grown.result.stalledSince, undefined);
    const [resolved] = m.alerts.ofKind('log-stalled');
    assert.equal(resolved?.state, 'resolved');
    assert.match(resolved?.resolvedReason ?? '', /the log grew: .* has 3 entries/);
    assert.equal(m.state().growth?.at, grew);
    assert.equal(m.state().growth?.alerted, undefined);

    m.pass(DAY);
    assert.deepEqual((await m.run()).stalled, [], 'counted from the growth');
    m.pass(1);
    const again = await m.run();
    assert.equal(again.stalled.length, 1);
    assert.equal(again.stalled[0]?.evidence['since'], grew);
    const [reopened] = m.alerts.ofKind('log-stalled');
    assert.equal(reopened?.state, 'open');
    assert.equal(reopened?.count, 2);
  });

  it('a log with stall alerts turned off is never alerted, beside one with the default that is; turning them off resolves an open one', async () => {
    await appendMany(2);
    const m = monitor([{ name: 'quiet', stalledAfterMs: false }, { name: 'L' }]);
    await m.run();
    m.pass(7 * DAY);
    const week = await m.run();
    assert.equal(week.ok, true);
    assert.deepEqual(
      m.alerts.raised.filter((a) => a.kind === 'log-stalled').map((a) => a.key),
      ['log-stalled:L'],
    );
    assert.equal((await m.run('quiet')).result.stalledSince, undefined);

    m.deps.logs[1]!.stalledAfterMs = false;
    m.pass(HOUR);
    const off = await m.run();
    assert.deepEqual(off.stalled, []);
    assert.equal(off.result.stalledSince, undefined);
    const [resolved] = m.alerts.ofKind('log-stalled');
    assert.equal(resolved?.state, 'resolved');
    assert.match(resolved?.resolvedReason ?? '', /turned off/);
  });

  it('an alert that could not be recorded fails the run and is raised by the next', async () => {
    await appendMany(1);
    const m = monitor();
    await m.run();
    const sink = m.alerts;
    let down = true;
    m.deps.alerts = {
      raise: (alert) => (down ? Promise.reject(new Error('Firestore unavailable')) : sink.raise(alert)),
      resolve: (key, reason) => sink.resolve(key, reason),
    };
    m.pass(DAY + 1);
    const failed = await m.run();
    assert.equal(failed.result.outcome, 'failed');
    assert.equal(failed.ok, false);
    assert.equal(m.state().growth?.alerted, undefined);

    down = false;
    m.pass(5 * 60_000);
    const next = await m.run();
    assert.equal(next.result.outcome, 'scanned');
    assert.equal(next.stalled.length, 1);
  });

  it('a frozen shard is no stall: runs that scan a frozen tree while the active tree grows raise nothing; the active tree stalling does', async () => {
    await appendMany(3);
    // Two entries a run, so the frozen tree's tail takes three runs.
    const m = monitor([{ name: 'L' }], { batchSize: 2, maxEntriesPerRun: 2 });
    await m.run();
    const frozenOrigin = m.state().origin;
    await appendMany(6); // the tail of the tree about to freeze
    assert.equal(log.rekor.rotateV1().frozenTreeSize, 9);

    for (let run = 1; run <= 3; run++) {
      await appendMany(1); // the active tree grows
      m.pass(13 * HOUR);
      const r = await m.run();
      assert.deepEqual(r.stalled, [], `run ${run}`);
      assert.equal(r.result.stalledSince, undefined);
      // Still in the frozen tree, which has not grown since the first of these runs (39 h in all).
      assert.equal(m.state().origin, frozenOrigin, `run ${run}`);
    }
    await appendMany(1);
    m.pass(13 * HOUR);
    const moved = await m.run();
    assert.deepEqual(moved.stalled, []);
    const active = m.state().origin;
    assert.notEqual(active, frozenOrigin, 'the monitor follows the active tree');
    const lastGrowth = m.at();

    m.pass(DAY + 1);
    const stalled = await m.run();
    assert.equal(stalled.stalled.length, 1);
    assert.equal(stalled.stalled[0]?.evidence['origin'], active);
    assert.equal(stalled.stalled[0]?.evidence['treeSize'], 4);
    assert.equal(stalled.stalled[0]?.evidence['since'], lastGrowth);
  });

  it('a replayed older checkpoint is no growth: the record keeps its size and time, and the stall is raised on time', async () => {
    await appendMany(2);
    const m = monitor();
    const older = await client.getCheckpoint();
    await m.run();
    await appendMany(3);
    m.pass(HOUR);
    await m.run();
    const grew = m.at();
    assert.deepEqual({ ...m.state().growth }, { origin: older.origin, treeSize: 5, at: grew });

    m.cache().serving = older; // a cache serves the checkpoint of 2 entries from now on
    for (let run = 1; run <= 4; run++) {
      m.pass(5 * HOUR);
      const r = await m.run();
      assert.equal(r.result.outcome, 'scanned', `run ${run}`);
      assert.deepEqual(r.stalled, [], `run ${run}`);
      assert.deepEqual(
        { ...m.state().growth },
        { origin: older.origin, treeSize: 5, at: grew },
        `run ${run}`,
      );
    }
    m.pass(5 * HOUR); // 25 h after the growth
    const stalled = await m.run();
    assert.equal(stalled.stalled.length, 1);
    assert.equal(stalled.stalled[0]?.evidence['treeSize'], 2, 'the checkpoint served');
    assert.equal(stalled.stalled[0]?.evidence['since'], grew);
  });

  it('a cache going back and forth between a frozen tree’s final checkpoint and the active tree, which no longer grows, is a stall: a return to a tree known before is no growth', async () => {
    await appendMany(3);
    const m = monitor();
    await m.run();
    const frozenOrigin = m.state().origin;
    log.rekor.rotateV1();
    await appendMany(2);
    m.pass(HOUR);
    await m.run();
    const active = m.state().origin;
    assert.notEqual(active, frozenOrigin);
    const grew = m.at();
    assert.deepEqual(
      { ...m.state().growth },
      { origin: active, treeSize: 2, at: grew },
      'a new tree is growth',
    );
    const [frozen] = await m.cache().frozenTrees();
    assert.equal(frozen?.origin, frozenOrigin);

    // The log never grows again; the cache serves the frozen tree's final checkpoint every other run.
    for (let run = 1; run <= 4; run++) {
      m.cache().serving = run % 2 === 1 ? frozen?.checkpoint : undefined;
      m.pass(6 * HOUR); // to 25 h after the growth
      const r = await m.run();
      assert.equal(r.result.outcome, 'scanned', `run ${run}`);
      assert.equal(
        m.state().origin,
        run % 2 === 1 ? frozenOrigin : active,
        `run ${run}: the monitor follows`,
      );
      assert.deepEqual(r.stalled, [], `run ${run}`);
      assert.deepEqual({ ...m.state().growth }, { origin: active, treeSize: 2, at: grew }, `run ${run}`);
    }
    m.cache().serving = frozen?.checkpoint;
    m.pass(6 * HOUR);
    const stalled = await m.run();
    assert.equal(stalled.stalled.length, 1);
    assert.equal(stalled.stalled[0]?.evidence['since'], grew);
    assert.equal(stalled.stalled[0]?.evidence['origin'], frozenOrigin, 'the checkpoint served');
    m.cache().serving = undefined;
    m.pass(6 * HOUR);
    const back = await m.run();
    assert.deepEqual(back.stalled, [], 'back to the active tree: not growth, and not raised again');
    assert.equal(back.result.stalledSince, grew);
    assert.equal(m.alerts.ofKind('log-stalled')[0]?.state, 'open');
    assert.ok(
      m.alerts.ofKind('log-tree-changed').every((a) => a.state === 'open'),
      'each move is still told',
    );
  });

  it('a tree the log lists as frozen, never seen by the monitor, is no growth either', async () => {
    await appendMany(2);
    log.rekor.rotateV1();
    await appendMany(2);
    log.rekor.rotateV1();
    await appendMany(2);
    const m = monitor();
    await m.run(); // starts in the third tree
    const active = m.state().origin;
    const [oldest] = await m.cache().frozenTrees();
    assert.ok(oldest?.checkpoint !== undefined);
    assert.notEqual(oldest.origin, active);

    for (let run = 1; run <= 4; run++) {
      m.cache().serving = run % 2 === 1 ? oldest.checkpoint : undefined;
      m.pass(6 * HOUR); // to 24 h after the first run
      const r = await m.run();
      assert.deepEqual(r.stalled, [], `run ${run}`);
      assert.deepEqual(
        { ...m.state().growth },
        { origin: active, treeSize: 2, at: new Date(T0).toISOString() },
      );
    }
    m.cache().serving = oldest.checkpoint;
    m.pass(6 * HOUR);
    const stalled = await m.run();
    assert.equal(stalled.stalled.length, 1);
    assert.equal(stalled.stalled[0]?.evidence['since'], new Date(T0).toISOString());
  });

  it('a move to a new tree while the alert is open resolves it as growth, and the record follows the new tree', async () => {
    await appendMany(2);
    const m = monitor();
    await m.run();
    const before = m.state().origin;
    m.pass(DAY + 1);
    assert.equal((await m.run()).stalled.length, 1);
    assert.ok(m.state().growth?.alerted);

    log.rekor.rotateV1();
    await appendMany(1);
    m.pass(HOUR);
    const moved = await m.run();
    assert.deepEqual(moved.stalled, []);
    assert.equal(moved.result.stalledSince, undefined);
    const active = m.state().origin;
    assert.notEqual(active, before);
    assert.deepEqual({ ...m.state().growth }, { origin: active, treeSize: 1, at: m.at() });
    const [resolved] = m.alerts.ofKind('log-stalled');
    assert.equal(resolved?.state, 'resolved');
    assert.equal(resolved?.resolvedReason, `the log grew: tree "${active}" has 1 entries`);
  });

  it('a fanned-out run, the shard runs and the run that finishes the plan keep the growth record', async () => {
    await appendMany(1);
    const queue: ShardMessage[] = [];
    const m = monitor([{ name: 'L' }], { batchSize: 10, fanOutAbove: 15, shardSize: 10 });
    m.deps.fanOut = {
      store: new MemoryShardStore(),
      dispatcher: {
        dispatch: async (messages) => {
          queue.push(...messages);
        },
      },
    };
    await m.run();
    await appendMany(25);
    m.pass(HOUR);
    const planned = await m.run();
    assert.equal(planned.result.outcome, 'fanned-out');
    const growth = { origin: m.state().origin, treeSize: 26, at: m.at() };
    assert.deepEqual({ ...m.state().growth }, growth);
    assert.equal(queue.length, 3);

    m.pass(60_000);
    for (const message of queue.splice(0)) {
      assert.equal((await runMonitorShard(m.deps, message)).outcome, 'scanned');
    }
    m.pass(HOUR);
    const finished = await m.run();
    assert.equal(finished.result.outcome, 'scanned');
    assert.equal(m.state().fanOut, undefined);
    assert.equal(m.state().cursor, 26);
    assert.deepEqual({ ...m.state().growth }, growth);
  });

  it('a backfill (?from=) keeps the growth record and is no growth', async () => {
    await appendMany(3);
    const m = monitor();
    await m.run();
    await appendMany(2);
    m.pass(HOUR);
    await m.run();
    const growth = { ...m.state().growth };
    assert.equal(growth.treeSize, 5);

    m.pass(HOUR);
    const backfill = await m.run('L', { from: 0 });
    assert.equal(backfill.result.outcome, 'scanned');
    assert.equal(backfill.result.scanned, 5);
    assert.deepEqual({ ...m.state().growth }, growth);
  });

  it('a state written before growth was kept, whose first run is served a stale checkpoint (a cache), starts the record at the verified size', async () => {
    await appendMany(2);
    const m = monitor();
    const stale = await client.getCheckpoint();
    await appendMany(3);
    await m.run();
    delete m.store.states.get('L')!.growth; // as before this check existed

    m.cache().serving = stale;
    m.pass(HOUR);
    await m.run();
    const started = m.at();
    assert.deepEqual({ ...m.state().growth }, { origin: stale.origin, treeSize: 5, at: started });
    m.cache().serving = undefined;
    m.pass(HOUR);
    await m.run();
    assert.equal(m.state().growth?.at, started, 'the verified size again is no growth');
  });

  it('a raise whose `alerted` was never saved is still resolved by the growth that follows', async () => {
    await appendMany(2);
    const m = monitor();
    await m.run();
    const store = m.store;
    let down = true;
    m.deps.store = {
      load: (name) => store.load(name),
      save: (next, version) =>
        down && next.growth?.alerted !== undefined
          ? Promise.reject(new Error('Firestore unavailable'))
          : store.save(next, version),
    };
    m.pass(DAY + 1);
    const raised = await m.run();
    assert.equal(raised.stalled.length, 1);
    assert.equal(raised.result.outcome, 'failed', 'the save failed');
    assert.equal(m.state().growth?.alerted, undefined);

    down = false;
    await appendMany(1);
    m.pass(HOUR);
    const grown = await m.run();
    assert.equal(grown.result.outcome, 'scanned');
    const [resolved] = m.alerts.ofKind('log-stalled');
    assert.equal(resolved?.state, 'resolved');
    assert.match(resolved?.resolvedReason ?? '', /the log grew: .* has 3 entries/);
    assert.deepEqual({ ...m.state().growth }, { origin: m.state().origin, treeSize: 3, at: m.at() });
  });

  it('growth after longer than the allowance with no alert open (no run meanwhile) resolves nothing and tells no channel', async () => {
    await appendMany(1);
    const m = monitor();
    const told: string[] = [];
    const channel: AlertNotifier = {
      name: 'webhook',
      wantsRepeats: false,
      notify: async ({ alert, status }) => {
        told.push(`${status} ${alert.key}`);
      },
      resolved: async (alert: Alert) => {
        told.push(`resolved ${alert.key}`);
      },
    };
    const fanOut = new FanOutAlertSink({ recorder: m.alerts, notifiers: [channel], now: () => new Date(T0) });
    const asked: string[] = [];
    m.deps.alerts = {
      raise: (alert) => fanOut.raise(alert),
      resolve: (key, reason) => {
        asked.push(key);
        return fanOut.resolve(key, reason);
      },
    };
    await m.run();
    await appendMany(1);
    m.pass(2 * DAY); // the monitor did not run meanwhile
    const grown = await m.run();
    assert.equal(grown.result.outcome, 'scanned');
    assert.deepEqual(grown.stalled, []);
    assert.deepEqual(
      asked,
      ['log-stalled:L'],
      'the resolve is asked, as it would be after a raise not recorded',
    );
    assert.deepEqual(m.alerts.ofKind('log-stalled'), [], 'no alert record is written');
    assert.deepEqual(told, [], 'no channel is told');
    assert.equal(m.state().growth?.at, m.at());
  });

  it('a resolve that fails is tried again by the next run, still as growth', async () => {
    await appendMany(2);
    const m = monitor();
    await m.run();
    m.pass(DAY + 1);
    assert.equal((await m.run()).stalled.length, 1);
    const stall = { ...m.state().growth };
    const sink = m.alerts;
    let down = true;
    m.deps.alerts = {
      raise: (alert) => sink.raise(alert),
      resolve: (key, reason) =>
        down ? Promise.reject(new Error('Firestore unavailable')) : sink.resolve(key, reason),
    };
    await appendMany(1);
    m.pass(HOUR);
    const failed = await m.run();
    assert.equal(failed.result.outcome, 'scanned');
    assert.equal(m.alerts.ofKind('log-stalled')[0]?.state, 'open');
    assert.deepEqual({ ...m.state().growth }, stall, 'nothing moves until it is resolved');

    down = false;
    m.pass(HOUR);
    await m.run();
    const [resolved] = m.alerts.ofKind('log-stalled');
    assert.equal(resolved?.state, 'resolved');
    assert.match(resolved?.resolvedReason ?? '', /the log grew: .* has 3 entries/);
    assert.deepEqual({ ...m.state().growth }, { origin: stall.origin, treeSize: 3, at: m.at() });
  });

  it('a resolve recorded but not told to every channel counts as resolved: the next stall is raised', async () => {
    await appendMany(2);
    const m = monitor();
    await m.run();
    m.pass(DAY + 1);
    assert.equal((await m.run()).stalled.length, 1);
    const sink = m.alerts;
    m.deps.alerts = {
      raise: (alert) => sink.raise(alert),
      resolve: async (key, reason) => {
        await sink.resolve(key, reason);
        throw new AlertDeliveryError(key, true, [{ sink: 'webhook', error: new Error('503') }]);
      },
    };
    await appendMany(1);
    m.pass(HOUR);
    await m.run();
    assert.equal(m.alerts.ofKind('log-stalled')[0]?.state, 'resolved');
    assert.equal(m.state().growth?.alerted, undefined);

    m.pass(DAY + 1);
    const again = await m.run();
    assert.equal(again.stalled.length, 1, 'another stall is raised');
    assert.equal(m.alerts.ofKind('log-stalled')[0]?.count, 2);
  });
});
