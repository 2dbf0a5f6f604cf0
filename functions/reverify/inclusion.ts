/**
 * Re-checking the log inclusion of signatures already verified, without downloading them again: the
 * entry at each recorded log index is fetched (batched, ten per request as Rekor allows), its signed
 * entry timestamp verified, and its inclusion proven against the log's current signed checkpoint,
 * fetched once per pass (one rechecker per pass): a proof for that tree, or for another proven
 * consistent with it (a replayed answer from a forked tree, a split view, fails that). The tree
 * recorded is never smaller than the one the entry was proven in before. Its body must still hash
 * to what was verified before.
 */
import crypto from 'node:crypto';
import { DependencyError } from '../errors.ts';
import { parseCheckpoint } from '../tlog/checkpoint/checkpoint.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import type { RekorV1Client } from '../tlog/client/rekor-v1.ts';
import type { LogEntry, RekorV1Entry } from '../tlog/client/types.ts';
import type { LogEvidence } from '../verify/verdict.ts';

export interface InclusionResult {
  ok: boolean;
  reason?: string;
  /** Size of the signed tree the entry was proven in. */
  treeSize?: number;
}

const BATCH = 10;

/** An entry whose signed entry timestamp and inclusion proof verified. */
interface CheckedEntry {
  /** Hex SHA-256 of its body. */
  bodyHash: string;
  treeSize: number;
}

export class InclusionRechecker {
  readonly logId: string;
  readonly #client: RekorV1Client;
  readonly #baseUrl: string;
  readonly #fetch: typeof fetch;
  /** What was learnt of each entry (not the entry: its body and proof are not kept for the pass). */
  readonly #results = new Map<number, Promise<CheckedEntry | Error>>();
  #pending: Array<{ index: number; settle: (v: CheckedEntry | Error) => void }> = [];
  #scheduled = false;
  /** The log's checkpoint when this pass first needed it; every proof is judged against it. */
  #current: Promise<VerifiedCheckpoint> | undefined;
  /** Other trees a proof was given for, by size: proven (or not) consistent with #current once. */
  readonly #extensions = new Map<number, Promise<void>>();

  constructor(options: { client: RekorV1Client; baseUrl: string; fetch?: typeof fetch }) {
    this.#client = options.client;
    this.logId = options.client.logId.toString('hex');
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? fetch;
  }

  /** Re-checks one recorded entry; entries of other logs are not this checker's to judge. */
  async recheck(evidence: LogEvidence): Promise<InclusionResult | undefined> {
    if (evidence.logId !== this.logId) return undefined;
    const entry = await this.#entry(evidence.logIndex);
    if (entry instanceof DependencyError) throw entry;
    if (entry instanceof Error) return { ok: false, reason: entry.message };
    if (entry.bodyHash !== evidence.bodyHash) {
      return { ok: false, reason: `log entry ${evidence.logIndex} is no longer the entry that was verified` };
    }
    if (evidence.provenAtTreeSize !== undefined && entry.treeSize < evidence.provenAtTreeSize) {
      return {
        ok: false,
        reason: `the log went backwards: entry ${evidence.logIndex} is proven in a tree of ${entry.treeSize}, smaller than the ${evidence.provenAtTreeSize} it was proven in before`,
      };
    }
    return { ok: true, treeSize: entry.treeSize };
  }

  /** The log's current checkpoint, fetched once; a failed fetch is asked again by the next entry. */
  #checkpoint(): Promise<VerifiedCheckpoint> {
    if (this.#current === undefined) {
      const current = this.#client.getCheckpoint();
      this.#current = current;
      current.catch(() => {
        if (this.#current === current) this.#current = undefined;
      });
    }
    return this.#current;
  }

  /**
   * Verifies `entry` (its signed entry timestamp, its inclusion proof) and proves it included in the
   * pass's checkpoint `current`: its proof is for that tree, or for another (the log grew since, or a
   * replica answered from an older tree) proven consistent with it. LogIntegrityError otherwise.
   */
  async #verifyAgainst(entry: LogEntry, index: number, current: VerifiedCheckpoint): Promise<number> {
    const proof = entry.verification?.inclusionProof;
    if (proof?.treeSize === current.size) {
      // Proven to the pass's checkpoint itself: the entry's own checkpoint need not be verified.
      this.#client.verifyEntry(entry, index, current);
      return current.size;
    }
    this.#client.verifyEntry(entry, index);
    // verifyEntry checked that the proof and its signed checkpoint are there and agree.
    await this.#linked(current, proof!.checkpoint!);
    return Math.max(proof!.treeSize, current.size);
  }

  /** That the signed checkpoint `note` (already verified) and `current` are consistent, once per tree. */
  #linked(current: VerifiedCheckpoint, note: string): Promise<void> {
    const { checkpoint } = parseCheckpoint(note);
    let proven = this.#extensions.get(checkpoint.size);
    if (proven === undefined) {
      const other = { ...checkpoint, note };
      proven =
        other.size > current.size
          ? this.#client.verifyConsistency(current, other)
          : this.#client.verifyConsistency(other, current);
      this.#extensions.set(checkpoint.size, proven);
      // A fetch that failed is not remembered; a proof that failed is.
      proven.catch((err) => {
        if (!(err instanceof LogIntegrityError)) this.#extensions.delete(checkpoint.size);
      });
    }
    return proven;
  }

  #entry(index: number): Promise<CheckedEntry | Error> {
    let result = this.#results.get(index);
    if (result === undefined) {
      result = new Promise((settle) => this.#pending.push({ index, settle }));
      this.#results.set(index, result);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    }
    return result;
  }

  #flush(): void {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    for (let i = 0; i < pending.length; i += BATCH) void this.#fetchBatch(pending.slice(i, i + BATCH));
  }

  async #fetchBatch(
    batch: Array<{ index: number; settle: (v: CheckedEntry | Error) => void }>,
  ): Promise<void> {
    let entries: LogEntry[];
    try {
      const res = await this.#fetch(`${this.#baseUrl}/api/v1/log/entries/retrieve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ logIndexes: batch.map((b) => b.index) }),
        signal: AbortSignal.timeout(15_000),
      });
      if (!res.ok) throw new Error(`log answered ${res.status}`);
      const list = (await res.json()) as Array<Record<string, RekorV1Entry>>;
      entries = list.flatMap((m) => Object.entries(m).map(([uuid, e]) => ({ ...e, uuid })));
    } catch (err) {
      const failure = new DependencyError(
        'rekor',
        `re-reading log entries failed: ${(err as Error).message}`,
        {
          logIndexes: batch.map((b) => b.index),
        },
      );
      for (const b of batch) {
        this.#results.delete(b.index);
        b.settle(failure);
      }
      return;
    }
    let current: VerifiedCheckpoint;
    try {
      current = await this.#checkpoint();
    } catch (err) {
      const failure =
        err instanceof LogIntegrityError
          ? err
          : new DependencyError('rekor', `reading the log's checkpoint failed: ${(err as Error).message}`, {
              logIndexes: batch.map((b) => b.index),
            });
      for (const b of batch) {
        if (failure instanceof DependencyError) this.#results.delete(b.index);
        b.settle(failure);
      }
      return;
    }
    await Promise.all(batch.map((b) => this.#checkEntry(b, entries, current)));
  }

  async #checkEntry(
    b: { index: number; settle: (v: CheckedEntry | Error) => void },
    entries: LogEntry[],
    current: VerifiedCheckpoint,
  ): Promise<void> {
    const entry = entries.find((e) => e.logIndex === b.index);
    if (entry === undefined) {
      b.settle(new Error(`log entry ${b.index} is not in the log`));
      return;
    }
    try {
      const treeSize = await this.#verifyAgainst(entry, b.index, current);
      b.settle({
        bodyHash: crypto.createHash('sha256').update(Buffer.from(entry.body, 'base64')).digest('hex'),
        treeSize,
      });
    } catch (err) {
      if (err instanceof DependencyError) this.#results.delete(b.index);
      b.settle(err as Error);
    }
  }
}
