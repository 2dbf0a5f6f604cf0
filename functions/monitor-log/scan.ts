/**
 * Scanning a range of the log: read batches (a few ahead), match each entry against the owned
 * identities and each match against the signing records, raise the alerts, and record progress
 * after every batch. The scheduled run scans from its cursor; a fan-out shard scans its range;
 * both use this, so they behave the same on every failure.
 */
import type { AlertInput, AlertSink } from '../alerts/alert.ts';
import { AlertDeliveryError } from '../alerts/fanout.ts';
import type { SigsentryError } from '../errors.ts';
import type { Logger } from '../logging/logger.ts';
import { CheckpointError } from '../tlog/checkpoint/errors.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import { BatchOverBudgetError, ReadBudget } from '../tlog/client/read-budget.ts';
import { parseEntryBody } from '../tlog/entries/parse.ts';
import { MerkleProofError } from '../tlog/merkle/errors.ts';
import {
  checkpointInvalidAlert,
  logInconsistentAlert,
  rogueSignatureAlert,
  unparseableEntryAlert,
} from './alerts.ts';
import { BatchSizing } from './batch-sizing.ts';
import type { LogRunResult, MonitorLimits } from './core.ts';
import { extractVerifiers } from './entry-verifiers.ts';
import type { MonitoredLog, ScannedEntry } from './log-source.ts';
import type { IdentityMatch, IdentityMatcher } from './matcher.ts';
import { recordMismatch, type SigningRecordLookup } from './signing-lookup.ts';

export interface ScanContext {
  log: MonitoredLog;
  where: { name: string; url: string };
  matcher: IdentityMatcher;
  records: SigningRecordLookup;
  limits: MonitorLimits;
  result: LogRunResult;
  /** Raises; false when the alert could not be durably recorded (the scan must not move on). */
  raise: (alert: AlertInput) => Promise<boolean>;
  /** True once the run's time budget is spent: no new batch is started. */
  outOfTime: () => boolean;
  /** When the run's time budget started (ms since the epoch). */
  started: number;
  logger: Logger;
}

/** How a range scan ended, and the first index it did not finish. */
export type RangeEnd =
  | { kind: 'done' | 'out-of-time' | 'lost-race' | 'alert-not-recorded'; cursor: number }
  | { kind: 'integrity'; cursor: number; error: SigsentryError };

export function isCheckpointFailure(err: unknown): boolean {
  return (
    err instanceof CheckpointError || (err instanceof LogIntegrityError && err.reason === 'bad-checkpoint')
  );
}

export function isIntegrityFailure(err: unknown): err is SigsentryError {
  return (
    err instanceof LogIntegrityError || err instanceof CheckpointError || err instanceof MerkleProofError
  );
}

/** The run's alert raiser: an alert recorded but not delivered everywhere counts, and goes on. */
export function alertRaiser(
  alerts: AlertSink,
  logger: Logger,
  result: LogRunResult,
): (alert: AlertInput) => Promise<boolean> {
  return async (alert) => {
    try {
      await alerts.raise(alert);
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
}

/**
 * Raises the alert an integrity failure calls for and records the outcome in `result`. Says which
 * alert (its key) and whether it was recorded.
 */
export async function raiseIntegrityFailure(
  ctx: Pick<ScanContext, 'where' | 'raise' | 'result'>,
  err: SigsentryError,
  trusted: VerifiedCheckpoint | undefined,
  head?: VerifiedCheckpoint,
): Promise<{ key: string; recorded: boolean }> {
  const checkpoint = isCheckpointFailure(err);
  const alert = checkpoint
    ? checkpointInvalidAlert(ctx.where, err, trusted)
    : logInconsistentAlert(ctx.where, err, [trusted, head]);
  const recorded = await ctx.raise(alert);
  ctx.result.outcome = checkpoint ? 'checkpoint-invalid' : 'log-inconsistent';
  ctx.result.error = err;
  return { key: alert.key ?? alert.kind, recorded };
}

/**
 * Scans [from, to) against `head`. `advance(end)` records that every index below `end` is
 * processed; false means another run owns the range, and the scan stops. Batches (sized as the
 * log's `batching` asks, else limits.batchSize) are read
 * `limits.readAhead` ahead, so the log's round trips overlap the matching, but processed and
 * recorded strictly in order. What the batches' answers hold together is bounded by
 * `limits.readBudgetBytes` (read-budget.ts): each batch's bytes are counted until it is recorded,
 * reads ahead wait for room. A batch past half the budget (honest entries can be large: Rekor keeps
 * up to 1 MiB of jar metadata) is read again from the cursor in batches half its size, down to one
 * unit, then grows back; only a unit that does not fit is a log fault. A dependency failure is
 * thrown; what was recorded stays recorded.
 */
export async function scanRange(
  ctx: ScanContext,
  head: VerifiedCheckpoint,
  from: number,
  to: number,
  advance: (end: number) => Promise<boolean>,
): Promise<RangeEnd> {
  const { unit, size } = ctx.log.batching ?? { unit: 1, size: ctx.limits.batchSize };
  const budget = new ReadBudget(ctx.limits.readBudgetBytes);
  const sizing = new BatchSizing(size, unit);
  const read = (start: number) => {
    const end = Math.min(to, Math.floor(start / unit) * unit + sizing.size);
    // Opened in the order the batches are processed: the oldest open one is the budget's head.
    const account = budget.open({ start, end });
    const entries = account.run(() => ctx.log.readEntries(start, end, head));
    entries.catch(() => {}); // awaited below; a batch abandoned by an early return is only a read
    return { end, entries, account };
  };
  const reads: Array<ReturnType<typeof read>> = [];
  let readFrom = from;
  const fill = () => {
    while (reads.length < Math.max(1, ctx.limits.readAhead) && readFrom < to) {
      const next = read(readFrom);
      reads.push(next);
      readFrom = next.end;
    }
  };
  let cursor = from;
  try {
    fill();
    while (reads.length > 0) {
      if (ctx.outOfTime()) return { kind: 'out-of-time', cursor };
      const pending = reads.shift()!;
      let complete: boolean;
      let entries: ScannedEntry[];
      try {
        entries = await pending.entries;
        fill();
        complete = await processBatch(ctx, entries);
      } catch (err) {
        if (err instanceof BatchOverBudgetError && sizing.shrink(pending.end - cursor)) {
          // Too much at once, not too much: the batches read ahead are dropped, and the range is
          // read again from the cursor in halves.
          const why = 'its batch is read again in smaller batches';
          pending.account.close(why);
          for (const ahead of reads.splice(0)) ahead.account.close(why);
          readFrom = cursor;
          ctx.logger.warn(
            'a batch of log answers passed half the read budget: read again in smaller batches',
            {
              from: cursor,
              end: pending.end,
              batchSize: sizing.size,
              readBudgetBytes: ctx.limits.readBudgetBytes,
            },
          );
          fill();
          continue;
        }
        if (isIntegrityFailure(err)) return { kind: 'integrity', cursor, error: err };
        throw err;
      }
      if (!complete) return { kind: 'alert-not-recorded', cursor };
      if (!(await advance(pending.end))) return { kind: 'lost-race', cursor };
      pending.account.close(); // recorded: its answers' bytes are free for the reads ahead
      ctx.result.scanned += entries.length;
      cursor = pending.end;
      sizing.fitted();
    }
    return { kind: 'done', cursor };
  } finally {
    // Batches abandoned by an early return stop reading at their next chunk, and free what they held.
    budget.end();
  }
}

/** Matches a batch and raises its alerts. False if an alert could not be recorded. */
async function processBatch(ctx: ScanContext, entries: ScannedEntry[]): Promise<boolean> {
  const { matcher, where, limits, result, raise } = ctx;
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
    if (matcher.empty) {
      // Nothing to match; what could not be read is still reported, as a wholly unreadable entry is.
      if (extracted.unreadable !== undefined)
        alerts.push(unparseableEntryAlert(where, entry, extracted.unreadable[0]!, extracted.kind));
      continue;
    }
    // Every verifier is matched, whatever another part of the entry (or of the same certificate)
    // reads as: an owned key or identity found anywhere in it makes it a candidate, and what could
    // not be read is reported besides, never in its stead.
    const matches: IdentityMatch[] = [];
    let unreadable = extracted.unreadable?.[0];
    for (const verifier of extracted.verifiers) {
      const outcome = matcher.matchOutcome(verifier);
      for (const match of outcome.matches) matches.push(match);
      if (outcome.error !== undefined && unreadable === undefined) {
        // Key errors name the key already (canonical-spki.ts); certificate ones are DER faults.
        const what = verifier.type === 'certificate' ? 'certificate: ' : '';
        unreadable = `${what}${outcome.error.message}`;
      }
    }
    if (unreadable !== undefined)
      alerts.push(unparseableEntryAlert(where, entry, unreadable, extracted.kind));
    if (matches.length > 0) {
      // A reported entry's time is evidence: its signature is checked now (LogIntegrityError).
      entry.verifyTimestamp?.();
      candidates.push({ entry, kind: extracted.kind, matches });
    }
  }
  result.unparseable += alerts.length;
  result.matched += candidates.length;

  // Signing-record lookups only for matches, a few in flight. A match is sigsentry's only when a
  // record holds its signature and is bound to it: the same key, the same artifact (recordMismatch).
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < candidates.length) {
      const { entry, kind, matches } = candidates[next++]!;
      const typed = parseEntryBody(entry.body, entry.logIndex);
      const artifact = typed.ok ? typed.entry.artifactDigest : undefined;
      for (const match of matches) {
        const signature = match.verifier.signature;
        const record = signature ? await ctx.records.findBySignature(signature) : undefined;
        if (record !== undefined) {
          const why = recordMismatch(
            record,
            {
              kind,
              keySha256: match.keySha256,
              artifactDigest: artifact,
              byOwnedKey: match.identity.type === 'key',
            },
            (keyVersion) => matcher.keyOfVersion(keyVersion),
          );
          if (why === undefined) continue;
          ctx.logger.warn(
            `a signing record holds the signature of log entry ${entry.logIndex} but does not explain it: ${why}`,
            {
              logIndex: entry.logIndex,
              image: record.image,
              keyVersion: record.keyVersion,
              format: record.format,
              identity: match.identity.description,
            },
          );
        }
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
