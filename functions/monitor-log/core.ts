/**
 * One monitoring pass over each configured log: verify the newest checkpoint's signature, prove it
 * consistent with the last verified one, then scan every entry in between in batches, matching
 * each against the owned identities and each match against sigsentry's signing records.
 *
 * What it fixes in rekor-monitor's behaviour:
 * - the checkpoint advances as soon as it is proven, independently of the scan, so an entry that
 *   fails to match (or to parse) never holds the checkpoint back and the backlog cannot snowball;
 * - the cursor advances per fully processed batch, so a run cut short resumes where it stopped;
 * - an empty log and a log that did not grow are ordinary runs;
 * - a new tree (a shard rollover: another checkpoint origin under the same key) is followed.
 * A checkpoint that does not verify, or a proof that fails, raises an alert and moves nothing.
 */
import crypto from 'node:crypto';
import type { AlertSink } from '../alerts/alert.ts';
import { DependencyError, InvalidInputError, SigsentryError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { parseCheckpoint } from '../tlog/checkpoint/checkpoint.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import { MONITOR_READ_BUDGET_BYTES } from '../tlog/client/limits.ts';
import {
  frozenTreeAppearedAlert,
  frozenTreeGrewAlert,
  frozenTreeVanishedAlert,
  leftTreeSize,
  logTreeChangedAlert,
  type TreeRotation,
} from './alerts.ts';
import { noOwnedIdentitiesError } from './config.ts';
import {
  boundedPlan,
  driveFanOut,
  type FanOut,
  holdsShard,
  MAX_SHARDS_PER_PLAN,
  planSpan,
  type ShardMessage,
  type ShardRecord,
  shardStarts,
} from './fan-out.ts';
import type { ResolvedIdentity } from './identities.ts';
import type { FrozenTree, MonitoredLog } from './log-source.ts';
import { IdentityMatcher } from './matcher.ts';
import { COMPLETED_OUTCOMES, type LogOutcome } from './outcome.ts';
import {
  alertRaiser,
  isIntegrityFailure,
  raiseIntegrityFailure,
  type ScanContext,
  scanRange,
} from './scan.ts';
import type { SigningRecordLookup } from './signing-lookup.ts';
import { DEFAULT_STALLED_AFTER_MS, followGrowth, knownTrees } from './stall.ts';
import {
  type FanOutPlan,
  MONITOR_RUNS_COLLECTION,
  type MonitorState,
  type MonitorStateStore,
  NO_LOG_RUN_DOCUMENT,
  type PendingFault,
  type PreviousTree,
} from './state.ts';

export interface MonitorLimits {
  /** Entries per batch; the cursor is saved after each. */
  batchSize: number;
  /** Entries one run scans per log at most; the next run goes on from there. */
  maxEntriesPerRun: number;
  /** No new batch is started after this long (a function's time limit is the hard stop). */
  timeBudgetMs: number;
  /** Signing-record lookups in flight. */
  lookupConcurrency: number;
  /** Batches read ahead of the one being matched (each read has its own requests in flight). */
  readAhead: number;
  /** Bytes of log answers one scan holds at most, all its batches together (read-budget.ts). */
  readBudgetBytes: number;
  /** With fan-out configured, a backlog above this many entries is split into shards. */
  fanOutAbove: number;
  /** Entries per fan-out shard (one function run must be able to scan one). */
  shardSize: number;
  /**
   * Shards one fan-out plan holds at most (at most MAX_SHARDS_PER_PLAN): a larger backlog is
   * planned again, from where the cursor got to, once the plan is finished.
   */
  maxShardsPerPlan: number;
  /** A shard not finished this long after its message was published is published again. */
  shardLeaseMs: number;
  /**
   * How long one delivery holds a shard it scans against other deliveries of it: longer than a
   * run's time budget and its last batch. An instance that dies keeps it that long; the shard is
   * then published again once its shardLeaseMs has run out.
   */
  shardScanLeaseMs: number;
}

export const DEFAULT_LIMITS: MonitorLimits = {
  batchSize: 1000,
  maxEntriesPerRun: 2_000_000,
  timeBudgetMs: 240_000,
  lookupConcurrency: 8,
  readAhead: 2,
  readBudgetBytes: MONITOR_READ_BUDGET_BYTES,
  fanOutAbove: 200_000,
  shardSize: 100_000,
  maxShardsPerPlan: MAX_SHARDS_PER_PLAN,
  shardLeaseMs: 15 * 60_000,
  shardScanLeaseMs: 10 * 60_000,
};

export interface MonitoredLogConfig {
  /** Stable name: the key of the log's state document and of its alerts. */
  name: string;
  log: MonitoredLog;
  /** Where the first run starts (default: the current tree size, i.e. only new entries). */
  startIndex?: number;
  /** How long the log may go without growing before `log-stalled` (default DEFAULT_STALLED_AFTER_MS); false: never. */
  stalledAfterMs?: number | false;
}

export interface MonitorDeps {
  logs: MonitoredLogConfig[];
  store: MonitorStateStore;
  alerts: AlertSink;
  records: SigningRecordLookup;
  identities: readonly ResolvedIdentity[];
  logger: Logger;
  limits?: Partial<MonitorLimits>;
  /** Rescan (backfill) from this index in this run, whatever the cursor says. */
  from?: number;
  /** Shard store and publisher: when set, a large backlog is scanned by parallel instances. */
  fanOut?: FanOut;
  now?: () => number;
}

export interface LogRunResult {
  log: string;
  outcome: LogOutcome;
  treeSize?: number;
  /** Cursor before and after the run. */
  from?: number;
  cursor?: number;
  scanned: number;
  matched: number;
  rogue: number;
  unparseable: number;
  /** Alerts recorded but not delivered to every channel. */
  deliveryFailures: number;
  /** Fan-out shards published by this run. */
  dispatched?: number;
  /**
   * The trees (checkpoint origins) a run moved through, oldest first, when it moved to another:
   * `from` counts in the first, `cursor` and `treeSize` in the last.
   */
  trees?: string[];
  /** When the log last grew, when that is longer ago than it may be (`log-stalled`, stall.ts). */
  stalledSince?: string;
  /**
   * Pending trees found failing a log integrity check in this run, each with the key of its alert
   * and whether that alert was recorded (then the fault is saved on the tree as pending.fault, unless
   * another run took the log first; if not, the run ended there and the next run raises it),
   * whatever the run's end: a run that then
   * failed, or lost the log to another run, says that in `outcome` and `error`, and still names these.
   */
  pendingFaults?: Array<{ origin: string; alert: string; alertRecorded: boolean; error: string }>;
  error?: unknown;
}

export interface MonitorRunResult {
  ok: boolean;
  logs: LogRunResult[];
  /** Why no log was checked, when the deployment has none (NO_LOG_NOTE). */
  note?: string;
  /** The run's request was refused as a whole: a backfill (`from`) with no log to backfill. */
  refused?: InvalidInputError;
}

/** What a run says when the configuration names no log (REKOR_URL=none; loadMonitorConfig). */
export const NO_LOG_NOTE =
  'no transparency log is configured (REKOR_URL=none, or SIGSENTRY_CONFIG names none), so no log was watched';

export async function runMonitor(deps: MonitorDeps): Promise<MonitorRunResult> {
  if (deps.logs.length === 0) return runWithoutLog(deps);
  await forgetNoLogRun(deps);
  const matcher = watchingFor(deps.identities);
  const logs: LogRunResult[] = [];
  for (const config of deps.logs) {
    const result = emptyResult(config.name);
    try {
      await withRunLease(deps, config.name, result, async (state, runner) => {
        const view: RunView = { checked: false, pendingLeft: false };
        await monitorOneLog(deps, matcher, config, result, state, runner, view);
        settlePendingFault(result, view);
      });
    } catch (error) {
      // A dependency failed (log unreachable, Firestore down): what was done so far stays done.
      result.outcome = 'failed';
      result.error = error;
    }
    const stalled =
      result.stalledSince !== undefined ? `; the log has not grown since ${result.stalledSince}` : '';
    deps.logger[levelOf(result.outcome)](`monitor run on ${config.name}: ${result.outcome}${stalled}`, {
      ...result,
    });
    logs.push(result);
  }
  return { ok: logs.every((l) => COMPLETED_OUTCOMES.has(l.outcome)), logs };
}

/**
 * A deployment without a log: nothing to check, and nothing wrong with that (entry.ts still
 * redelivers the owed alert notices). The owned identities do not matter then. The run leaves its
 * record (NoLogRun) so the dashboard can say that no log is watched rather than that the monitor
 * never ran; a record that cannot be written is logged and the run goes on, since what it is for
 * (the owed notices) does not depend on it. A backfill (`from`) is refused: there is no log to
 * rescan, and answering as if it had been done would hide the caller's mistake.
 */
async function runWithoutLog(deps: MonitorDeps): Promise<MonitorRunResult> {
  const lastRunAt = new Date((deps.now ?? Date.now)()).toISOString();
  try {
    await deps.store.recordNoLogRun?.({ schemaVersion: 1, lastRunAt, note: NO_LOG_NOTE });
  } catch (error) {
    deps.logger.error(
      'could not record this monitor run without a log: the dashboard and `sigsentry status` still show the run before, or that the monitor has not run',
      { collection: MONITOR_RUNS_COLLECTION, document: NO_LOG_RUN_DOCUMENT, lastRunAt, error },
    );
  }
  if (deps.from !== undefined) {
    const refused = new InvalidInputError(
      `a backfill from log index ${deps.from} was asked for, but no transparency log is configured ` +
        '(REKOR_URL=none, or SIGSENTRY_CONFIG names none), so there is no log to backfill: ' +
        'leave out from (?from=, --from), or configure a log first',
      { from: deps.from },
    );
    deps.logger.warn(`monitor run refused: ${refused.message}`, { from: deps.from });
    return { ok: false, logs: [], note: NO_LOG_NOTE, refused };
  }
  deps.logger.notice(`monitor run: ${NO_LOG_NOTE}`);
  return { ok: true, logs: [], note: NO_LOG_NOTE };
}

/**
 * A run with a log drops the record of runs without one first, before anything that can fail: a
 * log configured after a spell without one, whose first runs fail before they save its state,
 * must show as a monitor that has not watched it, not as a deployment with no log. Not dropped, it
 * is logged, and the run goes on.
 */
async function forgetNoLogRun(deps: MonitorDeps): Promise<void> {
  try {
    await deps.store.forgetNoLogRun?.();
  } catch (error) {
    deps.logger.error(
      'could not drop the record of monitor runs without a log: the dashboard and `sigsentry status` may say no log is watched',
      { collection: MONITOR_RUNS_COLLECTION, document: NO_LOG_RUN_DOCUMENT, error },
    );
  }
}

/**
 * The matcher for the owned identities. With none, every entry would be passed over as not ours
 * and the cursor moved past it for good (a deployment without KMS_KEY or SIGSENTRY_IDENTITIES):
 * the run is refused before it touches anything.
 */
function watchingFor(identities: readonly ResolvedIdentity[]): IdentityMatcher {
  const matcher = new IdentityMatcher(identities);
  if (matcher.empty) throw noOwnedIdentitiesError();
  return matcher;
}

/**
 * Growth between two verified checkpoints of one tree that someone should look at: far more than
 * the busiest public log (Rekor v1) gains between two runs, or in months. Proven consistent, it is
 * scanned like any growth (a bounded fan-out plan at a time), but a log that holds its key can
 * publish a consistent checkpoint of any size, and this is what one making entries up looks like.
 */
export const IMPLAUSIBLE_GROWTH = 2 ** 28;

/** An error line, with both sizes, for a growth past IMPLAUSIBLE_GROWTH (no alert kind fits it). */
function reportImplausibleGrowth(
  logger: Logger,
  verified: VerifiedCheckpoint,
  head: VerifiedCheckpoint,
): void {
  const growth = head.size - verified.size;
  if (growth <= IMPLAUSIBLE_GROWTH) return;
  logger.error(
    `the log grew implausibly: tree "${head.origin}" from ${verified.size} to ${head.size} entries between two verified checkpoints`,
    {
      origin: head.origin,
      previousTreeSize: verified.size,
      treeSize: head.size,
      growth,
      checkpoints: [verified.note, head.note],
    },
  );
}

/**
 * A frozen tree the log's (unsigned) info lists smaller than a checkpoint already verified of it:
 * the log contradicting its own signed word, as info disagreeing with its checkpoint does. Taking
 * the listing would leave entries of a verified tree unscanned with nothing saying so.
 */
function listedBelowVerified(
  listed: FrozenTree,
  verified: VerifiedCheckpoint,
): LogIntegrityError | undefined {
  // A listing with a verified head is proven against the verified checkpoint instead (shrunk).
  if (listed.checkpoint !== undefined || listed.size >= verified.size) return undefined;
  return new LogIntegrityError(
    'log-info-mismatch',
    `log info lists the frozen tree "${verified.origin}" at ${listed.size} entries, ` +
      `fewer than the ${verified.size} of its checkpoint verified before`,
    { origin: verified.origin, treeIndex: listed.size, treeSize: listed.size, checkpointSize: verified.size },
  );
}

/** What is said of an index past the end of the tree being scanned: where it stands, and a likely cause. */
interface PastTreeEnd {
  /** `what` is past the end of the tree, with its size. */
  message: string;
  /** How indexes count here, and, on a sharded log, the tree index a global index corresponds to. */
  hint: string;
  details: Record<string, unknown>;
}

/**
 * `index` (a start index or a backfill's `from`) past the end of `head`'s tree. The monitor counts
 * within the tree, as checkpoints and proofs do; a sharded Rekor v1 (the public one) numbers its
 * entries across its shards, and that global index is what cosign, rekor-cli and bundles print, so
 * it is what an operator pastes. The tree's first global index is read off its last entry (proven
 * in the tree as any entry read; a log that does not number entries otherwise gives 0): an index
 * that falls in the tree's global range is named with the tree index it corresponds to. It is not
 * taken as that index: an index is taken in one unit only, and the operator says which.
 */
async function pastTreeEnd(
  log: MonitoredLog,
  head: VerifiedCheckpoint,
  index: number,
  what: string,
): Promise<PastTreeEnd> {
  const message = `${what} is past the end of the log's tree "${head.origin}", which has ${head.size} entries`;
  const counting =
    "Indexes here count within the tree, as the cursor does: an alert's treeIndex, not the global logIndex " +
    'cosign and rekor-cli print on a sharded log';
  const offset = await treeOffset(log, head);
  const details = { index, treeSize: head.size, ...(offset !== undefined ? { treeOffset: offset } : {}) };
  if (offset === undefined || offset === 0) return { message, hint: `${counting}.`, details };
  const range = `this tree holds global log indexes ${offset}–${offset + head.size - 1}`;
  if (index >= offset && index < offset + head.size) {
    const treeIndex = index - offset;
    return {
      message,
      hint: `${counting}. ${index} looks like a global log index: ${range}, so it is tree index ${treeIndex}; give ${treeIndex}.`,
      details: { ...details, treeIndex },
    };
  }
  const where = index < offset ? 'in a shard frozen before this tree, not in this one' : 'past this tree too';
  return {
    message,
    hint: `${counting}. Taken as a global log index, ${index} is ${where}: ${range}.`,
    details,
  };
}

/**
 * The global log index of the tree's first entry, read off its last entry (undefined for an empty
 * tree, or when it cannot be read: the error is then given without it).
 */
async function treeOffset(log: MonitoredLog, head: VerifiedCheckpoint): Promise<number | undefined> {
  if (head.size === 0) return undefined;
  try {
    const [last] = await log.readEntries(head.size - 1, head.size, head);
    if (last === undefined) return undefined;
    return last.logIndex - (last.treeIndex ?? last.logIndex);
  } catch {
    return undefined;
  }
}

/**
 * The configured start index (`MONITOR_START_INDEX`, or a log's `startIndex` in SIGSENTRY_CONFIG)
 * past the end of the tree on the log's first run: a configuration error (not the caller's, so not
 * an InvalidInputError: monitorLog answers 500, `sigsentry monitor` exits 1), repeated every run
 * until the setting is fixed. Nothing is saved, so nothing is passed over meanwhile.
 */
async function startIndexPastTreeError(
  log: MonitoredLog,
  name: string,
  head: VerifiedCheckpoint,
  start: number,
): Promise<SigsentryError> {
  const past = await pastTreeEnd(
    log,
    head,
    start,
    `the start index ${start} (MONITOR_START_INDEX, or this log's startIndex in SIGSENTRY_CONFIG)`,
  );
  return new SigsentryError(
    'START_INDEX_PAST_TREE',
    `${past.message}: the first run on ${name} is refused, and nothing scanned or saved, until the start ` +
      `index is at most ${head.size} (or unset: the tree size). ${past.hint}`,
    { details: { log: name, startIndex: start, ...past.details } },
  );
}

function emptyResult(log: string): LogRunResult {
  return { log, outcome: 'scanned', scanned: 0, matched: 0, rogue: 0, unparseable: 0, deliveryFailures: 0 };
}

function levelOf(outcome: LogOutcome): 'info' | 'notice' | 'error' {
  if (outcome === 'scanned' || outcome === 'fanned-out') return 'info';
  return outcome === 'busy' ? 'notice' : 'error';
}

/**
 * Frozen trees a log's state remembers as listed (state.ts listedFrozen): a log signing heads for
 * more is flooding the state, past which a new one is no longer told from one seen before.
 */
const MAX_LISTED_FROZEN = 1000;

/** A tree the monitor moved on from and scanned to a final head that verified (state.ts). */
function isFinished(tree: PreviousTree): boolean {
  return tree.pending === undefined && tree.abandoned === undefined && tree.checkpoint !== '';
}

/**
 * Listings in a row that must include a finished tree the log once omitted before that omission is
 * forgotten (core.ts, the listing checks). Another omission before then is alerted: a log omitting
 * the tree every other or every third listing is hiding it, while one omission followed by this
 * many listings with it was a glitch. More would page on two unrelated glitches further apart;
 * fewer would let a log hide the tree one listing in three unalerted.
 */
const LISTINGS_THAT_FORGET_AN_OMISSION = 3;

/**
 * A finished tree once a listing read includes it (or may: an unnamed tree of its size): an alert
 * that it went is forgotten at once, an omission only after LISTINGS_THAT_FORGET_AN_OMISSION such
 * listings in a row. Undefined when there was nothing to forget.
 */
function listedAgain(tree: PreviousTree): PreviousTree | undefined {
  if (tree.vanished === undefined && tree.missingSince === undefined) return undefined;
  const { vanished: _, missingSince: __, listedSinceMissing: ___, ...listed } = tree;
  if (tree.vanished !== undefined) return listed;
  const inRow = (tree.listedSinceMissing ?? 0) + 1;
  return inRow >= LISTINGS_THAT_FORGET_AN_OMISSION ? listed : { ...tree, listedSinceMissing: inRow };
}

/** A checkpoint note that was verified before it was stored (in the state or a fan-out plan). */
function checkpointOf(note: string): VerifiedCheckpoint {
  return { ...parseCheckpoint(note).checkpoint, note };
}

/**
 * The log's frozen-tree listing as a run read it, indexed by origin: each tree the run looks up is
 * found at once, so a log listing thousands of frozen trees costs a run a pass over its listing,
 * not one per tree the state remembers.
 */
interface FrozenListing {
  trees: FrozenTree[];
  /** Where each named tree is in `trees` (the first time it is listed, as a search would find it). */
  at: ReadonlyMap<string, number>;
  /** The sizes of the trees listed without a name. */
  unnamedSizes: ReadonlySet<number>;
}

function indexListing(trees: FrozenTree[]): FrozenListing {
  const at = new Map<string, number>();
  const unnamedSizes = new Set<number>();
  trees.forEach((t, i) => {
    if (t.origin === undefined) unnamedSizes.add(t.size);
    else if (!at.has(t.origin)) at.set(t.origin, i);
  });
  return { trees, at, unnamedSizes };
}

/**
 * What a run reads of the log once, for every tree it moves through (monitorOneLog takes up the
 * tree after a frozen one it finished in the same run): the log's newest checkpoint and its listing
 * of frozen trees, each listed head verified once (read again for each tree, a run through k frozen
 * trees of a log listing n verified k × n heads), and what the listing-wide checks (trees appeared,
 * finished trees, pending trees), done once per run, leave for the run's outcome.
 */
interface RunView {
  /** Read by the run's first tree (undefined until then). */
  latest?: VerifiedCheckpoint;
  /** Read when first asked for (from the same log info as `latest`, on a Rekor v1 log). */
  listing?: () => Promise<FrozenListing>;
  /** The listing-wide checks are done: the trees the run moves through next are held to the same listing. */
  checked: boolean;
  /** A pending tree has more to scan, or could not be read now: the run is partial. */
  pendingLeft: boolean;
  /** A pending tree failed a log integrity check, alerted: the run ends so whatever the followed tree's scan. */
  pendingFault?: { outcome: LogOutcome; error: unknown };
}

/**
 * The outcomes a pending tree's integrity fault overrides: the run checked the followed tree, not
 * the whole log. A run that failed, or lost its log to another, says so instead, its result still
 * naming the fault (pendingFaults).
 */
const OVERRIDDEN_BY_PENDING_FAULT: ReadonlySet<LogOutcome> = new Set(['scanned', 'partial', 'fanned-out']);

/** Ends `result` as the integrity fault of a pending tree says, if the run found one. */
function settlePendingFault(result: LogRunResult, view: RunView): void {
  const fault = view.pendingFault;
  if (fault !== undefined && OVERRIDDEN_BY_PENDING_FAULT.has(result.outcome)) {
    result.outcome = fault.outcome;
    result.error = fault.error;
  }
}

/**
 * One run scans a log at a time: the run lease is taken in the log's state with its version-checked
 * save (released when the run ends, expiring after the time budget and a margin if the instance
 * dies), so two runs never match and alert on the same entries. A first run has no state to hold a
 * lease in yet: it creates the state with its lease in it (a version-checked creation, which
 * settles a race between two first runs), and every state the run writes carries the lease.
 */
async function withRunLease(
  deps: MonitorDeps,
  log: string,
  result: LogRunResult,
  /** Scans the log from its state as the lease left it (undefined: the log's first run). */
  run: (state: MonitorState | undefined, runner: RunLease) => Promise<unknown>,
): Promise<void> {
  const now = deps.now ?? Date.now;
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const state = await deps.store.load(log);
  const owner = crypto.randomUUID();
  const runner = { owner, until: now() + limits.timeBudgetMs + RUN_LEASE_MARGIN_MS };
  const release = async () => {
    // Released whatever happened, unless another run took the log over meanwhile.
    const after = await deps.store.load(log).catch(() => undefined);
    if (after?.runner?.owner === owner) {
      await deps.store
        .save({ ...after, runner: null, updatedAt: new Date(now()).toISOString() }, after.version)
        .catch(() => false);
    }
  };
  if (state === undefined) {
    try {
      await run(undefined, runner);
    } finally {
      await release();
    }
    return;
  }
  if (state.runner && state.runner.until > now()) {
    result.outcome = 'busy';
    result.from = state.cursor;
    deps.logger.notice(
      `monitor run on ${log} skipped: another run holds the log until ${new Date(state.runner.until).toISOString()}`,
      {
        log,
      },
    );
    return;
  }
  const leased: MonitorState = { ...state, runner, updatedAt: new Date(now()).toISOString() };
  if (!(await deps.store.save(leased, state.version))) {
    result.outcome = 'busy';
    return;
  }
  try {
    await run({ ...leased, version: state.version + 1 }, runner);
  } finally {
    await release();
  }
}

type RunLease = NonNullable<MonitorState['runner']>;

/** Past the time budget, a run still finishes the batch it started; its lease covers that. */
const RUN_LEASE_MARGIN_MS = 5 * 60_000;

/** What a scheduled run and a shard both scan with; the time budget starts now. */
function scanContextFor(
  deps: MonitorDeps,
  config: MonitoredLogConfig,
  matcher: IdentityMatcher,
  result: LogRunResult,
  logger: Logger,
  started = (deps.now ?? Date.now)(),
): ScanContext {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const now = deps.now ?? Date.now;
  return {
    started,
    log: config.log,
    where: { name: config.name, url: config.log.url },
    matcher,
    records: deps.records,
    limits,
    result,
    raise: alertRaiser(deps.alerts, logger, result),
    outOfTime: () => now() - started > limits.timeBudgetMs,
    logger,
  };
}

async function monitorOneLog(
  deps: MonitorDeps,
  matcher: IdentityMatcher,
  config: MonitoredLogConfig,
  result: LogRunResult,
  loaded: MonitorState | undefined,
  runner: RunLease,
  /** What the run read of the log, shared by the trees it moves through (see the end). */
  view: RunView,
  started?: number,
  /** Trees this run has scanned to their end before taking up the next (see the end). */
  visited?: Set<string>,
): Promise<LogRunResult> {
  const now = deps.now ?? Date.now;
  const { log } = config;
  const logger = deps.logger.child({ log: config.name });
  const ctx = scanContextFor(deps, config, matcher, result, logger, started);
  const { limits } = ctx;
  const integrityFailure = async (
    err: SigsentryError,
    trusted: VerifiedCheckpoint | undefined,
    head?: VerifiedCheckpoint,
  ) => {
    await raiseIntegrityFailure(ctx, err, trusted, head);
    return result;
  };
  /** Proves `next` extends `older`; a failed proof raises its alert and answers false. */
  const consistent = async (older: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<boolean> => {
    try {
      await log.verifyConsistency(older, next);
      return true;
    } catch (err) {
      if (!isIntegrityFailure(err)) throw err;
      await integrityFailure(err, older, next);
      return false;
    }
  };
  /**
   * A checkpoint smaller than one verified before. A tile log read through a cache can serve an older
   * one: proven a prefix of the verified tree, it is a stale view (a NOTICE; nothing moves). A proof
   * that fails, or that the log refuses (it has no tree of the verified size any more), leaves it
   * what it looks like, the log shrinking, which `consistent` raises as before. A proof that could
   * not be read for now (an outage, a timeout: retryable) is the run's failure, tried again by the
   * next run: taken for a failed proof, one 503 paged CRITICAL "the log shrank".
   */
  const staleView = async (served: VerifiedCheckpoint, verified: VerifiedCheckpoint): Promise<boolean> => {
    try {
      await log.verifyConsistency(served, verified);
    } catch (err) {
      // A log answering 4xx for the verified size (LogHttpError) no longer has that tree.
      if (err instanceof SigsentryError && err.retryable) throw err;
      return false;
    }
    logger.notice('the log served a checkpoint older than one verified before (a cache); nothing moves', {
      servedTreeSize: served.size,
      verifiedTreeSize: verified.size,
      checkpoints: [served.note, verified.note],
    });
    return true;
  };
  let state = loaded;
  let trusted = state ? checkpointOf(state.checkpoint) : undefined;
  // A run that takes up the next tree of a sharded log (below) reports where it started.
  const outermost = started === undefined;
  if (outermost) result.from = state?.cursor;
  const scannedBefore = result.scanned;

  // The log's newest checkpoint and its frozen trees are read once per run, the listing when first
  // needed, however many trees the run moves through and places below need them.
  if (view.latest === undefined) {
    try {
      view.latest = await log.getCheckpoint();
    } catch (err) {
      if (isIntegrityFailure(err)) return integrityFailure(err, trusted);
      throw err;
    }
    const readListing = log.frozenTrees?.bind(log);
    if (readListing !== undefined) {
      let listed: Promise<FrozenListing> | undefined;
      view.listing = () => (listed ??= readListing().then(indexListing));
    }
  }
  const { latest } = view;
  const frozenListing = view.listing;
  let head = latest;
  result.treeSize = head.size;

  const save = async (next: MonitorState): Promise<boolean> => {
    const ok = await deps.store.save({ ...next, updatedAt: new Date(now()).toISOString() }, state?.version);
    if (ok) state = { ...next, version: (state?.version ?? 0) + 1 };
    else result.outcome = 'busy';
    return ok;
  };
  const fresh = (cursor: number, previousShards: MonitorState['previousShards']): MonitorState => ({
    schemaVersion: 1,
    log: config.name,
    url: log.url,
    origin: head.origin,
    checkpoint: head.note,
    treeSize: head.size,
    cursor: Math.min(Math.max(0, cursor), head.size),
    version: 0,
    updatedAt: '',
    previousShards,
    // A new state (a first run, another tree) keeps the run's lease: the run goes on scanning.
    runner,
    // and when the log last grew, which only the check below moves.
    ...(state?.growth !== undefined ? { growth: state.growth } : {}),
  });

  // A sharded log (Rekor v1) freezes its tree when it rotates its shard and lists it with its final
  // tree head. A tree being scanned that is now frozen is finished first, to that head (proven
  // consistent with what was verified of it); then the trees after it are scanned in order.
  let rotation: TreeRotation | undefined;
  if (state !== undefined && state.origin !== head.origin && frozenListing !== undefined) {
    const { trees: frozen, at: listedAt } = await frozenListing();
    const at = listedAt.get(state.origin) ?? -1;
    if (at >= 0) {
      const old = frozen[at]!;
      const contradiction = listedBelowVerified(old, trusted!);
      if (contradiction !== undefined) return integrityFailure(contradiction, trusted, head);
      const final = old.checkpoint;
      if (final !== undefined && state.cursor < final.size) {
        head = final; // its tail: scanned below, as any growth of the tree
      } else {
        if (final !== undefined && !(await consistent(trusted!, final))) return result;
        // The next tree is the one after it; a frozen one whose head does not verify cannot be
        // scanned, and is named in the alert rather than passed over in silence.
        let next = at + 1;
        const passedOver: FrozenTree[] = [];
        while (next < frozen.length && frozen[next]!.checkpoint === undefined)
          passedOver.push(frozen[next++]!);
        rotation = { old, passedOver };
        head = frozen[next]?.checkpoint ?? head;
      }
      result.treeSize = head.size;
    }
  }

  if (state === undefined) {
    // A start index past the tree would be clamped to its end, passing over every entry between
    // with nothing said: the first run is refused instead, and nothing is saved.
    const start = config.startIndex ?? head.size;
    if (start > head.size) {
      result.outcome = 'failed';
      result.error = await startIndexPastTreeError(log, config.name, head, start);
      return result;
    }
    if (!(await save(fresh(start, [])))) return result;
    // Trust on first use: nothing before this checkpoint proves it, so the record of it says so.
    logger.notice(
      `first run on ${config.name}: the log's checkpoint (tree "${head.origin}", ${head.size} entries) is ` +
        'trusted as served, with no earlier checkpoint to prove it against; scanning starts at index ' +
        `${start}${config.startIndex === undefined ? ' (the tree size: only entries appended from now on)' : ' (the configured start index)'}`,
      {
        origin: head.origin,
        treeSize: head.size,
        rootHash: head.rootHash.toString('hex'),
        checkpoints: [head.note],
        startIndex: start,
      },
    );
  } else if (state.origin !== head.origin) {
    // Another tree under the same trusted key. Rekor v1 starts one when it rotates its shard, and
    // the frozen one never comes back; nothing proves the new tree extends the old one, so the
    // change itself is alerted (log-tree-changed), and a return to a tree seen before must extend
    // what was verified of it there.
    const earlier = state.previousShards.find((s) => s.origin === head.origin && s.checkpoint !== '');
    if (earlier !== undefined) {
      if (!(await consistent(checkpointOf(earlier.checkpoint), head))) return result;
      reportImplausibleGrowth(logger, checkpointOf(earlier.checkpoint), head);
    }
    if (visited?.has(head.origin)) {
      // Back to a tree this run has scanned: the log's info goes round in circles.
      result.outcome = 'failed';
      result.error = new DependencyError(
        'rekor',
        `the log's info leads from tree "${state.origin}" back to "${head.origin}", scanned earlier in this run`,
        { origin: head.origin },
      );
      return result;
    }
    if (deps.from !== undefined) {
      // A backfill counts in one tree; the one the state is in is done, and the next not started.
      result.outcome = 'failed';
      result.error = new InvalidInputError(
        `a backfill cannot start while the log moves from tree "${state.origin}" to "${head.origin}": ` +
          'run once without --from, then rescan in the new tree',
        { log: config.name, from: deps.from, origin: state.origin },
      );
      return result;
    }
    // The alert is the record of the move (and of any tree passed over): no move without it.
    const movedAlert = logTreeChangedAlert(ctx.where, state, head, earlier, rotation, {
      listsFrozenTrees: log.frozenTrees !== undefined,
    });
    if (!(await ctx.raise(movedAlert))) {
      result.outcome = 'failed';
      return result;
    }
    result.trees ??= [state.origin];
    result.trees.push(head.origin);
    // Never below what was verified of it: its listed size is the log's unsigned word.
    const oldSize = leftTreeSize(state, rotation);
    logger.warn('the log moved to another tree; following it', {
      previousOrigin: state.origin,
      origin: head.origin,
      previousCursor: state.cursor,
      previousTreeSize: oldSize,
      previousTreeFrozen: rotation?.old.checkpoint !== undefined,
      previousTreePending: rotation?.old.checkpoint === undefined,
      passedOver: rotation?.passedOver.map((t) => t.origin ?? `${t.size} entries`),
      resumeAt: earlier?.cursor ?? 0,
    });
    // What could not be scanned now (the old tree's tail, trees passed over) is kept pending. The
    // tree left is done only when its final head verified, was proven consistent with what was
    // verified of it and was scanned to its end (an announced rotation, above). Otherwise its size
    // is unknown: the log's listing is unsigned, and a tree not listed may have grown past its last
    // verified checkpoint before the log moved on. It stays pending (at least `oldSize` entries),
    // and the pending pass below scans it to its final head once one verifies.
    const done = rotation?.old.checkpoint !== undefined;
    const left: PreviousTree = {
      origin: state.origin,
      checkpoint: rotation?.old.checkpoint?.note ?? state.checkpoint,
      cursor: state.cursor,
      ...(done ? {} : { pending: { size: oldSize } }),
    };
    const passed = rotation?.passedOver ?? [];
    const remembered = new Set(passed.length > 0 ? state.previousShards.map((s) => s.origin) : []);
    const passedOver = passed.flatMap((t): PreviousTree[] =>
      t.origin !== undefined && t.size > 0 && !remembered.has(t.origin)
        ? [{ origin: t.origin, checkpoint: '', cursor: 0, pending: { size: t.size } }]
        : [],
    );
    const shards = [
      ...state.previousShards.filter((s) => s.origin !== head.origin && s.origin !== state!.origin),
      left,
      ...passedOver,
    ];
    if (!(await save(fresh(earlier?.cursor ?? 0, shards)))) return result;
  } else if (head.size < trusted!.size && (await staleView(head, trusted!))) {
    head = trusted!; // nothing new: the scan goes on against what was verified
    result.treeSize = head.size;
  } else {
    if (!(await consistent(trusted!, head))) return result;
    reportImplausibleGrowth(logger, trusted!, head);
    if (head.size !== state.treeSize || head.note !== state.checkpoint) {
      if (!(await save({ ...state, checkpoint: head.note, treeSize: head.size }))) return result;
    }
  }
  trusted = head;

  // Whether the log still grows, judged once per run on its newest checkpoint (`latest`, the active
  // tree: a frozen one never grows), now that it is proven or followed (stall.ts); against the trees
  // the state knew before this run moved it, so a return to one of them is not growth.
  if (outermost) {
    const growth = await followGrowth(
      {
        where: ctx.where,
        stalledAfterMs: config.stalledAfterMs ?? DEFAULT_STALLED_AFTER_MS,
        now: now(),
        known: await knownTrees(
          loaded,
          latest,
          frozenListing !== undefined ? async () => (await frozenListing()).trees : undefined,
        ),
        raise: ctx.raise,
        resolve: (key, reason) => deps.alerts.resolve(key, reason),
        save: (g) => save({ ...state!, growth: g }),
        logger,
      },
      state!.growth,
      latest,
    );
    if (growth.kind === 'lost-race') return result; // save() set 'busy'
    if (growth.kind === 'alert-not-recorded') {
      result.outcome = 'failed';
      return result;
    }
    if (growth.stalledSince !== undefined) result.stalledSince = growth.stalledSince;
  }

  // The frozen trees the log lists are its closed history. Those listed when the monitor first read
  // the listing came before it; one listed later, with a head that verifies, that the monitor
  // neither left nor passed over was kept out of sight until now, and is alerted (HIGH) once. It is
  // not scanned: how much history it holds is the log's word (a log that hides a tree from every
  // reader cannot be caught by one monitor at all; one that shows it can).
  // This check, and the two on finished and pending trees below, hold the state to the log's listing
  // once per run: the trees the run moves through next are held to the same listing, which they
  // were found in, and the trees they take the monitor past are new to the state, not to it.
  const listingChecks = deps.from === undefined && frozenListing !== undefined && !view.checked;
  if (listingChecks) {
    // Trees listed after the one being followed (a frozen one whose tail is scanned now) are the
    // ones the monitor moves through next, not history kept out of sight.
    const { trees: all, at: listedAt } = await frozenListing();
    const at = listedAt.get(state!.origin) ?? -1;
    const shown = (at >= 0 ? all.slice(0, at) : all).flatMap((t) =>
      t.origin !== undefined && t.checkpoint !== undefined && t.checkpoint.size > 0
        ? [{ origin: t.origin, size: t.size, checkpoint: t.checkpoint }]
        : [],
    );
    const recorded = state!.listedFrozen;
    const seen = new Set(recorded);
    const followed = new Set([state!.origin, ...state!.previousShards.map((s) => s.origin)]);
    // Listed now and not recorded before, in the listing's order; the state records as many as it
    // has room for. Past that a tree is no longer told from one listed before, and is not alerted:
    // otherwise every tree listed past the room, from the first run on, would be alerted each run.
    const fresh: typeof shown = [];
    for (const t of shown) {
      if (seen.has(t.origin)) continue;
      seen.add(t.origin);
      fresh.push(t);
    }
    const room = Math.max(0, MAX_LISTED_FROZEN - (recorded?.length ?? 0));
    const kept = fresh.slice(0, room);
    const appeared = recorded === undefined ? [] : kept.filter((t) => !followed.has(t.origin));
    const untold = fresh.slice(room).filter((t) => !followed.has(t.origin)).length;
    if (recorded !== undefined && untold > 0) {
      logger.warn(
        `the log lists more frozen trees than the monitor remembers (${MAX_LISTED_FROZEN}): those past it are not checked for having been kept out of sight`,
        { untold },
      );
    }
    for (const tree of appeared) {
      if (!(await ctx.raise(frozenTreeAppearedAlert(ctx.where, tree)))) {
        result.outcome = 'failed';
        return result;
      }
      logger.error(
        'the log lists a frozen tree it did not list before, never followed: alerted, not scanned',
        {
          origin: tree.origin,
          treeSize: tree.checkpoint.size,
        },
      );
    }
    if (recorded === undefined || kept.length > 0) {
      const origins = [...(recorded ?? []), ...kept.map((t) => t.origin)];
      if (!(await save({ ...state!, listedFrozen: origins }))) return result;
    }
  }

  // A tree the monitor finished (scanned to a final head that verified) is closed for good. Each
  // run holds the log's listing of it to that head: another head of the same size, or one that does
  // not extend it, is the log rewriting history it had closed (log-inconsistent); a larger one that
  // extends it is a frozen tree grown (HIGH), kept pending again from where it was finished, and its
  // new tail is scanned by the pass below. One listed with a head that does not verify says nothing
  // new about it. One the listing no longer includes (a listing read, its signed head verified: a
  // read that fails has failed the run before this) is the log dropping closed history: HIGH, once,
  // remembered in the state (`vanished`) until the log lists it again. A tree the log lists without
  // a name, of the finished tree's size, may be it: that is logged, not alerted.
  // The alert waits for a second listing without the tree: the first run only remembers when it
  // went missing (`missingSince`), so a log info answer that omits a shard for a moment pages
  // nobody. A log really dropping the tree gains one scheduled run's delay and nothing else: the
  // tree was scanned to its end, so nothing in it is unseen by the monitor, and every listing that
  // includes it is held to its finished head. Listings that include it again (or an unnamed tree of
  // its size) forget the omission only once LISTINGS_THAT_FORGET_AN_OMISSION of them come in a row
  // (`listedSinceMissing` counts them), so a log omitting it every other listing, hiding closed
  // history from some readers some of the time, is alerted at its second omission too.
  if (listingChecks && state!.previousShards.some(isFinished)) {
    const { trees: frozen, at: listedAt, unnamedSizes } = await frozenListing();
    const reopened: PreviousTree[] = [];
    const missing: PreviousTree[] = [];
    const vanished: PreviousTree[] = [];
    const relisted: PreviousTree[] = [];
    for (const done of state!.previousShards.filter(isFinished)) {
      const final = frozen[listedAt.get(done.origin) ?? -1];
      const recorded = checkpointOf(done.checkpoint);
      const { vanished: _, missingSince: __, listedSinceMissing: ___, ...listed } = done;
      const again = listedAgain(done);
      if (final === undefined) {
        if (done.vanished !== undefined) continue; // alerted when it went
        if (unnamedSizes.has(recorded.size)) {
          logger.warn(
            'a frozen tree the monitor had finished is not listed by name; an unnamed one may be it',
            {
              origin: done.origin,
              treeSize: recorded.size,
            },
          );
          if (again !== undefined) relisted.push(again);
          continue;
        }
        if (done.missingSince === undefined) {
          missing.push({ ...listed, missingSince: new Date(now()).toISOString() });
          continue;
        }
        const alert = frozenTreeVanishedAlert(
          ctx.where,
          { ...done, missingSince: done.missingSince, listedBetween: done.listedSinceMissing ?? 0 },
          recorded,
          frozen.length,
        );
        if (!(await ctx.raise(alert))) {
          result.outcome = 'failed';
          return result;
        }
        vanished.push({
          ...listed,
          missingSince: done.missingSince,
          vanished: new Date(now()).toISOString(),
        });
        continue;
      }
      // Listed again: held to its finished head from here on, and alerted again if it goes again.
      if (again !== undefined) relisted.push(again);
      if (final.checkpoint === undefined) continue;
      if (final.checkpoint.size === recorded.size && final.checkpoint.rootHash.equals(recorded.rootHash))
        continue;
      // A smaller head fails this proof as the log shrinking, one of the same size as a fork.
      if (!(await consistent(recorded, final.checkpoint))) return result;
      if (!(await ctx.raise(frozenTreeGrewAlert(ctx.where, done, recorded, final.checkpoint)))) {
        result.outcome = 'failed';
        return result;
      }
      reopened.push({ ...listed, pending: { size: final.checkpoint.size } });
    }
    // By origin; a tree both listed again and grown is the grown one.
    const changed = new Map([...relisted, ...missing, ...vanished, ...reopened].map((c) => [c.origin, c]));
    if (changed.size > 0) {
      const previousShards = state!.previousShards.map((s) => changed.get(s.origin) ?? s);
      if (!(await save({ ...state!, previousShards }))) return result;
    }
    if (missing.length > 0) {
      logger.warn(
        'a frozen tree the monitor had finished is not in the log listing: alerted if another listing lacks it before enough in a row list it again',
        { origins: missing.map((m) => m.origin), listingsToForget: LISTINGS_THAT_FORGET_AN_OMISSION },
      );
    }
    if (vanished.length > 0) {
      logger.error('a frozen tree the monitor had finished is no longer listed by the log: alerted', {
        origins: vanished.map((v) => v.origin),
      });
    }
    if (relisted.length > 0) {
      logger.warn('a frozen tree the log had stopped listing is listed again: held to its finished head', {
        origins: relisted.map((r) => r.origin),
        // Per origin: listings in a row with it while its omission is remembered (absent: forgotten).
        listedSinceMissing: relisted.map((r) => r.listedSinceMissing ?? null),
      });
    }
    if (reopened.length > 0) {
      logger.warn(
        'a frozen tree the monitor had finished is listed with a larger head: its new tail is scanned',
        {
          origins: reopened.map((r) => r.origin),
        },
      );
    }
  }

  // Trees left unscanned when the monitor moved past them (their heads did not verify then, or the
  // log did not list the tree it left as frozen, so its final size was unknown) are taken up once
  // the log lists them frozen with heads that verify, oldest first, with at most half of the run's
  // entries, so the tree being followed is scanned in every run too. A fault in one does not hold
  // the followed tree back either: one whose entries or proofs cannot be read now stays pending,
  // and so does one that fails a log integrity check (its head does not extend what was verified of
  // it, its listing contradicts that, an entry fails its proof), alerted as any such failure and
  // recorded in its state (pending.fault), tried again by each run. The followed tree is still
  // scanned then, against a checkpoint that can still be trusted: it was verified under the log's
  // key and proven consistent with what the monitor verified of that tree before (above; a tree new
  // to the monitor was alerted as a tree change), and each entry scanned is proven in it. None of
  // that rests on an older tree, so a fault there is no reason to doubt it, while leaving it
  // unscanned would hide the signatures made now for as long as the old tree stays faulty. The
  // run's outcome is still the fault's (settlePendingFault).
  if (listingChecks && state!.previousShards.some((s) => s.pending)) {
    const { trees: frozen, at: listedAt } = await frozenListing();
    /** Records why the pending tree `origin` stays pending; false when another run won. */
    const recordFault = (origin: string, fault: PendingFault) =>
      save({
        ...state!,
        previousShards: state!.previousShards.map(
          (s): PreviousTree =>
            s.origin === origin && s.pending !== undefined ? { ...s, pending: { ...s.pending, fault } } : s,
        ),
      });
    /**
     * Alerts a pending tree's integrity failure and records it on the tree, which stays pending;
     * true: the run goes on. False when it must end here: the alert was not recorded (the run ends
     * as any integrity failure whose alert is not, and the next run raises it), or another run took
     * the log over.
     */
    const pendingFault = async (
      left: PreviousTree,
      err: SigsentryError,
      older: VerifiedCheckpoint | undefined,
      newer?: VerifiedCheckpoint,
    ): Promise<boolean> => {
      const { key: alert, recorded } = await raiseIntegrityFailure(ctx, err, older, newer);
      const named = { origin: left.origin, alert, alertRecorded: recorded, error: err.message };
      result.pendingFaults = [...(result.pendingFaults ?? []), named];
      if (!recorded) return false;
      view.pendingFault ??= { outcome: result.outcome, error: err };
      const current = state!.previousShards.find((s) => s.origin === left.origin)?.pending?.fault;
      logger.error(
        'a frozen tree left unscanned failed a log integrity check (alerted): it stays pending, and the followed tree is scanned',
        {
          origin: left.origin,
          cursor: left.cursor,
          size: left.pending?.size,
          alert,
          since: current?.since,
          error: err,
        },
      );
      if (current?.error === err.message && current.alert === alert) return true;
      const since = current?.since ?? new Date(now()).toISOString();
      return recordFault(left.origin, { since, error: err.message, alert });
    };
    for (const left of state!.previousShards.filter((s) => s.pending !== undefined)) {
      const listed = frozen[listedAt.get(left.origin) ?? -1];
      const verified = left.checkpoint !== '' ? checkpointOf(left.checkpoint) : undefined;
      const contradiction = listed && verified && listedBelowVerified(listed, verified);
      if (contradiction) {
        if (!(await pendingFault(left, contradiction, verified))) return result;
        continue;
      }
      const final = listed?.checkpoint;
      if (final === undefined) {
        // Named in the HIGH alert that left it; logged each run until it can be proven.
        logger.warn('a frozen tree left unscanned still cannot be proven', {
          origin: left.origin,
          cursor: left.cursor,
          size: left.pending?.size,
          reason: listed === undefined ? 'the log does not list it as frozen' : listed.unverified,
        });
        continue;
      }
      const unreadable = (err: unknown) => {
        view.pendingLeft = true;
        logger.error('a frozen tree left unscanned could not be read; it stays pending', {
          origin: left.origin,
          error: err,
        });
      };
      if (verified !== undefined) {
        try {
          await log.verifyConsistency(verified, final);
        } catch (err) {
          if (!isIntegrityFailure(err)) {
            unreadable(err);
            continue;
          }
          if (!(await pendingFault(left, err, verified, final))) return result;
          continue;
        }
      }
      // A batch scanned clears a fault recorded before: the tree is being taken up.
      const record = (cursor: number) =>
        save({
          ...state!,
          previousShards: state!.previousShards.map((s): PreviousTree => {
            if (s.origin !== left.origin) return s;
            const { pending, ...rest } = s;
            const still = pending !== undefined && cursor < final.size;
            return {
              ...rest,
              ...(still ? { pending: { size: pending.size } } : {}),
              checkpoint: final.note,
              cursor,
            };
          }),
        });
      const allowed = Math.floor(limits.maxEntriesPerRun / 2) - (result.scanned - scannedBefore);
      const to = Math.min(final.size, left.cursor + Math.max(0, allowed));
      let end: Awaited<ReturnType<typeof scanRange>>;
      try {
        end = await scanRange(ctx, final, left.cursor, to, record);
      } catch (err) {
        unreadable(err);
        continue;
      }
      if (end.kind === 'integrity') {
        if (!(await pendingFault(left, end.error, final, final))) return result;
        continue;
      }
      if (end.kind === 'lost-race') return result;
      if (end.kind === 'alert-not-recorded') {
        result.outcome = 'failed';
        return result;
      }
      if (end.kind === 'out-of-time') {
        result.outcome = 'partial';
        return result;
      }
      if (end.cursor < final.size) {
        view.pendingLeft = true;
        continue;
      }
      if (left.cursor >= final.size && !(await record(final.size))) return result;
      logger.notice('a frozen tree left unscanned is now scanned to its end', {
        origin: left.origin,
        treeSize: final.size,
        from: left.cursor,
      });
    }
  }
  view.checked ||= listingChecks;

  // A backfill rescans; it never moves the cursor forward, which would leave the entries between
  // unscanned with nothing saying so. One past the tree's end is refused even with the cursor
  // there: it is not an index of this tree (a global index pasted from cosign, most likely).
  if (deps.from !== undefined && deps.from > state!.cursor) {
    result.outcome = 'failed';
    result.from = state!.cursor;
    const skipped =
      state!.cursor < head.size
        ? `would skip entries ${state!.cursor}–${Math.min(deps.from, head.size) - 1}, which have not been scanned: `
        : '';
    const past =
      deps.from > head.size
        ? await pastTreeEnd(log, head, deps.from, `a backfill from log index ${deps.from}`)
        : undefined;
    result.error = new InvalidInputError(
      past !== undefined
        ? `${past.message}; ${skipped && `it ${skipped}`}the cursor is at ${state!.cursor}; ` +
            `rescan from ${state!.cursor} or lower. ${past.hint}`
        : `a backfill from log index ${deps.from} ${skipped}the cursor is at ${state!.cursor}; ` +
            `rescan from ${state!.cursor} or lower`,
      { log: config.name, from: deps.from, cursor: state!.cursor, treeSize: head.size, ...past?.details },
    );
    return result;
  }
  let cursor = deps.from !== undefined ? Math.max(0, deps.from) : state!.cursor;
  if (outermost) result.from = cursor;

  // A backlog being scanned in parallel: move the cursor over its finished shards, publish the
  // shards that stalled, and scan nothing here until every shard is finished.
  // Bounded: a plan saved before plans were (possibly 2^52 entries) is finished at its bound.
  const plan = state!.fanOut && boundedPlan(state!.fanOut, limits.maxShardsPerPlan);
  if (plan !== undefined && deps.fanOut !== undefined && deps.from === undefined) {
    const progress = await driveFanOut(deps.fanOut, config.name, plan, {
      now: now(),
      leaseMs: limits.shardLeaseMs,
    });
    result.dispatched = progress.dispatched;
    if (progress.complete) {
      const { fanOut: _, ...rest } = state!;
      if (!(await save({ ...rest, cursor: Math.max(state!.cursor, plan.end) }))) return result;
      await deps.fanOut.store.remove(config.name, plan.id, shardStarts(plan));
      cursor = state!.cursor;
      logger.info('fan-out finished', { start: plan.start, end: plan.end });
    } else {
      if (progress.processedThrough > state!.cursor) {
        if (!(await save({ ...state!, cursor: progress.processedThrough }))) return result;
      }
      result.cursor = state!.cursor;
      result.outcome = 'fanned-out';
      return result;
    }
  }

  // A backlog larger than one run scans: split it into shards for parallel instances, at most
  // maxShardsPerPlan of them; the rest is planned once they are finished.
  if (deps.fanOut !== undefined && head.size - cursor > limits.fanOutAbove) {
    const next: FanOutPlan = {
      id: crypto.randomUUID(),
      checkpoint: head.note,
      start: cursor,
      end: Math.min(head.size, cursor + planSpan(limits.shardSize, limits.maxShardsPerPlan)),
      shardSize: limits.shardSize,
      createdAt: new Date(now()).toISOString(),
    };
    // A backfill (`from`) may supersede a plan in progress: its shards are dropped, and its
    // stale messages are refused by their plan id.
    const superseded = state!.fanOut;
    if (!(await save({ ...state!, cursor, fanOut: next }))) return result;
    if (superseded !== undefined) {
      const dropped = boundedPlan(superseded, limits.maxShardsPerPlan);
      await deps.fanOut.store.remove(config.name, superseded.id, shardStarts(dropped));
    }
    const progress = await driveFanOut(deps.fanOut, config.name, next, {
      now: now(),
      leaseMs: limits.shardLeaseMs,
    });
    logger.info('backlog fanned out', {
      start: next.start,
      end: next.end,
      shards: shardStarts(next).length,
      // What is left past this plan's end, planned once it is finished.
      backlogAfter: head.size - next.end,
    });
    result.dispatched = progress.dispatched;
    result.cursor = cursor;
    result.outcome = 'fanned-out';
    return result;
  }

  // The run's entries, less what pending trees took.
  const budgetEnd = Math.min(
    head.size,
    cursor + Math.max(0, limits.maxEntriesPerRun - (result.scanned - scannedBefore)),
  );
  const end = await scanRange(ctx, head, cursor, budgetEnd, (c) => save({ ...state!, cursor: c }));
  result.cursor = end.cursor;
  switch (end.kind) {
    case 'integrity':
      return integrityFailure(end.error, trusted, head);
    case 'alert-not-recorded':
      result.outcome = 'failed';
      return result;
    case 'lost-race':
      return result; // save() set 'busy'
    default:
      result.outcome = end.cursor < head.size ? 'partial' : 'scanned';
      if (result.outcome === 'scanned' && head.origin !== latest.origin) {
        // A frozen tree scanned to its end: the tree after it is taken up in this run, within its
        // time and entries (a backfill's `from` was for the tree it started in), else by the next.
        const left = limits.maxEntriesPerRun - (result.scanned - scannedBefore);
        if (left <= 0 || ctx.outOfTime()) {
          result.outcome = 'partial';
          return result;
        }
        const { from: _, ...next } = deps;
        next.limits = { ...deps.limits, maxEntriesPerRun: left };
        const scanned = new Set(visited).add(head.origin);
        return monitorOneLog(next, matcher, config, result, state, runner, view, ctx.started, scanned);
      }
      // A pending tree with more to scan (or not readable this time) is left to the next run.
      if (view.pendingLeft && result.outcome === 'scanned') result.outcome = 'partial';
      return result;
  }
}

export interface ShardRunResult extends LogRunResult {
  start: number;
  /** Why a delivery was acknowledged without scanning (a finished or superseded shard). */
  skipped?: string;
}

/**
 * Scans one fan-out shard (the handler of a shard message). The shard's checkpoint is the plan's,
 * read from the state store, not from the message; its cursor is saved after every batch. A shard
 * cut short by the time budget publishes itself again to go on; a lying log raises its alert and
 * leaves the shard unfinished, so the log's cursor never passes it.
 */
export async function runMonitorShard(deps: MonitorDeps, message: ShardMessage): Promise<ShardRunResult> {
  const result: ShardRunResult = { ...emptyResult(message.log), start: message.start };
  const skip = (why: string) => {
    result.skipped = why;
    deps.logger.notice(`monitor shard ${message.start} of ${message.log} skipped: ${why}`, { ...message });
    return result;
  };
  // A shard published before the deployment dropped its log: acknowledged, never scanned.
  if (deps.logs.length === 0) return skip('no transparency log is configured here, so none is monitored');
  const matcher = watchingFor(deps.identities);
  const config = deps.logs.find((l) => l.name === message.log);
  if (config === undefined) return skip('no monitored log has this name');
  if (deps.fanOut === undefined) return skip('fan-out is not configured here');
  const fan = deps.fanOut;
  const saved = (await deps.store.load(message.log))?.fanOut;
  const maxShards = deps.limits?.maxShardsPerPlan ?? DEFAULT_LIMITS.maxShardsPerPlan;
  const plan = saved && boundedPlan(saved, maxShards);
  if (plan === undefined || plan.id !== message.plan || !holdsShard(plan, message.start)) {
    return skip('no fan-out in progress holds this shard (it finished, or the message is stale)');
  }
  let [record] = await fan.store.load(message.log, plan.id, [message.start]);
  if (record === undefined) return skip('the shard has no record yet; the next scheduled run creates it');
  if (record.state === 'done') return skip('the shard is finished');

  const now = deps.now ?? Date.now;
  // One delivery scans a shard at a time: the scan lease is taken with the version-checked save.
  if (record.scanner && record.scanner.until > now()) {
    return skip('another instance is scanning the shard (its scan lease holds)');
  }
  const leaseMs = deps.limits?.shardScanLeaseMs ?? DEFAULT_LIMITS.shardScanLeaseMs;
  const scanner = { owner: crypto.randomUUID(), until: now() + leaseMs };
  const leased: ShardRecord = { ...record, scanner, updatedAt: new Date(now()).toISOString() };
  if (!(await fan.store.save(leased, record.version))) {
    return skip('another instance took the shard first');
  }
  record = { ...leased, version: record.version + 1 };
  /** Lets the next delivery scan at once (a redelivery after a failure, the shard published again). */
  const releaseScan = async () => {
    const current = record!;
    if (current.state === 'done') return;
    const released = { ...current, scanner: null, updatedAt: new Date(now()).toISOString() };
    if (await fan.store.save(released, current.version).catch(() => false)) {
      record = { ...released, version: current.version + 1 };
    }
  };
  const logger = deps.logger.child({ log: message.log, shard: message.start });
  const ctx = scanContextFor(deps, config, matcher, result, logger);
  const head = checkpointOf(plan.checkpoint);
  result.treeSize = head.size;
  result.from = record.cursor;
  const advance = async (cursor: number): Promise<boolean> => {
    const current = record!;
    const next: ShardRecord = {
      ...current,
      cursor,
      state: cursor >= current.end ? 'done' : 'pending',
      updatedAt: new Date(now()).toISOString(),
    };
    const ok = await fan.store.save(next, current.version);
    if (ok) record = { ...next, version: current.version + 1 };
    else result.outcome = 'busy';
    return ok;
  };
  try {
    const end = await scanRange(ctx, head, record.cursor, record.end, advance);
    result.cursor = end.cursor;
    switch (end.kind) {
      case 'integrity':
        await raiseIntegrityFailure(ctx, end.error, head, head);
        break;
      case 'alert-not-recorded':
        result.outcome = 'failed';
        break;
      case 'lost-race':
        break;
      case 'out-of-time': {
        // Publish itself again: another instance goes on from the saved cursor.
        result.outcome = 'partial';
        const renewed = { ...record, scanner: null, dispatchedAt: now() };
        if (await fan.store.save(renewed, record.version)) {
          await fan.dispatcher.dispatch([message]);
        }
        break;
      }
      case 'done':
        // An empty remainder (a crash after the last batch was saved) is finished here.
        if ((record as ShardRecord).state !== 'done' && !(await advance(record.end))) break;
        result.outcome = 'scanned';
        break;
    }
  } catch (err) {
    result.outcome = 'failed';
    result.error = err;
  }
  if (result.outcome === 'failed') await releaseScan();
  logger[levelOf(result.outcome)](`monitor shard ${message.start} of ${message.log}: ${result.outcome}`, {
    ...result,
  });
  return result;
}
