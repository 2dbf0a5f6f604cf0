/**
 * Re-checking the log inclusion of signatures already verified, without downloading them again,
 * against the log's current signed checkpoint, fetched once per pass (one rechecker per pass).
 *
 * An entry never proven against a checkpoint by a pass before is fetched (batched, ten per request
 * as Rekor allows), its signed entry timestamp verified, and its inclusion proven against that
 * checkpoint: a proof for that tree, or for another proven consistent with it (a replayed answer
 * from a forked tree, a split view, fails that). Its body must still hash to what was verified.
 *
 * An entry proven before in a tree whose size and root were recorded is not fetched again: that
 * tree's consistency with the current checkpoint proves the entry is still there, unchanged (an
 * append-only tree keeps every leaf of a tree it extends, RFC 9162 §2.1.4), at the cost of one
 * consistency proof per recorded tree rather than a read per entry. A tree of the same size with
 * another root, a smaller current tree, or a failed consistency proof is the log rewriting its
 * history. The tree recorded is never smaller than the one the entry was proven in before.
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
  /** Hex root hash of that tree, for the next pass's consistency check. */
  rootHash?: string;
}

const BATCH = 10;

/** An entry whose signed entry timestamp and inclusion proof verified. */
interface CheckedEntry {
  /** Hex SHA-256 of its body. */
  bodyHash: string;
  /** The signed tree it is proven in. */
  tree: ProvenTree;
}

interface ProvenTree {
  size: number;
  /** Hex. */
  rootHash: string;
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
  /** Recorded trees (`size:root`), proven (or not) consistent with #current once. */
  readonly #recorded = new Map<string, Promise<void>>();

  constructor(options: { client: RekorV1Client; baseUrl: string; fetch?: typeof fetch }) {
    this.#client = options.client;
    this.logId = options.client.logId.toString('hex');
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#fetch = options.fetch ?? fetch;
  }

  /** Re-checks one recorded entry; entries of other logs are not this checker's to judge. */
  async recheck(evidence: LogEvidence): Promise<InclusionResult | undefined> {
    if (evidence.logId !== this.logId) return undefined;
    if (evidence.provenAtTreeSize !== undefined && evidence.provenAtRoot !== undefined) {
      return await this.#recheckByConsistency(evidence.logIndex, {
        size: evidence.provenAtTreeSize,
        rootHash: evidence.provenAtRoot,
      });
    }
    const entry = await this.#entry(evidence.logIndex);
    if (entry instanceof DependencyError) throw entry;
    if (entry instanceof Error) return { ok: false, reason: entry.message };
    if (entry.bodyHash !== evidence.bodyHash) {
      return { ok: false, reason: `log entry ${evidence.logIndex} is no longer the entry that was verified` };
    }
    if (evidence.provenAtTreeSize !== undefined && entry.tree.size < evidence.provenAtTreeSize) {
      return {
        ok: false,
        reason: `the log went backwards: entry ${evidence.logIndex} is proven in a tree of ${entry.tree.size}, smaller than the ${evidence.provenAtTreeSize} it was proven in before`,
      };
    }
    return { ok: true, treeSize: entry.tree.size, rootHash: entry.tree.rootHash };
  }

  /** An entry proven in `tree` before is still in the log if the current tree extends `tree`. */
  async #recheckByConsistency(index: number, tree: ProvenTree): Promise<InclusionResult> {
    let current: VerifiedCheckpoint;
    try {
      current = await this.#checkpoint();
    } catch (err) {
      if (err instanceof LogIntegrityError) return { ok: false, reason: err.message };
      throw new DependencyError('rekor', `reading the log's checkpoint failed: ${(err as Error).message}`, {
        logIndex: index,
      });
    }
    const currentRoot = current.rootHash.toString('hex');
    if (tree.size > current.size) {
      return {
        ok: false,
        reason: `the log went backwards: entry ${index} was proven in a tree of ${tree.size}, larger than the log's current ${current.size}`,
      };
    }
    if (tree.size === current.size) {
      if (tree.rootHash === currentRoot) return { ok: true, treeSize: tree.size, rootHash: tree.rootHash };
      return {
        ok: false,
        reason: `the log rewrote its history: its tree of size ${tree.size}, in which entry ${index} was proven, now has another root`,
      };
    }
    try {
      await this.#extends(current, tree);
    } catch (err) {
      if (err instanceof LogIntegrityError) {
        return {
          ok: false,
          reason: `the log rewrote its history: its tree of size ${current.size} does not extend the tree of size ${tree.size} in which entry ${index} was proven (${err.message})`,
        };
      }
      throw new DependencyError('rekor', `proving the log consistent failed: ${(err as Error).message}`, {
        logIndex: index,
        treeSize: tree.size,
      });
    }
    return { ok: true, treeSize: current.size, rootHash: currentRoot };
  }

  /** That `current` extends the recorded `tree` (smaller), once per recorded tree. */
  #extends(current: VerifiedCheckpoint, tree: ProvenTree): Promise<void> {
    const key = `${tree.size}:${tree.rootHash}`;
    let proven = this.#recorded.get(key);
    if (proven === undefined) {
      const recorded: VerifiedCheckpoint = {
        origin: current.origin,
        size: tree.size,
        rootHash: Buffer.from(tree.rootHash, 'hex'),
        extensions: [],
        note: '',
      };
      proven = this.#client.verifyConsistency(recorded, current);
      this.#recorded.set(key, proven);
      // A fetch that failed is not remembered; a proof that failed is.
      proven.catch((err) => {
        if (!(err instanceof LogIntegrityError)) this.#recorded.delete(key);
      });
    }
    return proven;
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
   * replica answered from an older tree) proven consistent with it. The tree it is now proven in: the
   * larger of the two. LogIntegrityError otherwise.
   */
  async #verifyAgainst(entry: LogEntry, index: number, current: VerifiedCheckpoint): Promise<ProvenTree> {
    const proof = entry.verification?.inclusionProof;
    const currentTree = { size: current.size, rootHash: current.rootHash.toString('hex') };
    if (proof?.treeSize === current.size) {
      // Proven to the pass's checkpoint itself: the entry's own checkpoint need not be verified.
      this.#client.verifyEntry(entry, index, current);
      return currentTree;
    }
    this.#client.verifyEntry(entry, index);
    // verifyEntry checked that the proof and its signed checkpoint are there and agree.
    await this.#linked(current, proof!.checkpoint!);
    return proof!.treeSize > current.size
      ? { size: proof!.treeSize, rootHash: proof!.rootHash }
      : currentTree;
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
      const tree = await this.#verifyAgainst(entry, b.index, current);
      b.settle({
        bodyHash: crypto.createHash('sha256').update(Buffer.from(entry.body, 'base64')).digest('hex'),
        tree,
      });
    } catch (err) {
      if (err instanceof DependencyError) this.#results.delete(b.index);
      b.settle(err as Error);
    }
  }
}
