/**
 * A log that stops growing (`log-stalled`, stall.ts): a log, or a cache or bucket serving its files,
 * that keeps serving the same old signed checkpoint freezes the monitor's view while every run
 * succeeds. On the Rekor emulator, with the runs' clock injected: the alert is raised once the log
 * has not grown for longer than its setting, once per stall, resolved when it grows; never when
 * turned off; and a frozen shard, which never grows by design, is no stall.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import {
  type MonitorDeps,
  type MonitoredLogConfig,
  runMonitor,
} from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');

const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
/** The entries do not matter here, but the monitor refuses to run with no owned identity. */
const unrelatedIdentity = await resolveIdentities(
  [
    {
      type: 'publicKey',
      pem: generateKeyPairSync('ec', { namedCurve: 'P-256' })
        .publicKey.export({ format: 'pem', type: 'spki' })
        .toString(),
    },
  ],
  () => Promise.reject(new Error('no KMS here')),
);

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
    const alerts = new MemoryAlertSink();
    const logger = createMemoryLogger();
    const deps: MonitorDeps = {
      logs: logs.map((l) => ({ ...l, log: new RekorV1Source({ client, url: log.rekor.url }) })),
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities: unrelatedIdentity,
      logger,
      limits,
      now: () => clock,
    };
    const run = async (name = 'L') => {
      const mark = alerts.raised.length;
      const result = await runMonitor(deps);
      const stalled = alerts.raised.slice(mark).filter((a) => a.kind === 'log-stalled');
      return { ok: result.ok, result: result.logs.find((l) => l.log === name)!, stalled };
    };
    return {
      deps,
      run,
      alerts,
      logger,
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
});
