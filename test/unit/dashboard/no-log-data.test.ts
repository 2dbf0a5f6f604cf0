/**
 * What the dashboard's data layer and `sigsentry status` make of the monitor's record of a run
 * without a transparency log (`monitorRuns/no-log`): the latest word unless a log state was
 * updated after it, never standing in for a log state; and in the terminal, "no transparency log
 * is configured" with the last run, not "no run yet".
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { monitorLines } from '../../../functions/cli/commands/status.ts';
import { noLogRunSummary } from '../../../functions/dashboard/data.ts';
import type { MonitorSummary } from '../../../functions/dashboard/view.ts';
import { NO_LOG_NOTE } from '../../../functions/monitor-log/core.ts';

const record = { schemaVersion: 1 as const, lastRunAt: '2026-12-02T10:15:00.000Z', note: NO_LOG_NOTE };

function logState(updatedAt: string): MonitorSummary {
  return {
    log: 'rekor.sigstore.dev',
    url: 'https://rekor.sigstore.dev',
    origin: 'rekor.sigstore.dev - 1193050959916656506',
    cursor: 90,
    treeSize: 100,
    checkpoint: 'rekor.sigstore.dev - 1193050959916656506\n100\nROOT=\n',
    updatedAt,
  };
}

describe('dashboard data: the record of a run without a log', () => {
  it('with no log state, it is the latest word', () => {
    assert.deepEqual(noLogRunSummary(record, []), {
      lastRunAt: record.lastRunAt,
      note: NO_LOG_NOTE,
      latest: true,
    });
  });

  it('a log state updated after it (a log configured since) makes it old; one updated before does not', () => {
    assert.equal(noLogRunSummary(record, [logState('2026-12-02T10:30:00.000Z')])?.latest, false);
    assert.equal(noLogRunSummary(record, [logState('2026-12-01T08:00:00.000Z')])?.latest, true);
  });

  it('no record, or one of another schema, is none', () => {
    assert.equal(noLogRunSummary(undefined, []), undefined);
    assert.equal(noLogRunSummary({ ...record, schemaVersion: 2 as never }, []), undefined);
    assert.equal(noLogRunSummary({ schemaVersion: 1, lastRunAt: 'yesterday' }, []), undefined);
  });
});

describe('sigsentry status: the monitor lines', () => {
  it('a deployment without a log: no log is configured, with the last run; not "no run yet"', () => {
    const lines = monitorLines({ monitors: [], noLogRun: { ...noLogRunSummary(record, [])! } });
    assert.deepEqual(lines, [
      '  no transparency log is configured: none watched (the monitor last ran 2026-12-02T10:15:00.000Z)',
    ]);
  });

  it('a monitor that never ran: no run yet', () => {
    assert.deepEqual(monitorLines({ monitors: [] }), ['  no run yet']);
  });

  it('a log configured since: its cursor, nothing of the runs without it', () => {
    const monitors = [logState('2026-12-02T10:30:00.000Z')];
    assert.deepEqual(monitorLines({ monitors, noLogRun: noLogRunSummary(record, monitors)! }), [
      '  rekor.sigstore.dev: cursor 90 of verified tree size 100',
    ]);
  });

  it('a log dropped since: no log is configured, then the older log states as from earlier runs', () => {
    const monitors = [logState('2026-12-01T08:00:00.000Z')];
    assert.deepEqual(monitorLines({ monitors, noLogRun: noLogRunSummary(record, monitors)! }), [
      '  no transparency log is configured: none watched (the monitor last ran 2026-12-02T10:15:00.000Z)',
      '  log states from earlier runs, when a log was configured:',
      '    rekor.sigstore.dev: cursor 90 of verified tree size 100',
    ]);
  });
});
