/**
 * Re-checking the log inclusion of signatures already verified, without downloading them again,
 * against the log's current signed checkpoint, fetched once per pass (one rechecker per pass).
 *
 * An entry never proven against a checkpoint by a pass before (a signature the pass has just
 * verified, or a record from before trees were recorded) is fetched (batched, ten per request
 * as Rekor allows), its signed entry timestamp verified, and its inclusion proven against that
 * checkpoint: a proof for that tree, or for another proven consistent with it (a replayed answer
 * from a forked tree, a split view, fails that), which places it at its own log index (less the
 * tree's first log index on a sharded log): a proof for the same body at another leaf does not
 * prove this entry. On a log whose info lists no shards, that first index is the configured one
 * (the monitor's `indexOffset` for this log), or, with none configured, not known (it may be an
 * offset the log does not list): every entry of the pass must then be proven at the same one.
 * Its body must still hash to what was verified.
 *
 * Its integration time must be the one verified. An entry the log leaves out of its answer is lost
 * only if the pass's checkpoint holds it; beyond that checkpoint it is asked again (retryable).
 *
 * An entry proven before in a tree whose size and root were recorded is not fetched again: that
 * tree's consistency with the current checkpoint proves the entry is still there, unchanged (an
 * append-only tree keeps every leaf of a tree it extends, RFC 9162 §2.1.4), at the cost of one
 * consistency proof per recorded tree rather than a read per entry. A recorded tree larger than
 * the pass's checkpoint (another pass, started later, recorded it) must extend that checkpoint,
 * and stays recorded. Another root at the same size, or a failed consistency proof, is the log
 * rewriting its history; a proof that cannot be read is the log failing (retryable), not that.
 * The tree recorded is never smaller than the one the entry was proven in before.
 */
import crypto from 'node:crypto';
import { DependencyError } from '../errors.ts';
import { parseCheckpoint } from '../tlog/checkpoint/checkpoint.ts';
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { LogIntegrityError } from '../tlog/client/errors.ts';
import { request } from '../tlog/client/http.ts';
import {
  V1_RETRIEVED_ENTRIES_MAX_BYTES,
  V1_RETRIEVED_ENTRIES_MAX_CONTAINERS,
} from '../tlog/client/limits.ts';
import { logFetch } from '../tlog/client/node-fetch.ts';
import type { InactiveShard, RekorV1Client } from '../tlog/client/rekor-v1.ts';
import { readJson, retrievedEntriesSchema } from '../tlog/client/rekor-v1-schema.ts';
import type { LogEntry, RekorV1Entry } from '../tlog/client/types.ts';
import type { LogEvidence } from '../verify/verdict.ts';

export interface InclusionResult {
  ok: boolean;
  reason?: string;
  /** Size of the signed tree the entry was proven in. */
  treeSize?: number;
  /** Hex root hash of that tree, for the next pass's consistency check. */
  rootHash?: string;
  /** Its checkpoint origin: which tree of a sharded log it is. */
  origin?: string;
}

const BATCH = 10;
/** Further attempts at a batch of entry reads that failed with a network error, 5xx or 429. */
const RETRIES = 2;

/** An entry whose signed entry timestamp and inclusion proof verified. */
interface CheckedEntry {
  /** Hex SHA-256 of its body. */
  bodyHash: string;
  integratedTime: number;
  /** The signed tree it is proven in. */
  tree: ProvenTree;
}

/** The signed tree an entry is proven in, and the global log index of that tree's first entry. */
interface HoldingTree {
  tree: VerifiedCheckpoint;
  indexOffset: number;
  /**
   * Whether `indexOffset` is known: the log info lists shards, whose sizes give it, or it is the
   * one configured for a log that lists none. Otherwise it is 0 by default, and the tree may start
   * at an offset the info does not list.
   */
  known: boolean;
  /**
   * Whether `indexOffset` is known only because it is configured (the log lists no shards): a proof
   * that disagrees may be the setting's fault as much as the log's (found by review: a typo, or an
   * offset left stale, made every honest entry `invalid`), so it is not judged (#place).
   */
  configured: boolean;
}

/** The global log index of a tree's first entry implied by an entry's proof, and that entry's. */
interface ImpliedOffset {
  offset: number;
  index: number;
}

interface ProvenTree {
  size: number;
  /** Hex. */
  rootHash: string;
  /** Absent for a tree recorded before origins were. */
  origin?: string;
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
  /**
   * Global log index of that checkpoint's first entry (from the log info): a sharded Rekor numbers
   * entries across its shards, its checkpoints count within a tree.
   */
  #offset = 0;
  /**
   * Whether #offset is known: the log info lists shards (#offset is their sizes summed), or it lists
   * none and an offset is configured (#configuredOffset). Otherwise #offset is 0 by default, and
   * the log may number its entries from an offset it does not list.
   */
  #offsetKnown = false;
  /** Whether #offset is the configured one (#configuredOffset), the log listing no shards. */
  #offsetConfigured = false;
  /**
   * The active tree's first log index for a log whose info lists no shards: the monitor's
   * `indexOffset` for this log (reverify/config.ts), so both hold its entries to one numbering.
   */
  readonly #configuredOffset: number | undefined;
  /**
   * By tree origin, on a log that lists no shards: the first index implied (its entry's log index
   * less its proof's index) by an entry proven in that tree this pass, which every other must share.
   */
  readonly #implied = new Map<string, ImpliedOffset>();
  /**
   * Global log index one past the checkpoint's last entry: the log has made no claim yet about an
   * entry at or beyond it (logged since the pass read the info, perhaps in a tree the pass has not
   * seen), so what it says of one is asked again, not judged.
   */
  #end = 0;
  /** The frozen trees before it (the log info's inactive shards), whose entries are proven in them. */
  #shards: InactiveShard[] = [];
  /**
   * Other trees (`size:root`: recorded ones, or those a read entry's proof was for), each proven
   * (or not) consistent with #current once per pass. Keyed by root too: two trees of one size are
   * a split view, and the second must not ride on the first's result.
   */
  readonly #consistency = new Map<string, Promise<void>>();

  constructor(options: {
    client: RekorV1Client;
    baseUrl: string;
    fetch?: typeof fetch;
    /**
     * Global log index of the active tree's first entry, for a log whose info lists no shards (one
     * that lists them gives it, and wins): as the monitor's `indexOffset` means it.
     */
    indexOffset?: number;
  }) {
    this.#client = options.client;
    this.#configuredOffset = options.indexOffset;
    this.logId = options.client.logId.toString('hex');
    this.#baseUrl = options.baseUrl.replace(/\/+$/, '');
    // The log client's transport, as its own reads of this log use (node-fetch.ts).
    this.#fetch = options.fetch ?? logFetch;
  }

  /** Re-checks one recorded entry; entries of other logs are not this checker's to judge. */
  async recheck(evidence: LogEvidence): Promise<InclusionResult | undefined> {
    if (evidence.logId !== this.logId) return undefined;
    const recorded = recordedTree(evidence);
    if (recorded !== undefined) return await this.#recheckByConsistency(evidence.logIndex, recorded);
    const unprovable = await this.#unprovable(evidence.logIndex);
    if (unprovable !== undefined) return { ok: false, reason: unprovable };
    const entry = await this.#entry(evidence.logIndex);
    if (entry instanceof DependencyError) throw entry;
    if (entry instanceof Error) return { ok: false, reason: entry.message };
    if (entry.bodyHash !== evidence.bodyHash) {
      return { ok: false, reason: `log entry ${evidence.logIndex} is no longer the entry that was verified` };
    }
    if (evidence.integratedTime > 0 && entry.integratedTime !== evidence.integratedTime) {
      return {
        ok: false,
        reason: `log entry ${evidence.logIndex} now claims integration at ${entry.integratedTime}, not the ${evidence.integratedTime} verified`,
      };
    }
    if (evidence.provenAtTreeSize !== undefined && entry.tree.size < evidence.provenAtTreeSize) {
      return {
        ok: false,
        reason: `the log went backwards: entry ${evidence.logIndex} is proven in a tree of ${entry.tree.size}, smaller than the ${evidence.provenAtTreeSize} it was proven in before`,
      };
    }
    return { ok: true, ...resultOf(entry.tree) };
  }

  /**
   * An entry proven in `tree` before is still there, unchanged, if the log's current tree and
   * `tree` are one history: the current tree extends it, or (a pass whose checkpoint is older than
   * another pass's record) it extends the current one. The larger of the two is recorded.
   */
  async #recheckByConsistency(index: number, tree: ProvenTree): Promise<InclusionResult> {
    let current: VerifiedCheckpoint;
    try {
      current = this.#treeHolding(index, await this.#checkpoint()).tree;
    } catch (err) {
      if (err instanceof LogIntegrityError) return { ok: false, reason: err.message };
      throw err;
    }
    if (tree.origin !== undefined && tree.origin !== current.origin) {
      // Recorded in another tree than the log's info places the entry in. Beyond the pass's
      // checkpoint, a later pass recorded it in a tree this pass's info predates (a rotation since);
      // within it, the log moved the entry.
      if (index >= this.#end) {
        throw new DependencyError(
          'rekor',
          `log entry ${index} was proven in tree "${tree.origin}", newer than this pass's view of the log ("${current.origin}")`,
          { logIndex: index },
        );
      }
      return {
        ok: false,
        reason: `the log rewrote its history: entry ${index} was proven in tree "${tree.origin}", and the log now places it in "${current.origin}"`,
      };
    }
    const currentTree = treeOf(current);
    if (tree.size === current.size) {
      if (tree.rootHash === currentTree.rootHash) return { ok: true, ...resultOf(currentTree) };
      return {
        ok: false,
        reason: `the log rewrote its history: its tree of size ${tree.size}, in which entry ${index} was proven, now has another root`,
      };
    }
    try {
      await this.#consistent(current, tree, { logIndex: index });
    } catch (err) {
      if (!(err instanceof LogIntegrityError)) throw err;
      return {
        ok: false,
        reason:
          tree.size < current.size
            ? `the log rewrote its history: its tree of size ${current.size} does not extend the tree of size ${tree.size} in which entry ${index} was proven`
            : `the log rewrote its history: the tree of size ${tree.size} in which entry ${index} was proven does not extend its tree of size ${current.size}`,
      };
    }
    return {
      ok: true,
      ...resultOf(tree.size > current.size ? { ...tree, origin: current.origin } : currentTree),
    };
  }

  /**
   * That `tree` and `current` are one history (the larger extends the smaller), once per tree. A
   * failed proof (LogIntegrityError, remembered) is the log rewriting its history; anything else,
   * a reply that could not be read included, is a DependencyError, asked again by the next entry.
   */
  #consistent(
    current: VerifiedCheckpoint,
    tree: ProvenTree,
    details: Record<string, unknown>,
  ): Promise<void> {
    const key = `${current.origin}|${tree.size}:${tree.rootHash}`;
    let proven = this.#consistency.get(key);
    if (proven === undefined) {
      const other: VerifiedCheckpoint = {
        origin: current.origin,
        size: tree.size,
        rootHash: Buffer.from(tree.rootHash, 'hex'),
        extensions: [],
        note: '',
      };
      const proof =
        other.size > current.size
          ? this.#client.verifyConsistency(current, other)
          : this.#client.verifyConsistency(other, current);
      proven = proof.catch((err: unknown) => {
        if (err instanceof LogIntegrityError && PROOF_FAILURES.has(err.reason)) throw err;
        this.#consistency.delete(key);
        throw new DependencyError(
          'rekor',
          `proving the log's trees of sizes ${tree.size} and ${current.size} consistent failed: ${(err as Error).message}`,
          { ...details, treeSize: tree.size, currentTreeSize: current.size },
          err,
        );
      });
      this.#consistency.set(key, proven);
    }
    return proven;
  }

  /**
   * The log's current checkpoint, fetched once; a failed fetch is asked again by the next entry.
   * Rejects with a LogIntegrityError (a checkpoint that does not verify) or a DependencyError.
   */
  #checkpoint(): Promise<VerifiedCheckpoint> {
    if (this.#current === undefined) {
      const current = this.#client.getLogInfo().then(
        (info) => {
          // Listed shards give the offset, rotations included, as they do the monitor's
          // (monitor-log/rekor-v1-source.ts); the configured one serves a log that lists none.
          const listed = info.inactiveShards.length > 0;
          this.#offset = listed ? info.indexOffset : (this.#configuredOffset ?? info.indexOffset);
          this.#offsetKnown = listed || this.#configuredOffset !== undefined;
          this.#offsetConfigured = !listed && this.#configuredOffset !== undefined;
          this.#end = this.#offset + info.checkpoint.size;
          this.#shards = info.inactiveShards;
          return info.checkpoint;
        },
        (err: unknown) => {
          if (err instanceof LogIntegrityError) throw err;
          throw new DependencyError(
            'rekor',
            `reading the log's checkpoint failed: ${(err as Error).message}`,
            {},
            err,
          );
        },
      );
      this.#current = current;
      current.catch(() => {
        if (this.#current === current) this.#current = undefined;
      });
    }
    return this.#current;
  }

  /**
   * Why an entry cannot be proven, found before it is read (a frozen shard without a verified head);
   * a DependencyError as #treeHolding throws one. A checkpoint that cannot be had is left to the
   * read, which judges it as before.
   */
  async #unprovable(index: number): Promise<string | undefined> {
    let current: VerifiedCheckpoint;
    try {
      current = await this.#checkpoint();
    } catch {
      return undefined;
    }
    try {
      this.#treeHolding(index, current);
      return undefined;
    } catch (err) {
      if (err instanceof LogIntegrityError) return err.message;
      throw err;
    }
  }

  /**
   * The signed tree an entry at `index` is proven in: the pass's checkpoint, or for an entry before
   * its tree (a sharded log that rotated since the entry was logged) the final head of the frozen
   * shard holding it, as the log info lists it; with the global log index of that tree's first
   * entry, which places the entry in it. A shard whose head does not verify under the log's key (the
   * only key trusted for the log) proves nothing, and the log says the entry is there:
   * LogIntegrityError, so the signature is not called valid on the log's word alone.
   */
  #treeHolding(index: number, current: VerifiedCheckpoint): HoldingTree {
    if (index >= this.#offset) {
      return {
        tree: current,
        indexOffset: this.#offset,
        known: this.#offsetKnown,
        configured: this.#offsetConfigured,
      };
    }
    const shard = this.#shards.find((s) => index >= s.indexOffset && index < s.indexOffset + s.treeSize);
    if (shard?.checkpoint !== undefined) {
      return { tree: shard.checkpoint, indexOffset: shard.indexOffset, known: true, configured: false };
    }
    if (shard === undefined) {
      // Below a configured offset, that offset is as likely wrong as the entry: retried, not judged.
      const configured = this.#shards.length === 0 && this.#configuredOffset !== undefined;
      throw new DependencyError(
        'rekor',
        `log entry ${index} is before the log's tree (its first entry at log index ${this.#offset}${configured ? ', as indexOffset is configured' : ''}), in no shard its info lists`,
        { logIndex: index, indexOffset: this.#offset },
      );
    }
    throw new LogIntegrityError(
      'unprovable-shard',
      `log entry ${index} is in the frozen shard "${shard.origin ?? 'unnamed'}", in which nothing can be proven: ${shard.unverified ?? 'its listing has no verified tree head'}`,
      { logIndex: index, indexOffset: shard.indexOffset },
    );
  }

  /**
   * Verifies `entry` (its signed entry timestamp, its inclusion proof) and proves it included in the
   * tree holding it, `current` (the pass's checkpoint or a frozen shard's final head): its proof is
   * for that tree, or for another (the log grew since, or a replica answered from an older tree)
   * proven consistent with it, and places it where its log index does (#place). The tree it is now
   * proven in: the larger of the two. LogIntegrityError otherwise.
   */
  async #verifyAgainst(entry: LogEntry, index: number, holding: HoldingTree): Promise<ProvenTree> {
    const current = holding.tree;
    const proof = entry.verification?.inclusionProof;
    const origin = originOf(proof?.checkpoint);
    if (origin !== undefined && origin !== current.origin) {
      // Proven in another tree than the log's info placed it in. Beyond the pass's checkpoint that
      // is a rotation since the pass read the info (asked again by the next pass); within it, the
      // log contradicting itself.
      if (index >= this.#end) {
        throw new DependencyError(
          'rekor',
          `log entry ${index} is proven in tree "${origin}", not in "${current.origin}" of the pass's log info: the log moved to another tree during the pass`,
          { logIndex: index },
        );
      }
      throw new LogIntegrityError(
        'wrong-origin',
        `log entry ${index} is proven in tree "${origin}", while the log's info places it in "${current.origin}"`,
        { logIndex: index },
      );
    }
    if (proof?.treeSize === current.size) {
      // Proven to the pass's checkpoint itself: the entry's own checkpoint need not be verified.
      this.#client.verifyEntry(entry, index, current);
      this.#place(entry, index, holding);
      return treeOf(current);
    }
    // The proof and its signed checkpoint are there and agree (verifyEntry); that tree and the
    // pass's checkpoint must be one history.
    this.#client.verifyEntry(entry, index);
    this.#place(entry, index, holding);
    const proven = treeOf(parseCheckpoint(proof!.checkpoint!).checkpoint);
    await this.#consistent(current, proven, { logIndex: index });
    return proven.size > current.size ? proven : treeOf(current);
  }

  /**
   * That `entry`'s verified proof places it where its log index does in `holding`'s tree (placed).
   * A tree whose first log index is known (the log info lists shards, or an offset is configured for
   * a log that lists none) is held to it. Otherwise the tree may start at an offset the info does
   * not list, which cannot be known here: the one an entry's proof implies (its log index less the
   * proof's index) is taken, if not negative, and every other entry proven in that tree this pass
   * must imply the same. The trade-off: taking 0 (as the monitor does without a configured offset)
   * would refuse every honest entry of a log numbered from an unlisted offset, while the inference
   * catches a misplaced entry (a proof of its body at another leaf) only as inconsistent with
   * another entry of its tree in the same pass: one re-read alone in its tree passes, and when the
   * first re-read is the misplaced one, the honest ones after it are refused instead. Hence a
   * configured offset, where there is one, and the inference only without. A proof that disagrees
   * with a configured offset is a DependencyError naming both, not a verdict: the setting may be
   * what is wrong, so the tag's last verdict stands (and goes stale, alerted, if it lasts) rather
   * than every honest entry being judged `invalid` with an incident only an operator closes.
   * LogIntegrityError 'wrong-index' otherwise.
   */
  #place(entry: LogEntry, index: number, holding: HoldingTree): void {
    const origin = holding.tree.origin;
    const given = entry.verification?.inclusionProof?.logIndex;
    if (holding.configured && given !== index - holding.indexOffset) {
      throw new DependencyError(
        'rekor',
        `log entry ${index} is proven at index ${given} of tree "${origin}", not at its index ${index - holding.indexOffset} under the configured indexOffset ${holding.indexOffset} (monitor.logs[].indexOffset): the setting is wrong, or the log misplaced the entry; its verdict waits`,
        { logIndex: index, indexOffset: holding.indexOffset, proofTreeIndex: given },
      );
    }
    // Known; or no proof index, or one beyond the entry's log index: at no offset (placed refuses it).
    if (holding.known || typeof given !== 'number' || given > index) {
      placed(entry, index, holding.indexOffset, origin);
      return;
    }
    const implied = index - given;
    const first = this.#implied.get(origin);
    if (first === undefined) {
      this.#implied.set(origin, { offset: implied, index });
      return;
    }
    if (first.offset === implied) return;
    throw new LogIntegrityError(
      'wrong-index',
      `log entry ${index} is proven at index ${given} of tree "${origin}", not at its index ${index - first.offset} in that tree, whose first entry is log index ${first.offset} as log entry ${first.index} is proven (this proof makes it log index ${implied})`,
      {
        logIndex: index,
        indexOffset: first.offset,
        impliedIndexOffset: implied,
        offsetFromLogIndex: first.index,
        treeIndex: index - first.offset,
        proofTreeIndex: given,
      },
    );
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
      // Retried (network errors, 5xx, 429 with its Retry-After) as the log client's own reads are:
      // a failed batch leaves its digests without a verdict for the pass.
      const url = `${this.#baseUrl}/api/v1/log/entries/retrieve`;
      const res = await request(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ logIndexes: batch.map((b) => b.index) }),
        },
        { timeoutMs: 15_000, retries: RETRIES, fetch: this.#fetch },
      );
      // Bounded as the log client's reads are: a gzip bomb must not take the pass's 256 MiB.
      const list = await readJson(res, retrievedEntriesSchema, {
        what: 'retrieved entries',
        url,
        limit: V1_RETRIEVED_ENTRIES_MAX_BYTES,
        maxContainers: V1_RETRIEVED_ENTRIES_MAX_CONTAINERS,
        details: { logIndexes: batch.map((b) => b.index) },
      });
      entries = list.flatMap((m) => Object.entries(m).map(([uuid, e]) => ({ ...(e as RekorV1Entry), uuid })));
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
      const failure = err as LogIntegrityError | DependencyError;
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
    let tree: HoldingTree;
    try {
      tree = this.#treeHolding(b.index, current);
    } catch (err) {
      this.#results.delete(b.index);
      b.settle(err as DependencyError);
      return;
    }
    const entry = entries.find((e) => e.logIndex === b.index);
    if (entry === undefined) {
      // Missing from a tree its signed checkpoint says holds it (the pass's, or a frozen shard's
      // final one): the log lost it. Beyond the pass's checkpoint (signed since the pass read it,
      // or the log answers from a lagging view) the log has made no claim about it yet: asked
      // again, by the next pass if need be.
      if (b.index < this.#end) {
        b.settle(new Error(`log entry ${b.index} is not in the log`));
      } else {
        this.#results.delete(b.index);
        b.settle(
          new DependencyError(
            'rekor',
            `log entry ${b.index} was not served, and is beyond the log's checkpoint of size ${current.size}${this.#offset > 0 ? ` (its first entry at log index ${this.#offset})` : ''}`,
            { logIndex: b.index, treeSize: current.size, indexOffset: this.#offset },
          ),
        );
      }
      return;
    }
    try {
      b.settle({
        bodyHash: crypto.createHash('sha256').update(Buffer.from(entry.body, 'base64')).digest('hex'),
        integratedTime: entry.integratedTime,
        tree: await this.#verifyAgainst(entry, b.index, tree),
      });
    } catch (err) {
      if (err instanceof DependencyError) this.#results.delete(b.index);
      b.settle(err as Error);
    }
  }
}

/**
 * That `entry`'s inclusion proof (verified: its leaf climbs to the root from the proof's own leaf
 * index) places it where its log index says: that index less `indexOffset`, the global log index of
 * the first entry of the tree it is proven in (0 but on a sharded log or one configured with an
 * offset; #place checks a tree whose offset is not known otherwise). The body is proven included either way; a proof for the same body at another leaf (a duplicate, or an entry the log misplaced)
 * would otherwise stand for the entry at this index. LogIntegrityError 'wrong-index', as the
 * monitor's scan refuses such a proof (monitor-log/rekor-v1-source.ts).
 */
function placed(entry: LogEntry, index: number, indexOffset: number, origin: string): void {
  const given = entry.verification?.inclusionProof?.logIndex;
  const expected = index - indexOffset;
  if (given === expected) return;
  const first = indexOffset > 0 ? `, whose first entry is log index ${indexOffset}` : '';
  throw new LogIntegrityError(
    'wrong-index',
    `log entry ${index} is proven at index ${given} of tree "${origin}", not at its index ${expected} in that tree${first}`,
    { logIndex: index, indexOffset, treeIndex: expected, proofTreeIndex: given },
  );
}

/** The origin of a checkpoint note, if it can be read (verifyEntry judges one that cannot). */
function originOf(note: string | undefined): string | undefined {
  if (note === undefined) return undefined;
  try {
    return parseCheckpoint(note).checkpoint.origin;
  } catch {
    return undefined;
  }
}

/** Failures of a consistency proof itself; other LogIntegrityErrors (an unreadable reply) are not. */
const PROOF_FAILURES = new Set(['inconsistent', 'shrunk']);

const HEX_ROOT = /^[0-9a-f]{64}$/;

/** A tree as recorded: the size, lower-case hex root and origin of a checkpoint. */
function treeOf(checkpoint: { size: number; rootHash: Buffer; origin: string }): ProvenTree {
  return { size: checkpoint.size, rootHash: checkpoint.rootHash.toString('hex'), origin: checkpoint.origin };
}

function resultOf(tree: ProvenTree): Pick<InclusionResult, 'treeSize' | 'rootHash' | 'origin'> {
  return {
    treeSize: tree.size,
    rootHash: tree.rootHash,
    ...(tree.origin !== undefined ? { origin: tree.origin } : {}),
  };
}

/**
 * The tree evidence was proven in by an earlier pass, if it records one that can be: a record
 * without a root (from before roots were kept) or with a malformed one is read and proven afresh.
 */
function recordedTree(evidence: LogEvidence): ProvenTree | undefined {
  const size = evidence.provenAtTreeSize;
  const root = evidence.provenAtRoot?.toLowerCase();
  if (size === undefined || root === undefined) return undefined;
  if (!Number.isSafeInteger(size) || size < 1 || !HEX_ROOT.test(root)) return undefined;
  const origin = evidence.provenAtOrigin;
  return { size, rootHash: root, ...(typeof origin === 'string' && origin !== '' ? { origin } : {}) };
}
