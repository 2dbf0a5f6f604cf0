/**
 * The `reverifyImages` HTTP handler, called by Cloud Scheduler (authenticated HTTP; the platform checks
 * the caller's OIDC token). One request runs one pass; the body may name a shard
 * (`{"shard":{"index":0,"count":4}}`) when the inventory is split across instances. The answer is
 * the pass summary; a pass that could not run (configuration, the verdict store) or could not follow
 * up what it failed to verify (`verification-stale`) answers 500, so the scheduler records a
 * failure and the absence of successful runs pages (infra/alerting.tf).
 */
import { z } from 'zod';
import { InvalidInputError, isRetryable } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import type { ReverifyOptions, ReverifySummary } from './core.ts';

export interface HttpRequestLike {
  method?: string;
  body?: unknown;
}

export interface HttpResponseLike {
  status(code: number): HttpResponseLike;
  json(body: unknown): unknown;
}

const BodySchema = z
  .object({
    shard: z
      .object({ index: z.number().int().min(0), count: z.number().int().min(1).max(1000) })
      .refine((s) => s.index < s.count, 'shard index must be below the count')
      .optional(),
  })
  .optional();

export function parseReverifyRequest(body: unknown): ReverifyOptions {
  const parsed = BodySchema.safeParse(body === '' || body === undefined || body === null ? undefined : body);
  if (!parsed.success) throw new InvalidInputError(`bad reverify request: ${z.prettifyError(parsed.error)}`);
  return parsed.data?.shard ? { shard: parsed.data.shard } : {};
}

export function createReverifyEntry(deps: {
  logger: Logger;
  run(options: ReverifyOptions): Promise<ReverifySummary>;
}) {
  return async (req: HttpRequestLike, res: HttpResponseLike): Promise<void> => {
    if (req.method !== undefined && req.method !== 'POST' && req.method !== 'GET') {
      res.status(405).json({ error: 'use POST' });
      return;
    }
    let options: ReverifyOptions;
    try {
      options = parseReverifyRequest(req.body);
    } catch (err) {
      res.status(400).json({ error: (err as Error).message });
      return;
    }
    try {
      const summary = await deps.run(options);
      const { outcomes: _outcomes, ...rest } = summary;
      res.status(summary.unverifiedFollowUp === 'failed' ? 500 : 200).json(rest);
    } catch (err) {
      deps.logger.error('re-verification pass failed', { error: err, retryable: isRetryable(err) });
      res.status(500).json({ error: (err as Error).message });
    }
  };
}
