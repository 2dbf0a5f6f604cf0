/**
 * One Firestore document per monitored log (`monitor` collection): the last verified checkpoint
 * and the scan cursor (the next index not yet fully processed). The two move separately: the
 * checkpoint advances as soon as it is proven consistent, the cursor only over batches whose every
 * entry was matched and alerted on. Writes carry a version, so two overlapping runs never move
 * either backwards: the loser of a race stops. A deployment without a log has no log state: its
 * runs leave one record apart, `monitorRuns/no-log` (NoLogRun).
 */
import type { DocumentReference, Firestore } from '@google-cloud/firestore';
import { DependencyError } from '../errors.ts';

export const MONITOR_COLLECTION = 'monitor';

/**
 * What the monitor records of a run that is not any one log's: `monitorRuns/no-log`, written by each
 * run of a deployment without a transparency log (REKOR_URL=none). Kept out of `monitor`, whose
 * documents are log states (a checkpoint and a cursor), so it can never be read as one.
 */
export const MONITOR_RUNS_COLLECTION = 'monitorRuns';
export const NO_LOG_RUN_DOCUMENT = 'no-log';

/**
 * The latest run that had no log to watch, overwritten by each such run. The dashboard and
 * `sigsentry status` tell from it "this deployment watches no log, the monitor last ran then" from
 * "the monitor has not run". A run with a log drops it before anything else, so a log configured
 * later that the monitor then fails to read shows as a monitor with no state, not as no log.
 */
export interface NoLogRun {
  schemaVersion: 1;
  /** When the run was (ISO 8601, the run's clock). */
  lastRunAt: string;
  /** What the run said (core.ts NO_LOG_NOTE). */
  note: string;
}

export interface MonitorState {
  schemaVersion: 1;
  log: string;
  url: string;
  /** The checkpoint origin (a v1 tree or a v2 shard); another origin is another tree. */
  origin: string;
  /** The last verified checkpoint: the signed note, kept as evidence. */
  checkpoint: string;
  treeSize: number;
  /** Next log index to scan; every index below it has been processed. */
  cursor: number;
  /** Increased by every write. */
  version: number;
  updatedAt: string;
  /** Trees this log had before a shard rollover, with how far they were scanned. */
  previousShards: PreviousTree[];
  /**
   * Origins of the frozen trees the log has listed with a head that verifies, since the first run
   * that read its listing (core.ts): one listed later that the monitor neither left nor passed over
   * was kept out of sight, and is alerted once. Absent in states written before it: the next run
   * records the listing as it is, alerting nothing.
   */
  listedFrozen?: string[];
  /** A backlog being scanned in parallel (fan-out.ts); the cursor advances over its finished shards. */
  fanOut?: FanOutPlan;
  /** When the log last grew, to tell a log that stopped growing (stall.ts); absent before its first run with it. */
  growth?: LogGrowth;
  /**
   * The run scanning this log and until when (ms since the epoch): a run that starts meanwhile (an
   * operator's `sigsentry monitor` during the scheduled run) stops as busy instead of matching,
   * and alerting on, the same entries again.
   */
  runner?: { owner: string; until: number } | null;
}

/** A tree the monitor has moved on from. */
export interface PreviousTree {
  origin: string;
  /** The last checkpoint verified of it ('' for a tree passed over, never verified). */
  checkpoint: string;
  /** Every index below it was processed. */
  cursor: number;
  /**
   * Present while entries from `cursor` on may be unscanned: the monitor moved past the tree
   * without a final head of it that verifies (the log did not list it frozen, or listed it without
   * one, or it was a frozen tree passed over). `size` is what it holds at least (its listed size, or
   * the checkpoint verified of it, whichever is larger); it may hold more, which only a final head
   * tells. Once the log lists it frozen with a head that verifies (and extends `checkpoint`), it is
   * scanned to that head and this is dropped (core.ts).
   */
  pending?: { size: number; fault?: PendingFault };
  /**
   * Set instead of `pending` when an operator gave the tree up (abandon-tree.ts): from `cursor`
   * on, at least `size` entries, it is never scanned; `reason` is theirs.
   */
  abandoned?: { at: string; reason: string; size: number };
  /**
   * On a tree the monitor finished: when a run first found the log's listing, read and verified, not
   * listing it. Not alerted then (one listing omitting a shard may be a glitch); the next run that
   * reads a listing without it alerts (`vanished`), unless three listings in a row have included it
   * meanwhile, which drop it (core.ts LISTINGS_THAT_FORGET_AN_OMISSION).
   */
  missingSince?: string;
  /**
   * With `missingSince`: the listings in a row, read and verified, that have included the tree (or an
   * unnamed tree of its size) since that omission. Absent while the latest listing read omitted it,
   * as in states written before it. Dropped with `missingSince` (core.ts).
   */
  listedSinceMissing?: number;
  /**
   * On a tree the monitor finished (scanned to a final head that verified): when a run alerted
   * that the log's listing, read and verified, no longer lists it, the second run to find it
   * missing while `missingSince` is kept; once: later runs that find it still missing say nothing. Dropped
   * when the log lists it again, whose listing is then held to the finished head as before
   * (core.ts). States written before `missingSince` may have it alone: alerted then, on one run.
   */
  vanished?: string;
}

/**
 * Why a pending tree the log lists frozen with a head that verifies is still pending: taking it up
 * failed a log integrity check (its head does not extend what was verified of it, its listing
 * contradicts that, or an entry of its tail fails its proof), which was alerted (CRITICAL,
 * deduplicated by the alert's key). Each run tries the tree again and scans the followed tree
 * meanwhile; dropped once a batch of its tail is scanned.
 */
export interface PendingFault {
  /** When a run first found it (the run's clock). */
  since: string;
  /** The failure, as the latest run found it. */
  error: string;
  /** The key of the alert raised for it. */
  alert: string;
}

/**
 * The log's newest checkpoint (its active tree, not the tree being scanned, which may be a frozen
 * one) as it last grew: its tree and size, and when a run first saw it (the run's clock, as
 * `updatedAt`).
 */
export interface LogGrowth {
  origin: string;
  treeSize: number;
  at: string;
  /** When the `log-stalled` alert of the stall under way was raised; cleared once it is resolved. */
  alerted?: string;
}

/**
 * [start, end) split into shards of `shardSize` entries, each scanned by its own function
 * instance against `checkpoint` (verified and proven consistent when the plan was made).
 */
export interface FanOutPlan {
  /** Names the plan: its shard records and messages carry it, so a later plan never mixes with them. */
  id: string;
  checkpoint: string;
  start: number;
  end: number;
  shardSize: number;
  createdAt: string;
}

export interface MonitorStateStore {
  load(log: string): Promise<MonitorState | undefined>;
  /**
   * Writes `next` (with version = expectedVersion + 1, or 1 for a new document) only if the stored
   * version is still `expectedVersion` (undefined: no document yet). False when another run won.
   */
  save(next: MonitorState, expectedVersion: number | undefined): Promise<boolean>;
  /**
   * Records a run without a log (replacing the record of the one before). Optional: a store that
   * holds log states only (a test's wrapper) records none, and the run goes on without it.
   */
  recordNoLogRun?(run: NoLogRun): Promise<void>;
  /** Drops that record: a run has a log to watch (the same stores have both or neither). */
  forgetNoLogRun?(): Promise<void>;
}

/** Document ids may not contain `/`. */
export function monitorDocumentId(log: string): string {
  return encodeURIComponent(log).replace(/\./g, '%2E');
}

export class FirestoreMonitorStore implements MonitorStateStore {
  private readonly db: Firestore;
  constructor(db: Firestore) {
    this.db = db;
  }

  private ref(log: string) {
    return this.db.collection(MONITOR_COLLECTION).doc(monitorDocumentId(log));
  }

  async load(log: string): Promise<MonitorState | undefined> {
    try {
      const snap = await this.ref(log).get();
      return snap.exists ? (snap.data() as MonitorState) : undefined;
    } catch (err) {
      throw new DependencyError('firestore', `could not read the monitor state of ${log}`, {}, err);
    }
  }

  async save(next: MonitorState, expectedVersion: number | undefined): Promise<boolean> {
    try {
      return await saveIfVersion(this.db, this.ref(next.log), next, expectedVersion);
    } catch (err) {
      throw new DependencyError('firestore', `could not write the monitor state of ${next.log}`, {}, err);
    }
  }

  async recordNoLogRun(run: NoLogRun): Promise<void> {
    try {
      await this.db.collection(MONITOR_RUNS_COLLECTION).doc(NO_LOG_RUN_DOCUMENT).set(run);
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `could not record the monitor run without a log in ${MONITOR_RUNS_COLLECTION}/${NO_LOG_RUN_DOCUMENT}`,
        {},
        err,
      );
    }
  }

  async forgetNoLogRun(): Promise<void> {
    try {
      await this.db.collection(MONITOR_RUNS_COLLECTION).doc(NO_LOG_RUN_DOCUMENT).delete();
    } catch (err) {
      throw new DependencyError(
        'firestore',
        `could not drop the record of a monitor run without a log, ${MONITOR_RUNS_COLLECTION}/${NO_LOG_RUN_DOCUMENT}`,
        {},
        err,
      );
    }
  }
}

/**
 * Writes `next` with version expectedVersion + 1 only if the stored document's version is still
 * `expectedVersion` (undefined: no document). False when another writer got there first.
 */
export function saveIfVersion<T extends { version: number }>(
  db: Firestore,
  ref: DocumentReference,
  next: T,
  expectedVersion: number | undefined,
): Promise<boolean> {
  return db.runTransaction(async (tx) => {
    const snap = await tx.get(ref);
    const stored = snap.exists ? (snap.data() as T).version : undefined;
    if (stored !== expectedVersion) return false;
    tx.set(ref, { ...next, version: (expectedVersion ?? 0) + 1 });
    return true;
  });
}

export class MemoryMonitorStore implements MonitorStateStore {
  readonly states = new Map<string, MonitorState>();
  /** The latest run without a log, as recordNoLogRun left it. */
  noLogRun: NoLogRun | undefined;

  async load(log: string): Promise<MonitorState | undefined> {
    const s = this.states.get(log);
    return s === undefined ? undefined : structuredClone(s);
  }

  async save(next: MonitorState, expectedVersion: number | undefined): Promise<boolean> {
    if (this.states.get(next.log)?.version !== expectedVersion) return false;
    this.states.set(next.log, structuredClone({ ...next, version: (expectedVersion ?? 0) + 1 }));
    return true;
  }

  async recordNoLogRun(run: NoLogRun): Promise<void> {
    this.noLogRun = structuredClone(run);
  }

  async forgetNoLogRun(): Promise<void> {
    this.noLogRun = undefined;
  }
}
