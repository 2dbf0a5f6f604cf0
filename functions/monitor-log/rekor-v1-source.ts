/**
 * Rekor v1 as a MonitoredLog, over tlog's RekorV1Client. v1 proves each entry against the tree
 * as it is when asked, which on a live log is newer than the checkpoint the run verified. Each
 * such newer tree (its checkpoint signature and the entry's inclusion already checked by the
 * client) is proven consistent with the run's checkpoint once, and remembered: a busy log costs
 * one consistency proof per new tree head, not one per entry.
 */

import { parseCheckpoint } from '../tlog/checkpoint/checkpoint.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import type { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import type { LogEntry } from '../tlog/client/types.ts';
import type { MonitoredLog, ScannedEntry } from './log-source.ts';

/** The client methods the source needs (RekorV1Client has them). */
export type RekorV1Reader = Pick<
  RekorV1Client,
  'getCheckpoint' | 'verifyConsistency' | 'getEntries' | 'verifySignedEntryTimestamp'
>;

export interface RekorV1SourceOptions {
  client: RekorV1Reader;
  url: string;
  /**
   * Global log index of the active shard's first entry: after a shard rollover Rekor v1 numbers
   * entries across shards while checkpoints and proofs count within the shard.
   */
  indexOffset?: number;
}

export class RekorV1Source implements MonitoredLog {
  readonly url: string;
  private readonly client: RekorV1Reader;
  private readonly offset: number;
  /** `size:root` of trees proven consistent with the head they were checked against. */
  private readonly consistent = new Map<string, string>();

  constructor(opts: RekorV1SourceOptions) {
    this.client = opts.client;
    this.url = opts.url;
    this.offset = opts.indexOffset ?? 0;
  }

  getCheckpoint(): Promise<VerifiedCheckpoint> {
    return this.client.getCheckpoint();
  }

  verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void> {
    return this.client.verifyConsistency(trusted, next);
  }

  async readEntries(start: number, end: number, head: VerifiedCheckpoint): Promise<ScannedEntry[]> {
    if (end <= start) return [];
    const entries = await this.client.getEntries(start + this.offset, end + this.offset, undefined, {
      signedEntryTimestamps: 'defer',
    });
    for (const entry of entries) await this.proveAgainst(entry, head);
    return entries.map((e) => ({
      logIndex: e.logIndex - this.offset,
      body: Buffer.from(e.body, 'base64'),
      uuid: e.uuid,
      integratedTime: e.integratedTime,
      verifyTimestamp: () => this.client.verifySignedEntryTimestamp(e),
    }));
  }

  /** The entry's (client-verified) proof tree must be the head or a tree proven to extend it. */
  private async proveAgainst(entry: LogEntry, head: VerifiedCheckpoint): Promise<void> {
    const proof = entry.verification?.inclusionProof;
    const details = { logIndex: entry.logIndex, uuid: entry.uuid };
    if (proof?.checkpoint === undefined) {
      throw new LogIntegrityError('no-checkpoint', `entry ${entry.logIndex} has no checkpoint`, details);
    }
    if (proof.logIndex !== entry.logIndex - this.offset) {
      throw new LogIntegrityError(
        'wrong-index',
        `entry ${entry.logIndex} is proven at another index`,
        details,
      );
    }
    const headKey = `${head.size}:${head.rootHash.toString('hex')}`;
    const treeKey = `${proof.treeSize}:${proof.rootHash}`;
    if (treeKey === headKey || this.consistent.get(treeKey) === headKey) return;
    const { checkpoint } = parseCheckpoint(proof.checkpoint);
    if (checkpoint.origin !== head.origin) {
      throw new LogIntegrityError(
        'wrong-origin',
        `entry ${entry.logIndex} is proven in ${checkpoint.origin}`,
        details,
      );
    }
    // The client checked this checkpoint's signature and that the proof is for it.
    await this.client.verifyConsistency(head, { ...checkpoint, note: proof.checkpoint });
    this.consistent.set(treeKey, headKey);
  }
}
