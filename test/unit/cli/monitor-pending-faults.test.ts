/**
 * `sigsentry monitor --once` in text names each pending tree the run found failing a log integrity
 * check (the run result's `pendingFaults`): the tree's origin, the alert's key, the error, one line
 * each, under the log's line. Before 2026-12-03 only `--json` showed them, so a run that then failed
 * or lost the log to another run said nothing in text of the CRITICAL alert it raised. Such a run
 * exits 1, whatever its end. (A backfill, --from, does not look at pending trees: no fault beside a
 * refused --from.) Driven through the monitor's core on a log as it reads it (heads taken as
 * verified), as test/unit/monitor/pending-fault-outcome.test.ts does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { monitorExitCode, monitorRunLines } from '../../../functions/cli/commands/monitor.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { FORK, pendingTreeForked as forked, LosingAfterFault, OLD } from '../../helpers/pending-tree-fork.ts';

const FAULT_LINE = `  pending tree "${OLD}" failed a log integrity check (alert log-inconsistent:fake): ${FORK}`;

/** The run's result. */
const pendingTreeForked = async (options?: Parameters<typeof forked>[0]) => (await forked(options)).run;

describe("`sigsentry monitor --once` names a pending tree's integrity fault in text", () => {
  it('the followed tree scanned: the fault line under the log-inconsistent line, exit 1', async () => {
    const result = await pendingTreeForked();
    const lines = monitorRunLines(result);
    assert.match(lines[0]!, /^fake: log-inconsistent; /, lines.join('\n'));
    assert.ok(lines.includes(FAULT_LINE), lines.join('\n'));
    assert.equal(monitorExitCode(result), 1);
  });

  it('the followed tree then unreadable: the run failed with its own error, and the fault is still named', async () => {
    const unreachable = () => Promise.reject(new DependencyError('rekor', 'entries: connection reset'));
    const result = await pendingTreeForked({ entries: unreachable });
    const lines = monitorRunLines(result);
    assert.match(lines[0]!, /^fake: failed; /, lines.join('\n'));
    assert.ok(lines.includes(FAULT_LINE), lines.join('\n'));
    assert.ok(
      lines.some((l) => l.startsWith('  error: ') && l.includes('connection reset')),
      lines.join('\n'),
    );
    assert.equal(monitorExitCode(result), 1);
  });

  it('the log then taken over by another run: busy, and the fault is still named', async () => {
    const result = await pendingTreeForked({ store: new LosingAfterFault() });
    const lines = monitorRunLines(result);
    assert.match(lines[0]!, /^fake: busy; /, lines.join('\n'));
    assert.ok(lines.includes(FAULT_LINE), lines.join('\n'));
    assert.equal(monitorExitCode(result), 1);
  });

  it('an alert that could not be recorded is said to be so, not named as if raised', async () => {
    const result = await pendingTreeForked({ alerts: new UnrecordedIntegrityAlerts() });
    const lines = monitorRunLines(result);
    const expected = `  pending tree "${OLD}" failed a log integrity check (alert log-inconsistent:fake not recorded: the next run raises it): ${FORK}`;
    assert.ok(lines.includes(expected), lines.join('\n'));
    assert.equal(monitorExitCode(result), 1);
  });

  it("the fault's error cannot add lines of its own", async () => {
    // The error quotes the log (a checkpoint's note refuses controls in an origin; an error need not).
    const forged = 'fake: scanned; tree size 2, cursor 0 → 2, 0 scanned, 0 matched, 0 rogue, 0 unparseable';
    const result = await pendingTreeForked({ fork: `y\n${forged}\u2028${forged}` });
    const lines = monitorRunLines(result);
    const faults = lines.filter((l) => l.startsWith('  pending tree '));
    assert.equal(faults.length, 1, lines.join('\n'));
    assert.ok(faults[0]!.endsWith(`: y\\n${forged}\\u2028${forged}`), faults[0]);
    assert.ok(!lines.some((l) => l.startsWith('fake: scanned')), lines.join('\n'));
  });
});

/** An alert store that cannot record integrity alerts. */
class UnrecordedIntegrityAlerts extends MemoryAlertSink {
  override async raise(input: AlertInput): Promise<void> {
    if (input.kind === 'log-inconsistent') throw new DependencyError('firestore', 'alerts: unavailable');
    await super.raise(input);
  }
}
