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
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { AlertDeliveryError } from '../alerts/fanout.ts';
import type { SigsentryError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { parseCheckpoint } from '../tlog/checkpoint/checkpoint.ts';
import { CheckpointError } from '../tlog/checkpoint/errors.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import { parseEntryBody } from '../tlog/entries/parse.ts';
import { MerkleProofError } from '../tlog/merkle/errors.ts';
import {
  checkpointInvalidAlert,
  logInconsistentAlert,
  rogueSignatureAlert,
  unparseableEntryAlert,
} from './alerts.ts';
import { extractVerifiers } from './entry-verifiers.ts';
import type { ResolvedIdentity } from './identities.ts';
import type { MonitoredLog, ScannedEntry } from './log-source.ts';
import { type IdentityMatch, IdentityMatcher } from './matcher.ts';
import type { SigningRecordLookup } from './signing-lookup.ts';
import type { MonitorState, MonitorStateStore } from './state.ts';

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
}

export const DEFAULT_LIMITS: MonitorLimits = {
  batchSize: 1000,
  maxEntriesPerRun: 2_000_000,
  timeBudgetMs: 240_000,
  lookupConcurrency: 8,
  readAhead: 2,
};

export interface MonitoredLogConfig {
  /** Stable name: the key of the log's state document and of its alerts. */
  name: string;
  log: MonitoredLog;
  /** Where the first run starts (default: the current tree size, i.e. only new entries). */
  startIndex?: number;
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
  now?: () => number;
}

export type LogOutcome =
  | 'scanned'
  | 'partial'
  | 'log-inconsistent'
  | 'checkpoint-invalid'
  | 'busy'
  | 'failed';

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
  error?: unknown;
}

export interface MonitorRunResult {
  ok: boolean;
  logs: LogRunResult[];
}

export async function runMonitor(deps: MonitorDeps): Promise<MonitorRunResult> {
  const matcher = new IdentityMatcher(deps.identities);
  const logs: LogRunResult[] = [];
  for (const config of deps.logs) {
    const result = emptyResult(config.name);
    try {
      await monitorOneLog(deps, matcher, config, result);
    } catch (error) {
      // A dependency failed (log unreachable, Firestore down): what was done so far stays done.
      result.outcome = 'failed';
      result.error = error;
    }
    const level = result.outcome === 'scanned' ? 'info' : result.outcome === 'busy' ? 'notice' : 'error';
    deps.logger[level](`monitor run on ${config.name}: ${result.outcome}`, { ...result });
    logs.push(result);
  }
  return { ok: logs.every((l) => l.outcome === 'scanned' || l.outcome === 'busy'), logs };
}

function emptyResult(log: string): LogRunResult {
  return { log, outcome: 'scanned', scanned: 0, matched: 0, rogue: 0, unparseable: 0, deliveryFailures: 0 };
}

function isCheckpointFailure(err: unknown): boolean {
  return (
    err instanceof CheckpointError || (err instanceof LogIntegrityError && err.reason === 'bad-checkpoint')
  );
}

function isIntegrityFailure(err: unknown): err is SigsentryError {
  return (
    err instanceof LogIntegrityError || err instanceof CheckpointError || err instanceof MerkleProofError
  );
}

function trustedOf(state: MonitorState): VerifiedCheckpoint {
  return { ...parseCheckpoint(state.checkpoint).checkpoint, note: state.checkpoint };
}

async function monitorOneLog(
  deps: MonitorDeps,
  matcher: IdentityMatcher,
  config: MonitoredLogConfig,
  result: LogRunResult,
): Promise<LogRunResult> {
  const limits = { ...DEFAULT_LIMITS, ...deps.limits };
  const now = deps.now ?? Date.now;
  const started = now();
  const { log } = config;
  const where = { name: config.name, url: log.url };
  const logger = deps.logger.child({ log: config.name });

  /** Raises; false when the alert could not be durably recorded (the caller must not move on). */
  const raise = async (alert: AlertInput): Promise<boolean> => {
    try {
      await deps.alerts.raise(alert);
      return true;
    } catch (err) {
      logger.error('alert delivery failed', { error: err, alertKey: alert.key });
      if (err instanceof AlertDeliveryError && err.recorded) {
        result.deliveryFailures++;
        return true;
      }
      result.error = err;
      return false;
    }
  };
  const integrityFailure = async (
    err: SigsentryError,
    trusted: VerifiedCheckpoint | undefined,
    head?: VerifiedCheckpoint,
  ) => {
    const checkpoint = isCheckpointFailure(err);
    await raise(
      checkpoint
        ? checkpointInvalidAlert(where, err, trusted)
        : logInconsistentAlert(where, err, [trusted, head]),
    );
    result.outcome = checkpoint ? 'checkpoint-invalid' : 'log-inconsistent';
    result.error = err;
    return result;
  };

  let state = await deps.store.load(config.name);
  let trusted = state ? trustedOf(state) : undefined;
  result.from = state?.cursor;

  let head: VerifiedCheckpoint;
  try {
    head = await log.getCheckpoint();
  } catch (err) {
    if (isIntegrityFailure(err)) return integrityFailure(err, trusted);
    throw err;
  }
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
  });

  if (state === undefined) {
    if (!(await save(fresh(config.startIndex ?? head.size, [])))) return result;
  } else if (state.origin !== head.origin) {
    // A new tree under the same trusted key: the old one is frozen, the new one is all new.
    logger.warn('the log moved to a new tree; following it from its first entry', {
      previousOrigin: state.origin,
      origin: head.origin,
      previousCursor: state.cursor,
    });
    const shards = [
      ...state.previousShards,
      { origin: state.origin, checkpoint: state.checkpoint, cursor: state.cursor },
    ];
    if (!(await save(fresh(0, shards)))) return result;
  } else {
    try {
      await log.verifyConsistency(trusted!, head);
    } catch (err) {
      if (isIntegrityFailure(err)) return integrityFailure(err, trusted, head);
      throw err;
    }
    if (head.size !== state.treeSize || head.note !== state.checkpoint) {
      if (!(await save({ ...state, checkpoint: head.note, treeSize: head.size }))) return result;
    }
  }
  trusted = head;

  let cursor = deps.from !== undefined ? Math.min(Math.max(0, deps.from), head.size) : state!.cursor;
  result.from = cursor;
  const budgetEnd = Math.min(head.size, cursor + limits.maxEntriesPerRun);
  // Read-ahead: the next batches are fetched while this one is matched and its cursor saved, so
  // the log's round trips overlap the matching instead of adding to it. Batches are still
  // processed, and the cursor advanced, strictly in order.
  const read = (from: number) => {
    const to = Math.min(budgetEnd, from + limits.batchSize);
    const entries = log.readEntries(from, to, head);
    entries.catch(() => {}); // awaited below; a batch abandoned by an early return is only a read
    return { to, entries };
  };
  const reads: Array<ReturnType<typeof read>> = [];
  let readFrom = cursor;
  const fill = () => {
    while (reads.length < Math.max(1, limits.readAhead) && readFrom < budgetEnd) {
      const next = read(readFrom);
      reads.push(next);
      readFrom = next.to;
    }
  };
  fill();
  while (reads.length > 0) {
    if (now() - started > limits.timeBudgetMs) break;
    const pending = reads.shift()!;
    const end = pending.to;
    let entries: ScannedEntry[];
    try {
      entries = await pending.entries;
    } catch (err) {
      result.cursor = cursor;
      if (isIntegrityFailure(err)) return integrityFailure(err, trusted, head);
      throw err;
    }
    fill();
    let complete: boolean;
    try {
      complete = await processBatch(deps, matcher, where, entries, limits, result, raise);
    } catch (err) {
      result.cursor = cursor;
      if (isIntegrityFailure(err)) return integrityFailure(err, trusted, head);
      throw err;
    }
    if (!complete) {
      result.outcome = 'failed';
      result.cursor = cursor;
      return result;
    }
    if (!(await save({ ...state!, cursor: end }))) {
      result.cursor = cursor;
      return result;
    }
    result.scanned += entries.length;
    cursor = end;
  }
  result.cursor = cursor;
  result.outcome = cursor < head.size ? 'partial' : 'scanned';
  return result;
}

/** Matches a batch and raises its alerts. False if an alert could not be recorded. */
async function processBatch(
  deps: MonitorDeps,
  matcher: IdentityMatcher,
  where: { name: string; url: string },
  entries: ScannedEntry[],
  limits: MonitorLimits,
  result: LogRunResult,
  raise: (alert: AlertInput) => Promise<boolean>,
): Promise<boolean> {
  const alerts: AlertInput[] = [];
  const candidates: Array<{ entry: ScannedEntry; kind: string; matches: IdentityMatch[] }> = [];
  for (const entry of entries) {
    const extracted = extractVerifiers(entry.body);
    if (!extracted.ok) {
      const typed = parseEntryBody(entry.body, entry.logIndex);
      const reason = typed.ok ? extracted.message : typed.error.message;
      alerts.push(unparseableEntryAlert(where, entry, reason, extracted.kind));
      continue;
    }
    if (matcher.empty) continue;
    let matches: IdentityMatch[];
    try {
      matches = extracted.verifiers.flatMap((v) => matcher.match(v));
    } catch (err) {
      alerts.push(
        unparseableEntryAlert(where, entry, `certificate: ${(err as Error).message}`, extracted.kind),
      );
      continue;
    }
    if (matches.length > 0) {
      // A reported entry's time is evidence: its signature is checked now (LogIntegrityError).
      entry.verifyTimestamp?.();
      candidates.push({ entry, kind: extracted.kind, matches });
    }
  }
  result.unparseable += alerts.length;
  result.matched += candidates.length;

  // Signing-record lookups only for matches, a few in flight.
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < candidates.length) {
      const { entry, kind, matches } = candidates[next++]!;
      const typed = parseEntryBody(entry.body, entry.logIndex);
      const artifact = typed.ok ? typed.entry.artifactDigest : undefined;
      for (const match of matches) {
        const signature = match.verifier.signature;
        const record = signature ? await deps.records.findBySignature(signature) : undefined;
        if (record !== undefined) continue;
        result.rogue++;
        alerts.push(
          rogueSignatureAlert(where, entry, match, {
            kind,
            ...(artifact ? { artifactDigest: `${artifact.algorithm}:${artifact.hex}` } : {}),
          }),
        );
        break; // one alert per entry: its key is the entry
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limits.lookupConcurrency, candidates.length) }, worker));

  let recorded = true;
  for (const alert of alerts) if (!(await raise(alert))) recorded = false;
  return recorded;
}
