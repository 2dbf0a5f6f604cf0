/**
 * The Rekor v1 log as a sequence of shards (Trillian trees), as the public log runs it: one active
 * tree takes new entries; a rotation freezes it and starts another, whose entries are numbered on
 * from the frozen ones (Rekor's virtual log index). Log info lists the frozen shards, each with
 * its final signed tree head; entries are found by global index or UUID in whichever shard holds
 * them, and a consistency proof is for the tree its `treeID` names (the active one by default).
 *
 * The trees are kept on disk: the first in the data directory itself, each later one under
 * `v1-trees/<tree ID>`, listed in `v1-shards.json`, so a restarted emulator serves the same shards.
 */
import { createHash, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatCheckpointBody } from '../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../functions/tlog/checkpoint/verify.ts';
import { RekorHttpError } from './errors.ts';
import type { FaultController } from './faults.ts';
import { RekorV1Log } from './log-v1.ts';
import { LogStore } from './store.ts';

export interface RekorV1ShardsOptions {
  dataDir: string;
  key: KeyObject;
  /** Tree ID of the first tree; each rotation's tree has the next. */
  treeId: bigint;
  hostname: string;
  faults: FaultController;
  now?: () => number;
  /**
   * A frozen shard of this many entries listed before every tree, whose entries are not kept (asked
   * for, they are not found): a log as after a rotation, without filling the shard first.
   */
  listedShardSize?: number;
}

type Entry = { uuid: string; entry: Record<string, unknown> };

interface TreeRecord {
  treeId: string;
  /** Relative to the data directory; '' is the directory itself. */
  dir: string;
}

const SHARDS_FILE = 'v1-shards.json';

export class RekorV1Shards {
  readonly #opts: RekorV1ShardsOptions;
  /** Real trees, oldest first; the last is the active one. */
  readonly #trees: RekorV1Log[] = [];
  readonly #stores: LogStore[] = [];
  readonly #records: TreeRecord[];
  readonly #listed: { treeId: bigint; treeSize: number } | undefined;

  constructor(opts: RekorV1ShardsOptions) {
    this.#opts = opts;
    this.#listed =
      opts.listedShardSize !== undefined
        ? { treeId: opts.treeId - 1n, treeSize: opts.listedShardSize }
        : undefined;
    const file = join(opts.dataDir, SHARDS_FILE);
    this.#records = existsSync(file)
      ? (JSON.parse(readFileSync(file, 'utf8')) as { trees: TreeRecord[] }).trees
      : [{ treeId: String(opts.treeId), dir: '' }];
    for (const record of this.#records) this.#open(record);
  }

  get active(): RekorV1Log {
    return this.#trees.at(-1)!;
  }

  /** Freezes the active tree and starts the next; returns the frozen tree's ID and size. */
  rotate(): { frozenTreeId: string; frozenTreeSize: number; treeId: string } {
    const frozen = this.active;
    if (this.#opts.faults.current.shrinkBy !== undefined)
      throw new RekorHttpError(
        409,
        'no rotation while a shrink fault is on: the frozen tree would keep the entries it hides',
      );
    const record = { treeId: String(frozen.treeId + 1n), dir: join('v1-trees', String(frozen.treeId + 1n)) };
    this.#open(record);
    this.#records.push(record);
    const file = join(this.#opts.dataDir, SHARDS_FILE);
    writeFileSync(`${file}.tmp`, `${JSON.stringify({ trees: this.#records }, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    return { frozenTreeId: String(frozen.treeId), frozenTreeSize: frozen.size, treeId: record.treeId };
  }

  #open(record: TreeRecord): void {
    const previous = this.#trees.at(-1);
    previous?.freeze();
    const dir = join(this.#opts.dataDir, record.dir);
    mkdirSync(dir, { recursive: true });
    const store = new LogStore(dir);
    this.#stores.push(store);
    this.#trees.push(
      new RekorV1Log({
        store,
        key: this.#opts.key,
        treeId: BigInt(record.treeId),
        hostname: this.#opts.hostname,
        faults: this.#opts.faults,
        ...(this.#opts.now !== undefined ? { now: this.#opts.now } : {}),
        indexOffset:
          previous !== undefined ? previous.indexOffset + previous.size : (this.#listed?.treeSize ?? 0),
      }),
    );
  }

  create(proposed: unknown): Entry {
    return this.active.create(proposed);
  }

  byIndex(logIndex: number): Entry | undefined {
    return this.#trees.find((tree) => tree.holds(logIndex))?.byIndex(logIndex);
  }

  /**
   * An entry ID (tree ID, then UUID) is looked up in the tree it names; a bare UUID in the active
   * tree, then the frozen ones, newest first, as Rekor does.
   */
  byUuid(uuid: string): Entry | undefined {
    const m = /^([0-9a-f]{16})?([0-9a-f]{64})$/.exec(uuid.toLowerCase());
    if (m === null) throw new RekorHttpError(400, `invalid entry UUID ${uuid}`);
    const leaf = Buffer.from(m[2]!, 'hex');
    const named = m[1] !== undefined ? BigInt(`0x${m[1]}`) : undefined;
    for (const tree of [...this.#trees].reverse()) {
      if (named !== undefined && tree.treeId !== named) continue;
      const found = tree.byLeaf(leaf);
      if (found !== undefined) return found;
    }
    return undefined;
  }

  /** Global log indexes of the entries with a search key, in every tree. */
  search(key: string): Entry[] {
    // An entry beyond the served size (a shrink fault) is not found, as by index.
    return this.#trees.flatMap((tree) => tree.search(key).flatMap((i) => tree.byIndex(i) ?? []));
  }

  consistency(firstSize: number, lastSize: number, treeId?: string): Record<string, unknown> {
    if (treeId === undefined) return this.active.consistency(firstSize, lastSize);
    const tree = this.#trees.find((t) => String(t.treeId) === treeId);
    if (tree === undefined) throw new RekorHttpError(400, `no tree ${treeId} is served here`);
    return tree.consistency(firstSize, lastSize);
  }

  /** The active tree's info and the frozen shards before it, oldest first (openapi LogInfo). */
  logInfo(): Record<string, unknown> {
    const frozen = this.#trees.slice(0, -1).map((tree) => tree.logInfo());
    return {
      ...this.active.logInfo(),
      inactiveShards: [...(this.#listed !== undefined ? [this.#listedInfo(this.#listed)] : []), ...frozen],
    };
  }

  /** The listed-only shard's info: a tree of its size under a root of its own, signed by the log key. */
  #listedInfo(shard: { treeId: bigint; treeSize: number }): Record<string, unknown> {
    const rootHash = createHash('sha256').update(`frozen shard ${shard.treeId}`).digest();
    const origin = `${this.#opts.hostname} - ${shard.treeId}`;
    const body = formatCheckpointBody({ origin, size: shard.treeSize, rootHash, extensions: [] });
    return {
      rootHash: rootHash.toString('hex'),
      treeSize: shard.treeSize,
      signedTreeHead: signNote(body, rekorV1NoteSigner(this.#opts.hostname, this.#opts.key)),
      treeID: String(shard.treeId),
    };
  }

  close(): void {
    for (const store of this.#stores) store.close();
  }
}
