/**
 * The `monitorLog` HTTP handler (Cloud Scheduler calls it). It answers 200 with the run's summary
 * when every log was checked, and 500 when a log could not be checked or lied, so the scheduler's
 * retry and its failure metrics see it; the alerts themselves went out through the sinks.
 * `?from=INDEX` rescans (backfills) from an index.
 */
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
}) {
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
      res.status(result.ok ? 200 : 500).json({ ok: result.ok, logs: summary });
    } catch (err) {
      deps.logger.error('monitor run failed', { error: err });
      res.status(500).json({ ok: false, error: String((err as Error).message ?? err) });
    }
  };
}
