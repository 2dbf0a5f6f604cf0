/**
 * A pending old tree that fails a log integrity check is alerted, recorded on the tree
 * (pending.fault), and the followed tree is scanned in the same run. Found by a review of the
 * session's changes (LOW): when that scan then ended the run `failed` (the log unreachable) or
 * `busy` (another run took the log over), the run's result no longer said anything of the fault,
 * though its CRITICAL alert was raised. The result now names it (`pendingFaults`), whatever the
 * run's end. On a log as the monitor reads it (heads taken as verified).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError } from '../../../functions/errors.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { FORK, pendingTreeForked as forked, LosingAfterFault, OLD } from '../../helpers/pending-tree-fork.ts';

/** The log's result of the run, and the alerts it raised. */
async function pendingTreeForked(store: MemoryMonitorStore, entries: MonitoredLog['readEntries']) {
  const { run, alerts } = await forked({ store, entries });
  return { result: run.logs[0]!, alerts };
}

const named = [{ origin: OLD, alert: 'log-inconsistent:fake', alertRecorded: true, error: FORK }];

describe("a pending tree's integrity fault in the run's result", () => {
  it('the followed tree scanned: the run ends log-inconsistent, naming the tree', async () => {
    const { result, alerts } = await pendingTreeForked(new MemoryMonitorStore(), async () => []);
    assert.equal(result.outcome, 'log-inconsistent', JSON.stringify(result));
    assert.deepEqual(result.pendingFaults, named);
    assert.equal(alerts.ofKind('log-inconsistent')[0]?.severity, 'CRITICAL');
  });

  it('the followed tree then unreadable: the run failed, and still names the fault', async () => {
    const unreachable = () => Promise.reject(new DependencyError('rekor', 'entries: connection reset'));
    const { result, alerts } = await pendingTreeForked(new MemoryMonitorStore(), unreachable);
    assert.equal(result.outcome, 'failed', JSON.stringify(result));
    assert.match(String((result.error as Error).message), /connection reset/, 'why it failed');
    assert.deepEqual(result.pendingFaults, named, 'and the fault it found first');
    assert.equal(alerts.ofKind('log-inconsistent').length, 1);
  });

  it('the log then taken over by another run: busy, and still names the fault', async () => {
    const store = new LosingAfterFault();
    const { result, alerts } = await pendingTreeForked(store, async () => []);
    assert.equal(result.outcome, 'busy', JSON.stringify(result));
    assert.equal(store.states.get('fake')?.previousShards[0]?.pending?.fault?.error, FORK, 'recorded');
    assert.deepEqual(result.pendingFaults, named);
    assert.equal(alerts.ofKind('log-inconsistent').length, 1);
  });

  it('its alert not recorded (the alert store down): the fault is named as not alerted, not as if it were', async () => {
    const { run } = await forked({ alerts: new UnrecordedIntegrityAlerts() });
    const result = run.logs[0]!;
    assert.deepEqual(result.pendingFaults, [{ ...named[0], alertRecorded: false }], JSON.stringify(result));
  });
});

/** An alert store that cannot record integrity alerts. */
class UnrecordedIntegrityAlerts extends MemoryAlertSink {
  override async raise(input: AlertInput): Promise<void> {
    if (input.kind === 'log-inconsistent') throw new DependencyError('firestore', 'alerts: unavailable');
    await super.raise(input);
  }
}
