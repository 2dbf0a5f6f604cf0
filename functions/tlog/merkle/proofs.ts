import { MerkleProofError } from './errors.ts';
import { EMPTY_ROOT, hashChildren } from './hash.ts';

/**
 * Read access to the perfect subtrees of a tree: `node(level, index)` is the hash of leaves
 * [index * 2^level, (index + 1) * 2^level). A store that keeps those (levels of node hashes, as
 * tlog-tiles does) can build any root or proof with O(log n) reads, never rehashing the tree.
 */
export interface NodeReader {
  node(level: number, index: number): Uint8Array;
}

/** Largest power of two strictly below n (n >= 2). */
function splitPoint(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function log2Exact(n: number): number {
  let level = 0;
  let m = n;
  while (m > 1) {
    if (m % 2 === 1) return -1;
    m /= 2;
    level++;
  }
  return level;
}

/** MTH(D[start:end]) per RFC 6962 §2.1, using stored perfect subtrees wherever they fit. */
export function subtreeRoot(reader: NodeReader, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n <= 0) return EMPTY_ROOT;
  const level = log2Exact(n);
  if (level >= 0 && start % n === 0) return reader.node(level, start / n);
  const k = splitPoint(n);
  return hashChildren(reader.node(log2Exact(k), start / k), subtreeRoot(reader, start + k, end));
}

export function rootAt(reader: NodeReader, size: number): Uint8Array {
  return subtreeRoot(reader, 0, size);
}

/** RFC 6962 §2.1.1 PATH(m, D[0:size]), leaf-to-root order as RFC 9162 verifiers expect. */
export function inclusionProof(reader: NodeReader, index: number, size: number): Uint8Array[] {
  if (index < 0 || index >= size) {
    throw new MerkleProofError('index-out-of-range', `leaf index ${index} is not below tree size ${size}`);
  }
  const topDown: Uint8Array[] = [];
  let start = 0;
  let end = size;
  let m = index;
  while (end - start > 1) {
    const k = splitPoint(end - start);
    if (m < k) {
      topDown.push(subtreeRoot(reader, start + k, end));
      end = start + k;
    } else {
      topDown.push(subtreeRoot(reader, start, start + k));
      start += k;
      m -= k;
    }
  }
  return topDown.reverse();
}

/** RFC 6962 §2.1.2 PROOF(size1, D[0:size2]). */
export function consistencyProof(reader: NodeReader, size1: number, size2: number): Uint8Array[] {
  if (size1 < 0 || size1 > size2) {
    throw new MerkleProofError('bad-size', `no consistency proof from ${size1} to ${size2}`);
  }
  if (size1 === 0 || size1 === size2) return [];
  const topDown: Uint8Array[] = [];
  let start = 0;
  let end = size2;
  let m = size1;
  let complete = true;
  while (m !== end - start) {
    const k = splitPoint(end - start);
    if (m <= k) {
      topDown.push(subtreeRoot(reader, start + k, end));
      end = start + k;
    } else {
      topDown.push(subtreeRoot(reader, start, start + k));
      start += k;
      m -= k;
      complete = false;
    }
  }
  if (!complete) topDown.push(subtreeRoot(reader, start, end));
  return topDown.reverse();
}

/** Perfect-subtree levels of a small in-memory tree: for tests, checks and root-from-leaves. */
export class MemoryLevels implements NodeReader {
  readonly levels: Uint8Array[][] = [[]];

  constructor(leafHashes: Iterable<Uint8Array> = []) {
    for (const h of leafHashes) this.append(h);
  }

  get size(): number {
    return this.levels[0]!.length;
  }

  /** Adds a leaf hash and the perfect subtrees it completes: O(log n). */
  append(leafHash: Uint8Array): void {
    let level = 0;
    let index = this.levels[0]!.length;
    this.levels[0]!.push(leafHash);
    while (index % 2 === 1) {
      const row = this.levels[level]!;
      const parent = hashChildren(row[index - 1]!, row[index]!);
      level++;
      if (this.levels.length <= level) this.levels.push([]);
      this.levels[level]!.push(parent);
      index = (index - 1) / 2;
    }
  }

  node(level: number, index: number): Uint8Array {
    const h = this.levels[level]?.[index];
    if (h === undefined) throw new RangeError(`no node at level ${level} index ${index}`);
    return h;
  }
}

/** MTH over a list of leaf hashes. */
export function rootFromLeafHashes(leafHashes: readonly Uint8Array[]): Uint8Array {
  const levels = new MemoryLevels(leafHashes);
  return rootAt(levels, levels.size);
}
