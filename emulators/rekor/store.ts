import {
  closeSync,
  existsSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { hashChildren, hashLeaf } from '../../functions/tlog/merkle/hash.ts';
import {
  consistencyProof,
  inclusionProof,
  type NodeReader,
  rootAt,
} from '../../functions/tlog/merkle/proofs.ts';
import { HashRow } from './hash-rows.ts';

/** What the log keeps about one entry besides its body. */
export interface EntryMeta {
  integratedTime: number;
  /** Search keys: `sha256:<hex>` artifact digests and `key:<sha256 of SPKI>` verifier keys. */
  keys: string[];
}

export interface StoredEntry extends EntryMeta {
  logIndex: number;
  body: Buffer;
  leafHash: Buffer;
}

/**
 * An append-only Merkle log on disk. entries.log holds one JSON line per entry (the source of
 * truth); levels/<L>.bin holds the perfect-subtree hashes of each level so appends and proofs are
 * O(log n) and a restart does not rehash the tree. In memory: the levels (32 bytes a node), the
 * offset of each entry line, and the dedup and search maps.
 */
export class LogStore implements NodeReader {
  private readonly dir: string;
  private readonly rows: HashRow[] = [];
  private readonly entriesFd: number;
  private offsets = new Float64Array(1024);
  private lengths = new Uint32Array(1024);
  private count = 0;
  private endOffset = 0;
  private readonly byLeaf = new Map<string, number>();
  private readonly byKey = new Map<string, number[]>();

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(join(dir, 'levels'), { recursive: true });
    this.entriesFd = openSync(join(dir, 'entries.log'), 'a+');
    this.load();
  }

  get size(): number {
    return this.count;
  }

  node(level: number, index: number): Uint8Array {
    const row = this.rows[level];
    if (row === undefined) throw new RangeError(`no level ${level}`);
    return row.get(index);
  }

  root(size = this.count): Uint8Array {
    return rootAt(this, size);
  }

  inclusionProof(index: number, size = this.count): Uint8Array[] {
    return inclusionProof(this, index, size);
  }

  consistencyProof(size1: number, size2 = this.count): Uint8Array[] {
    return consistencyProof(this, size1, size2);
  }

  indexOfLeaf(leafHash: Uint8Array): number | undefined {
    return this.byLeaf.get(Buffer.from(leafHash).toString('hex'));
  }

  search(key: string): number[] {
    return this.byKey.get(key) ?? [];
  }

  /** Appends one entry; O(log n) hashing plus two small writes. Returns its index. */
  append(body: Buffer, meta: EntryMeta): StoredEntry {
    const leafHash = hashLeaf(body);
    const existing = this.indexOfLeaf(leafHash);
    if (existing !== undefined) throw new Error(`duplicate leaf at ${existing}`);
    const line = Buffer.from(
      `${JSON.stringify({ b: body.toString('base64'), t: meta.integratedTime, k: meta.keys })}\n`,
    );
    writeSync(this.entriesFd, line);
    const logIndex = this.count;
    this.remember(logIndex, this.endOffset, line.length, leafHash, meta.keys);
    this.endOffset += line.length;
    this.appendLeafHash(leafHash);
    return { logIndex, body, leafHash, ...meta };
  }

  get(logIndex: number): StoredEntry | undefined {
    if (!Number.isSafeInteger(logIndex) || logIndex < 0 || logIndex >= this.count) return undefined;
    const len = this.lengths[logIndex]!;
    const buf = Buffer.alloc(len);
    readSync(this.entriesFd, buf, 0, len, this.offsets[logIndex]!);
    const rec = JSON.parse(buf.toString('utf8')) as { b: string; t: number; k: string[] };
    const body = Buffer.from(rec.b, 'base64');
    return { logIndex, body, leafHash: this.rows[0]!.get(logIndex), integratedTime: rec.t, keys: rec.k };
  }

  close(): void {
    for (const row of this.rows) row.close();
    closeSync(this.entriesFd);
  }

  private appendLeafHash(leafHash: Uint8Array): void {
    this.row(0).push(leafHash);
    let level = 0;
    let index = this.row(0).length - 1;
    while (index % 2 === 1) {
      const row = this.row(level);
      const parent = hashChildren(row.get(index - 1), row.get(index));
      level++;
      this.row(level).push(parent);
      index = (index - 1) / 2;
    }
  }

  private row(level: number): HashRow {
    while (this.rows.length <= level)
      this.rows.push(new HashRow(join(this.dir, 'levels', `${this.rows.length}.bin`)));
    return this.rows[level]!;
  }

  private remember(
    index: number,
    offset: number,
    length: number,
    leafHash: Uint8Array,
    keys: string[],
  ): void {
    if (index >= this.offsets.length) {
      const offsets = new Float64Array(this.offsets.length * 2);
      offsets.set(this.offsets);
      this.offsets = offsets;
      const lengths = new Uint32Array(this.lengths.length * 2);
      lengths.set(this.lengths);
      this.lengths = lengths;
    }
    this.offsets[index] = offset;
    this.lengths[index] = length;
    this.count = index + 1;
    this.byLeaf.set(Buffer.from(leafHash).toString('hex'), index);
    for (const key of keys) {
      const list = this.byKey.get(key);
      if (list === undefined) this.byKey.set(key, [index]);
      else list.push(index);
    }
  }

  /** Replays entries.log; trusts the level files only as far as they agree with it. */
  private load(): void {
    const total = fstatSync(this.entriesFd).size;
    const chunk = Buffer.alloc(16 * 1024 * 1024);
    let carry = Buffer.alloc(0);
    let pos = 0;
    const leafHashes: Buffer[] = [];
    while (pos < total) {
      const n = readSync(this.entriesFd, chunk, 0, chunk.length, pos);
      if (n === 0) break;
      let data = Buffer.concat([carry, chunk.subarray(0, n)]);
      const base = pos - carry.length;
      pos += n;
      let start = 0;
      for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
        const rec = JSON.parse(data.toString('utf8', start, nl)) as { b: string; k: string[] };
        const leaf = hashLeaf(Buffer.from(rec.b, 'base64'));
        leafHashes.push(leaf);
        this.remember(this.count, base + start, nl + 1 - start, leaf, rec.k);
        start = nl + 1;
      }
      data = data.subarray(start);
      carry = Buffer.from(data);
    }
    this.endOffset = total - carry.length;
    if (carry.length > 0) ftruncateSync(this.entriesFd, this.endOffset); // torn last line
    // Level files: keep them if every level holds exactly the nodes this many leaves make.
    let consistent = true;
    for (let level = 0, n = this.count; n > 0 || level === 0; level++, n = Math.floor(n / 2)) {
      const path = join(this.dir, 'levels', `${level}.bin`);
      if (!existsSync(path) && n > 0) consistent = false;
      const row = this.row(level);
      row.truncate(n);
      if (row.length !== n) consistent = false;
      if (n === 0) break;
    }
    if (
      consistent &&
      this.count > 0 &&
      !Buffer.from(this.row(0).get(this.count - 1)).equals(leafHashes.at(-1)!)
    ) {
      consistent = false;
    }
    if (!consistent) {
      for (const row of this.rows) row.truncate(0);
      for (const leaf of leafHashes) this.appendLeafHash(leaf);
    }
  }
}
