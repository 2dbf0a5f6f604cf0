/**
 * A log that stops growing. Every new checkpoint is proven consistent, so a log that rewrites its
 * history is caught; one that keeps serving the same old signed checkpoint is not: a log, or a cache
 * or bucket serving its files (which needs no key), replaying it freezes the monitor's view, and an
 * entry appended meanwhile is never seen while every run succeeds. So the log's state keeps when
 * its newest checkpoint last grew, and a run that finds it has not for longer than the log's
 * `stalledAfterMs` raises `log-stalled` once; the run that sees it grow again resolves it.
 *
 * Only the newest checkpoint counts (the log's active tree, signature verified): a frozen tree never
 * grows by design, and after a rotation the monitor may scan one for several runs while the active
 * tree grows. A checkpoint of another tree is growth (a rotation; log-tree-changed tells of it).
 * Times are the run's clock, as the state's `updatedAt` and the run lease are.
 */
import type { AlertInput } from '../alerts/alert.ts';
import type { Logger } from '../logging/logger.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { logStalledAlert, logStalledKey } from './alerts.ts';
import type { LogGrowth } from './state.ts';

/** A private log with little traffic may not grow for hours; a whole day without is worth a look. */
export const DEFAULT_STALLED_AFTER_MS = 24 * 3_600_000;

export interface GrowthCheck {
  where: { name: string; url: string };
  /** How long the log may go without growing; false: never alerted. */
  stalledAfterMs: number | false;
  now: number;
  raise(alert: AlertInput): Promise<boolean>;
  resolve(key: string, reason: string): Promise<void>;
  /** Saves the log's state with this growth record; false when another run got there first. */
  save(growth: LogGrowth): Promise<boolean>;
  logger: Logger;
}

/** `stalledSince`: when the log last grew, if that is longer ago than it may be. */
export type GrowthCheckEnd =
  | { kind: 'ok'; stalledSince?: string }
  | { kind: 'lost-race' }
  | { kind: 'alert-not-recorded' };

/** The growth record once `latest` is verified: the same object unless the log grew. */
function grown(previous: LogGrowth | undefined, latest: VerifiedCheckpoint, now: number): LogGrowth {
  if (previous !== undefined && previous.origin === latest.origin && latest.size <= previous.treeSize) {
    return previous;
  }
  return {
    origin: latest.origin,
    treeSize: latest.size,
    at: new Date(now).toISOString(),
    // Kept until the alert is resolved: a resolve that fails is tried again by the next run.
    ...(previous?.alerted !== undefined ? { alerted: previous.alerted } : {}),
  };
}

/** Records the log's growth, and raises or resolves its `log-stalled` alert. */
export async function followGrowth(
  check: GrowthCheck,
  previous: LogGrowth | undefined,
  latest: VerifiedCheckpoint,
): Promise<GrowthCheckEnd> {
  let growth = grown(previous, latest, check.now);
  const limit = check.stalledAfterMs;
  const stalled = limit !== false && check.now - Date.parse(growth.at) > limit;
  if (stalled && growth.alerted === undefined) {
    // An alert that is not recorded is not marked raised: the next run raises it again.
    if (!(await check.raise(logStalledAlert(check.where, latest, growth.at, limit)))) {
      return { kind: 'alert-not-recorded' };
    }
    growth = { ...growth, alerted: new Date(check.now).toISOString() };
  } else if (!stalled && growth.alerted !== undefined) {
    const reason =
      growth.at !== previous?.at
        ? `the log grew: tree "${latest.origin}" has ${latest.size} entries`
        : limit === false
          ? 'stall alerts are turned off for this log'
          : `the log has not grown since ${growth.at}, which its allowance of ${limit / 3_600_000} h now covers`;
    try {
      await check.resolve(logStalledKey(check.where.name), reason);
      const { alerted: _, ...rest } = growth;
      growth = rest;
    } catch (err) {
      check.logger.warn('could not resolve the log-stalled alert; the next run tries again', { error: err });
    }
  }
  if (growth !== previous && !(await check.save(growth))) return { kind: 'lost-race' };
  return stalled ? { kind: 'ok', stalledSince: growth.at } : { kind: 'ok' };
}
