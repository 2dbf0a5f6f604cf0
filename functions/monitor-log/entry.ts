/**
 * The `monitorLog` HTTP handler (Cloud Scheduler calls it). It answers 200 with the run's summary
 * when every log was checked, and 500 when a log could not be checked or lied, so the scheduler's
 * retry and its failure metrics see it; the alerts themselves went out through the sinks.
 * `?from=INDEX` rescans (backfills) from an index.
 */
import type { OwedRedelivery } from '../alerts/fanout.ts';
import type { Logger } from '../logging/logger.ts';
import type { MonitorRunResult } from './core.ts';

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
    if (rawFrom !== undefined && !(typeof rawFrom === 'string' && /^\d+$/.test(rawFrom))) {
      res.status(400).json({ error: 'from must be a non-negative integer' });
      return;
    }
    try {
      const result = await deps.run(rawFrom === undefined ? {} : { from: Number(rawFrom) });
      const summary = result.logs.map(({ error, ...rest }) => ({
        ...rest,
        ...(error !== undefined ? { error: String((error as Error).message ?? error) } : {}),
      }));
      const owedAlerts = await redeliverOwed();
      res
        .status(result.ok ? 200 : 500)
        .json({ ok: result.ok, logs: summary, ...(owedAlerts ? { owedAlerts } : {}) });
    } catch (err) {
      deps.logger.error('monitor run failed', { error: err });
      res.status(500).json({ ok: false, error: String((err as Error).message ?? err) });
    }
  };
}
