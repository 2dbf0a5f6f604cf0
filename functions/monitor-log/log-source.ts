/**
 * The log as the monitor reads it. Any log (Rekor v1 over its REST API, Rekor v2 over tiles)
 * plugs in by implementing MonitoredLog; the monitor never sees wire formats.
 */
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';

export interface ScannedEntry {
  /** The index the log's API names the entry by (on a sharded Rekor v1, global across its shards). */
  logIndex: number;
  /**
   * Its index within the tree, when that differs from `logIndex` (a sharded Rekor v1): the unit of
   * the monitor's cursor, `--from` and `MONITOR_START_INDEX`.
   */
  treeIndex?: number;
  /** The canonicalized entry body, the bytes the Merkle leaf hashes. */
  body: Buffer;
  /** Rekor v1's entry UUID, when the log has one. */
  uuid?: string;
  integratedTime?: number;
  /**
   * Checks the log's signature over the entry's integratedTime (Rekor v1's signed entry
   * timestamp); throws LogIntegrityError. Inclusion is proven for every entry as it is read; this
   * costlier check is left to the entries the monitor reports.
   */
  verifyTimestamp?: () => void;
}

/** How a log is best read in batches, where limits.batchSize does not fit it. */
export interface LogBatching {
  /** Entries one read returns (a tile log's entry bundle: 256); batches end on its multiples. */
  unit: number;
  /** Entries per batch: enough units to keep the log client's requests in flight. */
  size: number;
}

/** A tree a sharded log has frozen. */
export interface FrozenTree {
  /** Its checkpoint origin, when its listing names one. */
  origin?: string;
  /** Its size, as listed. */
  size: number;
  /** Its final checkpoint, verified under the log's key; without it nothing of the tree can be proven. */
  checkpoint?: VerifiedCheckpoint;
  /** Why there is no checkpoint. */
  unverified?: string;
}

export interface MonitoredLog {
  /** Where the log is, for evidence. */
  readonly url: string;
  /** Default: limits.batchSize entries, ending anywhere. */
  readonly batching?: LogBatching;
  /** Fetches the newest checkpoint and verifies its signature (LogIntegrityError / CheckpointError if bad). */
  getCheckpoint(): Promise<VerifiedCheckpoint>;
  /** Proves `next` extends `trusted`; throws LogIntegrityError on a shrunk or forked tree or a bad proof. */
  verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void>;
  /**
   * The trees a sharded log has frozen (Rekor v1's inactive shards), oldest first, as its info lists
   * them. A log without shards has no such method.
   */
  frozenTrees?(): Promise<FrozenTree[]>;
  /**
   * Entries [start, end), in order, each proven to be in a tree consistent with `head` (end <=
   * head.size). Throws LogIntegrityError if the log cannot prove it.
   */
  readEntries(start: number, end: number, head: VerifiedCheckpoint): Promise<ScannedEntry[]>;
}
