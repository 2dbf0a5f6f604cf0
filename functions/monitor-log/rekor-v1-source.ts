/**
 * Rekor v1 as a MonitoredLog, over tlog's RekorV1Client. v1 proves each entry against the tree
 * as it is when asked, which on a live log is newer than the checkpoint the run verified. Each
 * such newer tree (its checkpoint signature and the entry's inclusion already checked by the
 * client) is proven consistent with the run's checkpoint once, and remembered: a busy log costs
 * one consistency proof per new tree head, not one per entry.
 *
 * A sharded Rekor (the public one) numbers entries across its shards while checkpoints and proofs
 * count within a tree: a tree's first entry is at the global index of the sizes of the frozen
 * shards before it, which the log's info lists. That offset is taken from the log info for each
 * tree (origin), so a shard rotation needs no reconfiguration; the configured `indexOffset` serves
 * only a log whose info lists no shards. A wrong offset cannot skip entries: each entry read must
 * be proven at its index within the tree.
 */

import { DependencyError } from '../errors.ts';
import { parseCheckpoint } from '../tlog/checkpoint/checkpoint.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import type { RekorV1Client, RekorV1LogInfo } from '../tlog/client/rekor-v1.ts';
import type { LogEntry } from '../tlog/client/types.ts';
import type { FrozenTree, MonitoredLog, ScannedEntry } from './log-source.ts';

/** The client methods the source needs (RekorV1Client has them). */
export type RekorV1Reader = Pick<
  RekorV1Client,
  'getLogInfo' | 'verifyConsistency' | 'scanEntries' | 'verifySignedEntryTimestamp'
>;

export interface RekorV1SourceOptions {
  client: RekorV1Reader;
  url: string;
  /**
   * Global log index of the active shard's first entry, for a log whose info lists no inactive
   * shards (one that does gives it itself).
   */
  indexOffset?: number;
}

/** How long a tree's learnt index offset is used before the log's info is read again. */
const OFFSET_TTL_MS = 5 * 60_000;

export class RekorV1Source implements MonitoredLog {
  readonly url: string;
  private readonly client: RekorV1Reader;
  private readonly configuredOffset: number;
  /**
   * Global log index of each tree's first entry, by checkpoint origin, as the log info last gave
   * it, and when: learnt again after OFFSET_TTL_MS, so one odd answer does not stay for good.
   */
  private readonly offsets = new Map<string, { offset: number; at: number }>();
  /** `size:root` of trees proven consistent with the head they were checked against. */
  private readonly consistent = new Map<string, string>();
  /**
   * The log info the last getCheckpoint read, for the frozenTrees that follows it in the same run:
   * one read of the info gives both, and the same snapshot of the log. Taken once.
   */
  private unlisted: RekorV1LogInfo | undefined;

  constructor(opts: RekorV1SourceOptions) {
    this.client = opts.client;
    this.url = opts.url;
    this.configuredOffset = opts.indexOffset ?? 0;
  }

  async getCheckpoint(): Promise<VerifiedCheckpoint> {
    const info = await this.client.getLogInfo();
    this.learnOffsets(info);
    this.unlisted = info;
    return info.checkpoint;
  }

  async frozenTrees(): Promise<FrozenTree[]> {
    const info = this.unlisted ?? (await this.client.getLogInfo());
    this.unlisted = undefined;
    this.learnOffsets(info);
    return info.inactiveShards.map((shard) => ({
      size: shard.treeSize,
      ...(shard.origin !== undefined ? { origin: shard.origin } : {}),
      ...(shard.checkpoint !== undefined ? { checkpoint: shard.checkpoint } : {}),
      ...(shard.unverified !== undefined ? { unverified: shard.unverified } : {}),
    }));
  }

  private learnOffsets(info: RekorV1LogInfo): void {
    const at = Date.now();
    for (const shard of info.inactiveShards) {
      if (shard.origin !== undefined) this.offsets.set(shard.origin, { offset: shard.indexOffset, at });
    }
    const active = info.inactiveShards.length > 0 ? info.indexOffset : this.configuredOffset;
    this.offsets.set(info.checkpoint.origin, { offset: active, at });
  }

  /** The offset of `head`'s tree; asked of the log when this source has not seen it (a shard scan). */
  private async offsetOf(head: VerifiedCheckpoint): Promise<number> {
    const known = this.offsets.get(head.origin);
    if (known === undefined || Date.now() - known.at > OFFSET_TTL_MS) {
      this.learnOffsets(await this.client.getLogInfo());
    }
    const learnt = this.offsets.get(head.origin);
    if (learnt === undefined) {
      // Not evidence against the log (an inactive shard's tree head may name its tree otherwise):
      // the scan cannot place the tree's entries, and fails, to be retried.
      throw new DependencyError(
        'rekor',
        `the log's info lists no tree "${head.origin}", so its entries' log indexes are unknown`,
        { treeSize: head.size },
      );
    }
    return learnt.offset;
  }

  verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void> {
    return this.client.verifyConsistency(trusted, next);
  }

  async readEntries(start: number, end: number, head: VerifiedCheckpoint): Promise<ScannedEntry[]> {
    if (end <= start) return [];
    const offset = await this.offsetOf(head);
    // The trees the entries are proven in (a live log's grows during the read), each with the
    // lowest entry proven in it: one consistency proof per tree, not per entry.
    const trees = new Map<string, ProofTree>();
    const entries = await this.client.scanEntries(start + offset, end + offset, (entry, body) => {
      const proof = placedProof(entry, offset);
      const treeKey = `${proof.treeSize}:${proof.rootHash}`;
      const known = trees.get(treeKey);
      if (known === undefined || entry.logIndex < known.logIndex) {
        trees.set(treeKey, { checkpoint: proof.checkpoint, logIndex: entry.logIndex, uuid: entry.uuid });
      }
      return scannedEntry(entry, body, offset, this.client);
    });
    // In log order, as the entries were read before answers came back concurrently: a fault names
    // the first entry it concerns.
    const inOrder = [...trees].sort(([, a], [, b]) => a.logIndex - b.logIndex);
    for (const [treeKey, tree] of inOrder) await this.proveTree(treeKey, tree, head);
    return entries;
  }

  /** A tree entries are proven in (its checkpoint checked by the client) must be the head or extend it. */
  private async proveTree(treeKey: string, tree: ProofTree, head: VerifiedCheckpoint): Promise<void> {
    const headKey = `${head.size}:${head.rootHash.toString('hex')}`;
    if (treeKey === headKey || this.consistent.get(treeKey) === headKey) return;
    const { checkpoint } = parseCheckpoint(tree.checkpoint);
    if (checkpoint.origin !== head.origin) {
      throw new LogIntegrityError(
        'wrong-origin',
        `entry ${tree.logIndex} is proven in ${checkpoint.origin}`,
        {
          logIndex: tree.logIndex,
          uuid: tree.uuid,
        },
      );
    }
    // The client checked this checkpoint's signature and that the proof is for it.
    await this.client.verifyConsistency(head, { ...checkpoint, note: tree.checkpoint });
    this.consistent.set(treeKey, headKey);
  }
}

/** A tree an entry is proven in: its checkpoint note, and the lowest entry read that names it. */
interface ProofTree {
  checkpoint: string;
  logIndex: number;
  uuid: string;
}

/** The entry's proof, which must carry its checkpoint and place the entry at its index in the tree. */
function placedProof(
  entry: LogEntry,
  offset: number,
): { treeSize: number; rootHash: string; checkpoint: string } {
  const proof = entry.verification?.inclusionProof;
  const details = { logIndex: entry.logIndex, uuid: entry.uuid };
  if (proof?.checkpoint === undefined) {
    throw new LogIntegrityError('no-checkpoint', `entry ${entry.logIndex} has no checkpoint`, details);
  }
  if (proof.logIndex !== entry.logIndex - offset) {
    throw new LogIntegrityError('wrong-index', `entry ${entry.logIndex} is proven at another index`, details);
  }
  return { treeSize: proof.treeSize, rootHash: proof.rootHash, checkpoint: proof.checkpoint };
}

/**
 * What the scan keeps of a checked entry: its body as the client decoded it and what its signed
 * entry timestamp covers, not the answer's proof or base64 text. The timestamp is checked over the
 * body encoded again, which is the text the log signed: the client accepts only canonical base64
 * (one encoding per body).
 */
function scannedEntry(entry: LogEntry, body: Buffer, offset: number, client: RekorV1Reader): ScannedEntry {
  const { logID, logIndex, integratedTime, uuid } = entry;
  const signedEntryTimestamp = entry.verification?.signedEntryTimestamp;
  return {
    // The global index, as the log's API and `rekor-cli get --log-index` name the entry: alert
    // keys stay unique across shards, and the evidence points at the entry.
    logIndex,
    ...(offset > 0 ? { treeIndex: logIndex - offset } : {}),
    body,
    uuid,
    integratedTime,
    verifyTimestamp: () =>
      client.verifySignedEntryTimestamp({
        logID,
        logIndex,
        integratedTime,
        uuid,
        body: body.toString('base64'),
        ...(signedEntryTimestamp !== undefined ? { verification: { signedEntryTimestamp } } : {}),
      }),
  };
}
