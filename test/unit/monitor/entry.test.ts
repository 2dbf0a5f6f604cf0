import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidInputError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import type { LogRunResult, MonitorRunResult } from '../../../functions/monitor-log/core.ts';
import { createMonitorLogEntry } from '../../../functions/monitor-log/entry.ts';

const log = (outcome: LogRunResult['outcome'], error?: unknown): LogRunResult => ({
  log: 'rekor',
  outcome,
  scanned: 0,
  matched: 0,
  rogue: 0,
  unparseable: 0,
  deliveryFailures: 0,
  ...(error === undefined ? {} : { error }),
});

/** What `entry` answers for `query`: its status and body. */
async function call(entry: ReturnType<typeof createMonitorLogEntry>, query: Record<string, unknown> = {}) {
  const answer = { status: 0, body: undefined as unknown };
  const res = {
    status(code: number) {
      answer.status = code;
      return res;
    },
    json(body: unknown) {
      answer.body = body;
    },
  };
  await entry({ query }, res);
  return answer;
}

/** The status monitorLog answers for `query`, when a run ends with `logs`. */
async function answer(query: Record<string, unknown>, logs: LogRunResult[]) {
  const asked: Array<{ from?: number }> = [];
  const entry = createMonitorLogEntry({
    logger: createMemoryLogger(),
    run: async (options): Promise<MonitorRunResult> => {
      asked.push(options);
      return { ok: logs.every((l) => l.outcome !== 'failed'), logs };
    },
  });
  return { ...(await call(entry, query)), asked };
}

describe('monitorLog answers the scheduler and operators with the right status', () => {
  it('refuses a from that is not a log index before running, big numbers included', async () => {
    for (const from of ['-1', '1.5', 'x', '99999999999999999999', String(2 ** 53)]) {
      const { status, asked } = await answer({ from }, [log('scanned')]);
      assert.equal(status, 400, from);
      assert.equal(asked.length, 0, `${from} never reaches the monitor`);
    }
    const { status, asked } = await answer({ from: String(2 ** 53 - 1) }, [log('scanned')]);
    assert.equal(status, 200);
    assert.deepEqual(asked, [{ from: 2 ** 53 - 1 }]);
  });

  it("a from the monitor refuses (it would skip unscanned entries) is the caller's error: 400, not 500", async () => {
    const refused = log(
      'failed',
      new InvalidInputError('a backfill from log index 9 would skip entries 3–8'),
    );
    assert.equal((await answer({ from: '9' }, [refused])).status, 400);
    // Beside a log that could not be checked, the run failed: 500, so the scheduler sees it.
    const down = log('failed', new Error('log unreachable'));
    assert.equal((await answer({ from: '9' }, [refused, down])).status, 500);
    assert.equal((await answer({ from: '9' }, [refused, log('log-inconsistent')])).status, 500);
    assert.equal((await answer({}, [down])).status, 500);
  });

  it('tells the owed alert notices even when the monitor cannot run', async () => {
    let redelivered = 0;
    const entry = createMonitorLogEntry({
      logger: createMemoryLogger(),
      run: async () => {
        throw new Error('monitorLog cannot start: KMS unreachable');
      },
      redeliverOwedAlerts: async () => {
        redelivered++;
        return { told: 1, dropped: [], failures: [] };
      },
    });
    const { status, body } = await call(entry);
    assert.equal(status, 500);
    assert.equal(redelivered, 1);
    assert.deepEqual((body as { owedAlerts?: unknown }).owedAlerts, { told: 1, dropped: 0, failed: 0 });
  });
});
