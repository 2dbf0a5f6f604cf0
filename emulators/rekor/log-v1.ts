import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { formatCheckpointBody } from '../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorLogId, rekorV1NoteSigner } from '../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../functions/tlog/checkpoint/verify.ts';
import { canonicalJson } from '../../functions/tlog/entries/canonical.ts';
import { RekorHttpError } from './errors.ts';
import type { FaultController } from './faults.ts';
import { acceptProposedEntry } from './kinds.ts';
import type { LogStore, StoredEntry } from './store.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

function corrupt(hashes: string[]): string[] {
  if (hashes.length === 0) return [hex(createHash('sha256').update('injected').digest())];
  const first = Buffer.from(hashes[0]!, 'hex');
  first[0] = first[0]! ^ 0xff;
  return [first.toString('hex'), ...hashes.slice(1)];
}

export interface V1LogOptions {
  store: LogStore;
  key: KeyObject;
  treeId: bigint;
  hostname: string;
  faults: FaultController;
  now?: () => number;
  /**
   * Global log index of this tree's first entry: the sizes of the shards before it, as on a Rekor
   * that rotated its shard (the public one has). Entries are numbered across shards, while
   * checkpoints and inclusion proofs count within this tree (shards-v1.ts lists the shards).
   */
  indexOffset?: number;
}

/**
 * One Rekor v1 tree (a shard) over a LogStore: entries, SETs, checkpoints and proofs in the v1 wire
 * shape. A frozen shard is one no longer appended to; it serves its entries and proofs as before.
 */
export class RekorV1Log {
  readonly logId: Buffer;
  private readonly opts: V1LogOptions;
  private readonly rogueKey: KeyObject = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  private cached: { size: number; rootHash: Buffer; note: string } | undefined;

  /** Global log index of this tree's first entry. */
  readonly indexOffset: number;

  constructor(opts: V1LogOptions) {
    this.opts = opts;
    this.logId = rekorLogId(opts.key);
    this.indexOffset = opts.indexOffset ?? 0;
  }

  get treeId(): bigint {
    return this.opts.treeId;
  }

  /** Entries in this tree, as served. */
  get size(): number {
    return this.servedSize();
  }

  /** Whether a global log index falls in this tree. */
  holds(logIndex: number): boolean {
    return logIndex >= this.indexOffset && logIndex < this.indexOffset + this.servedSize();
  }

  /** Global log indexes of the entries with a search key (`sha256:<hex>`, `key:<hex>`). */
  search(key: string): number[] {
    return this.opts.store.search(key).map((local) => local + this.indexOffset);
  }

  get origin(): string {
    return `${this.opts.hostname} - ${this.opts.treeId}`;
  }

  /** The UUID Rekor returns: 16 hex digits of tree ID, then the leaf hash. */
  uuid(leafHash: Uint8Array): string {
    return this.opts.treeId.toString(16).padStart(16, '0') + hex(leafHash);
  }

  #frozen = false;

  /** No more entries: a rotation froze this tree. A shrink fault no longer applies to it. */
  freeze(): void {
    this.#frozen = true;
  }

  /** Tree size as served, after any shrink fault (of the active tree). */
  private servedSize(): number {
    if (this.#frozen) return this.opts.store.size;
    const shrink = this.opts.faults.current.shrinkBy ?? 0;
    return Math.max(0, this.opts.store.size - shrink);
  }

  checkpoint(size = this.servedSize()): { note: string; rootHash: Buffer } {
    const faults = this.opts.faults.current;
    // Every served entry carries the checkpoint: an honest one is computed once per tree size.
    if (this.cached?.size === size && !faults.splitView && !faults.wrongCheckpointKey) {
      return { note: this.cached.note, rootHash: this.cached.rootHash };
    }
    let root = Buffer.from(this.opts.store.root(size));
    if (faults.splitView) root = createHash('sha256').update('fork').update(root).digest();
    const body = formatCheckpointBody({ origin: this.origin, size, rootHash: root, extensions: [] });
    if (faults.wrongCheckpointKey) {
      return { note: signNote(body, rekorV1NoteSigner(this.opts.hostname, this.rogueKey)), rootHash: root };
    }
    if (faults.splitView)
      return { note: signNote(body, rekorV1NoteSigner(this.opts.hostname, this.opts.key)), rootHash: root };
    this.cached = {
      size,
      rootHash: root,
      note: signNote(body, rekorV1NoteSigner(this.opts.hostname, this.opts.key)),
    };
    return { note: this.cached.note, rootHash: root };
  }

  logInfo(): Record<string, unknown> {
    const size = this.servedSize();
    const { note, rootHash } = this.checkpoint(size);
    return {
      rootHash: hex(rootHash),
      treeSize: size,
      signedTreeHead: note,
      treeID: String(this.opts.treeId),
    };
  }

  create(proposed: unknown): { uuid: string; entry: Record<string, unknown> } {
    const accepted = acceptProposedEntry(proposed);
    const leaf = createHash('sha256')
      .update(Buffer.from([0]))
      .update(accepted.body)
      .digest();
    const existing = this.opts.store.indexOfLeaf(leaf);
    if (existing !== undefined) {
      const uuid = this.uuid(leaf);
      throw new RekorHttpError(
        409,
        `An equivalent entry already exists in the transparency log with UUID ${uuid}`,
        {
          Location: `/api/v1/log/entries/${uuid}`,
        },
      );
    }
    const now = this.opts.now?.() ?? Date.now();
    const stored = this.opts.store.append(accepted.body, {
      integratedTime: Math.floor(now / 1000),
      keys: accepted.keys,
    });
    return this.render(stored);
  }

  /** The entry at a global log index (this tree's entries only). */
  byIndex(logIndex: number): { uuid: string; entry: Record<string, unknown> } | undefined {
    if (!this.holds(logIndex)) return undefined;
    const stored = this.opts.store.get(logIndex - this.indexOffset);
    return stored === undefined ? undefined : this.render(stored);
  }

  /** The entry whose leaf hash this is, if this tree holds it. */
  byLeaf(leafHash: Buffer): { uuid: string; entry: Record<string, unknown> } | undefined {
    const index = this.opts.store.indexOfLeaf(leafHash);
    return index === undefined ? undefined : this.byIndex(index + this.indexOffset);
  }

  /** A consistency proof between two sizes of this tree. */
  consistency(firstSize: number, lastSize: number): Record<string, unknown> {
    const size = this.servedSize();
    if (lastSize > size)
      throw new RekorHttpError(400, `lastSize ${lastSize} is beyond the tree size ${size}`);
    if (firstSize < 1 || firstSize > lastSize)
      throw new RekorHttpError(400, 'firstSize must be in [1, lastSize]');
    let hashes = this.opts.store.consistencyProof(firstSize, lastSize).map(hex);
    if (this.opts.faults.current.wrongConsistencyProof) hashes = corrupt(hashes);
    return { rootHash: hex(this.opts.store.root(lastSize)), hashes };
  }

  /** Signed entry timestamp: ECDSA over canonical JSON of {body, integratedTime, logID, logIndex}. */
  private signedEntryTimestamp(body: string, integratedTime: number, logIndex: number): string {
    const payload = canonicalJson({ body, integratedTime, logID: hex(this.logId), logIndex });
    return sign('sha256', Buffer.from(payload), this.opts.key).toString('base64');
  }

  private render(stored: StoredEntry): { uuid: string; entry: Record<string, unknown> } {
    const faults = this.opts.faults.current;
    const size = Math.max(this.servedSize(), stored.logIndex + 1);
    const body = stored.body.toString('base64');
    const logIndex = stored.logIndex + this.indexOffset;
    const { note, rootHash } = this.checkpoint(size);
    let hashes = this.opts.store.inclusionProof(stored.logIndex, size).map(hex);
    if (faults.wrongInclusionProof) hashes = corrupt(hashes);
    let served = body;
    if (faults.rewriteEntry === logIndex) {
      served = Buffer.from(stored.body.toString('utf8').replace(/"value":"[0-9a-f]/, '"value":"f')).toString(
        'base64',
      );
      if (served === body) served = Buffer.from(`${stored.body.toString('utf8')} `).toString('base64');
    }
    const entry = {
      body: served,
      integratedTime:
        faults.backdateEntry === logIndex ? stored.integratedTime - 86_400 : stored.integratedTime,
      logID: hex(this.logId),
      logIndex,
      verification: {
        inclusionProof: {
          checkpoint: note,
          hashes,
          logIndex: stored.logIndex,
          rootHash: hex(rootHash),
          treeSize: size,
        },
        signedEntryTimestamp: this.signedEntryTimestamp(served, stored.integratedTime, logIndex),
      },
    };
    return { uuid: this.uuid(stored.leafHash), entry };
  }
}
