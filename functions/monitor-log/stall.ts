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
 * tree grows. Growth is a checkpoint larger than the largest known of its tree: the growth record's
 * own size for its tree, and, for another tree, what the log's state knew of it when the run began
 * (the tree it was in, the trees it moved on from, a tree the log lists as frozen: `knownTrees`).
 * So a tree never seen before is growth (a rotation; log-tree-changed tells of it), and a return
 * to an old one (a cache serving a frozen tree's final checkpoint, then the stalled active one) is
 * not: the clock is not reset by going round known trees.
 * Times are the run's clock, as the state's `updatedAt` and the run lease are.
 */
import type { AlertInput } from '../alerts/alert.ts';
import { AlertDeliveryError } from '../alerts/fanout.ts';
import type { Logger } from '../logging/logger.ts';
import { parseCheckpoint } from '../tlog/checkpoint/checkpoint.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { logStalledAlert, logStalledKey } from './alerts.ts';
import type { FrozenTree } from './log-source.ts';
import type { LogGrowth, MonitorState } from './state.ts';

/** A private log with little traffic may not grow for hours; a whole day without is worth a look. */
export const DEFAULT_STALLED_AFTER_MS = 24 * 3_600_000;

export interface GrowthCheck {
  where: { name: string; url: string };
  /** How long the log may go without growing; false: never alerted. */
  stalledAfterMs: number | false;
  now: number;
  /** The largest size known of each tree when the run began (`knownTrees`). */
  known: ReadonlyMap<string, number>;
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

/**
 * The trees the log's state knew when the run began (`loaded`), each with the largest size known of
 * it: the tree it was in (its verified size) and those it moved on from (the last checkpoint
 * verified of each, or a frozen one's listed size when larger). `latest`'s tree, when it is none of
 * these (nor the growth record's), is looked up in the log's frozen trees: one the log lists as
 * frozen, never seen by the monitor, is no growth either. That list is read only for a tree the
 * state does not know, which the run has just read it for (a tree change), so it costs no request.
 */
export async function knownTrees(
  loaded: MonitorState | undefined,
  latest: VerifiedCheckpoint,
  frozenTrees?: () => Promise<FrozenTree[]>,
): Promise<Map<string, number>> {
  const known = new Map<string, number>();
  if (loaded === undefined) return known;
  for (const left of loaded.previousShards) {
    const verified = left.checkpoint !== '' ? parseCheckpoint(left.checkpoint).checkpoint.size : 0;
    known.set(left.origin, Math.max(verified, left.pending?.size ?? 0));
  }
  known.set(loaded.origin, Math.max(loaded.treeSize, known.get(loaded.origin) ?? 0));
  if (frozenTrees !== undefined && !known.has(latest.origin) && loaded.growth?.origin !== latest.origin) {
    const listed = (await frozenTrees()).find((t) => t.origin === latest.origin);
    if (listed !== undefined) known.set(latest.origin, listed.checkpoint?.size ?? listed.size);
  }
  return known;
}

/** The growth record once `latest` is verified: the same object unless the log grew. */
function grown(
  previous: LogGrowth | undefined,
  latest: VerifiedCheckpoint,
  now: number,
  known: ReadonlyMap<string, number>,
): LogGrowth {
  if (previous !== undefined) {
    const largest = latest.origin === previous.origin ? previous.treeSize : known.get(latest.origin);
    if (largest !== undefined && latest.size <= largest) return previous;
  }
  return {
    origin: latest.origin,
    // Never below what was verified of the tree: a first record started from a stale answer (a
    // cache) would take the next honest one for growth.
    treeSize: Math.max(latest.size, known.get(latest.origin) ?? 0),
    at: new Date(now).toISOString(),
    // Kept until the alert is resolved (below); a resolve that fails saves nothing, so the next run tries again.
    ...(previous?.alerted !== undefined ? { alerted: previous.alerted } : {}),
  };
}

/** Records the log's growth, and raises or resolves its `log-stalled` alert. */
export async function followGrowth(
  check: GrowthCheck,
  previous: LogGrowth | undefined,
  latest: VerifiedCheckpoint,
): Promise<GrowthCheckEnd> {
  let growth = grown(previous, latest, check.now, check.known);
  const limit = check.stalledAfterMs;
  const stalled = limit !== false && check.now - Date.parse(growth.at) > limit;
  // Growth after longer than allowed resolves the alert whether or not its raise was recorded (a
  // raise whose `alerted` was never saved); resolving an alert that is not open changes nothing.
  const overdue =
    previous !== undefined &&
    growth !== previous &&
    limit !== false &&
    check.now - Date.parse(previous.at) > limit;
  if (stalled && growth.alerted === undefined) {
    // An alert that is not recorded is not marked raised: the next run raises it again.
    if (!(await check.raise(logStalledAlert(check.where, latest, growth.at, limit)))) {
      return { kind: 'alert-not-recorded' };
    }
    growth = { ...growth, alerted: new Date(check.now).toISOString() };
  } else if (!stalled && (growth.alerted !== undefined || overdue)) {
    const reason =
      growth.at !== previous?.at
        ? `the log grew: tree "${latest.origin}" has ${latest.size} entries`
        : limit === false
          ? 'stall alerts are turned off for this log'
          : `the log has not grown since ${growth.at}, which its allowance of ${limit / 3_600_000} h now covers`;
    try {
      await check.resolve(logStalledKey(check.where.name), reason);
    } catch (err) {
      if (!(err instanceof AlertDeliveryError && err.recorded)) {
        // Nothing is saved: the next run finds the same growth (or setting) and tries again.
        check.logger.warn('could not resolve the log-stalled alert; the next run tries again', {
          error: err,
        });
        return { kind: 'ok' };
      }
      // Resolved in the alert record; the channels not told are owed the notice, sent later.
      check.logger.warn('the log-stalled alert is resolved but not every channel was told', { error: err });
    }
    const { alerted: _, ...rest } = growth;
    growth = rest;
  }
  if (growth !== previous && !(await check.save(growth))) return { kind: 'lost-race' };
  return stalled ? { kind: 'ok', stalledSince: growth.at } : { kind: 'ok' };
}
