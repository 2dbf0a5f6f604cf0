/**
 * The `monitorLog` HTTP handler (Cloud Scheduler calls it). It answers 200 with the run's summary
 * when every log was checked, 400 for a `from` it refuses, and 500 when a log could not be checked or
 * lied, so the scheduler's retry and its failure metrics see it; the alerts themselves went out
 * through the sinks. A deployment without a log (REKOR_URL=none) answers 200 with no log and a
 * `note` saying so; every run, log or not, redelivers the alert notices still owed to channels.
 * `?from=INDEX` rescans (backfills) from an index.
 *
 * Two kinds of 400 for `from`, told apart by whether a run happened. A `from` that is not a log
 * index is refused before anything runs: the request was not understood, so it does nothing, not
 * even the redelivery (the scheduler never sends `from`; its runs redeliver). A well-formed `from`
 * the run refuses — one that would skip unscanned entries, or any `from` when no log is configured
 * (there is nothing to backfill) — is answered after the run, and like every run's answer that one
 * carries the owed notices it redelivered.
 */
import type { OwedRedelivery } from '../alerts/fanout.ts';
import { InvalidInputError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import type { MonitorRunResult } from './core.ts';
import { COMPLETED_OUTCOMES } from './outcome.ts';

interface HttpRequest {
  query?: Record<string, unknown>;
}
interface HttpResponse {
  status(code: number): HttpResponse;
  json(body: unknown): unknown;
}

export function createMonitorLogEntry(deps: {
  logger: Logger;
  run(options: { from?: number }): Promise<MonitorRunResult>;
  /**
   * Tells channels the alert notices still owed to them (a failed delivery, a CLI run's alert).
   * The monitor runs every few minutes, so no notice waits long for a raise that may never recur.
   */
  redeliverOwedAlerts?(): Promise<OwedRedelivery>;
}) {
  async function redeliverOwed(): Promise<Record<string, number> | undefined> {
    if (!deps.redeliverOwedAlerts) return undefined;
    try {
      const owed = await deps.redeliverOwedAlerts();
      for (const { key, channel } of owed.dropped) {
        deps.logger.warn(`alert notice owed to channel ${channel}, which this deployment does not have`, {
          key,
        });
      }
      for (const failure of owed.failures) {
        deps.logger.error(`alert notice still undelivered to ${failure.sink}`, { ...failure });
      }
      return { told: owed.told, dropped: owed.dropped.length, failed: owed.failures.length };
    } catch (err) {
      // Owed notices stay on their records: the next run tries again.
      deps.logger.error('could not redeliver owed alert notices', { error: err });
      return { failed: 1 };
    }
  }

  return async (req: HttpRequest, res: HttpResponse): Promise<void> => {
    const rawFrom = req.query?.['from'];
    if (
      rawFrom !== undefined &&
      !(typeof rawFrom === 'string' && /^\d+$/.test(rawFrom) && Number.isSafeInteger(Number(rawFrom)))
    ) {
      res.status(400).json({ error: 'from must be a log index (a whole number from 0 to 2^53 - 1)' });
      return;
    }
    let status: number;
    let body: Record<string, unknown>;
    try {
      const result = await deps.run(rawFrom === undefined ? {} : { from: Number(rawFrom) });
      const summary = result.logs.map(({ error, ...rest }) => ({
        ...rest,
        ...(error !== undefined ? { error: String((error as Error).message ?? error) } : {}),
      }));
      status = statusOf(result);
      body = {
        ok: result.ok,
        logs: summary,
        ...(result.note !== undefined ? { note: result.note } : {}),
        ...(result.refused !== undefined ? { error: result.refused.message } : {}),
      };
    } catch (err) {
      deps.logger.error('monitor run failed', { error: err });
      status = 500;
      body = { ok: false, error: String((err as Error).message ?? err) };
    }
    // Whatever the run did: a monitor that cannot start (its configuration, KMS) still delivers.
    const owedAlerts = await redeliverOwed();
    res.status(status).json({ ...body, ...(owedAlerts ? { owedAlerts } : {}) });
  };
}

/**
 * 500 tells the scheduler's retry and failure metrics that a log could not be checked; a `from`
 * the monitor refuses (it would skip entries never scanned, or there is no log) is the caller's
 * error, so 400.
 */
function statusOf(result: MonitorRunResult): number {
  if (result.ok) return 200;
  if (result.refused !== undefined) return 400;
  const failed = result.logs.filter((log) => log.outcome === 'failed');
  const refusedFrom = failed.every((log) => log.error instanceof InvalidInputError);
  const otherwiseFine = result.logs.every(
    (log) => log.outcome === 'failed' || COMPLETED_OUTCOMES.has(log.outcome),
  );
  return failed.length > 0 && refusedFrom && otherwiseFine ? 400 : 500;
}
