import { MerkleProofError } from './errors.ts';
import { EMPTY_ROOT, HASH_SIZE, hashChildren } from './hash.ts';

// Tree sizes can pass 2^32, so bit tricks on JS numbers are off limits: use safe-integer arithmetic.
const isOdd = (n: number): boolean => n % 2 === 1;
const half = (n: number): number => Math.floor(n / 2);

function checkSize(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new MerkleProofError('bad-size', `${name} ${n} is not a tree size`);
}

function checkHash(name: string, h: Uint8Array): void {
  if (h.length !== HASH_SIZE) {
    throw new MerkleProofError('bad-hash-length', `${name} is ${h.length} bytes, want ${HASH_SIZE}`);
  }
}

/**
 * Interior nodes of one tree (size and root) that an earlier inclusion proof has already tied to
 * that root. Consecutive leaves share all but the lowest nodes of their paths, so a scan that
 * proves every entry of a range against one tree can stop each climb at the first node already
 * proven: about two hashes per entry instead of log2(size). A node is keyed by its level and its
 * index at that level (the state of the RFC 9162 walk), which names one subtree of a tree of
 * that size.
 */
export class ProvenNodes {
  readonly treeSize: number;
  readonly root: Buffer;
  /**
   * Each node's hash as a latin1 string, not the Buffer the climb made: that is a 32-byte view of
   * one of Node's 8 KiB pooled slabs, and a read keeps about two nodes per entry, so the views held
   * their slabs, which the entries' bodies and hashes had filled, until the read ended (a 30,000-entry
   * read: 130 MB more peak RSS).
   */
  private readonly nodes = new Map<string, string>();

  constructor(treeSize: number, root: Uint8Array) {
    checkSize('tree size', treeSize);
    checkHash('root', root);
    this.treeSize = treeSize;
    this.root = Buffer.from(root);
  }

  get size(): number {
    return this.nodes.size;
  }

  /** Whether `hash` is the node proven at (level, index); undefined if none is. */
  matches(level: number, index: number, hash: Buffer): boolean | undefined {
    const proven = this.nodes.get(`${level}:${index}`);
    return proven === undefined ? undefined : proven === hash.toString('latin1');
  }

  add(level: number, index: number, hash: Buffer): void {
    this.nodes.set(`${level}:${index}`, hash.toString('latin1'));
  }
}

/** An audit path: an array, or nodes handed out as the climb reaches them (counted all the same). */
export type ProofNodes = Iterable<Uint8Array> & { readonly length: number };

/**
 * RFC 9162 §2.1.3.2: recompute the root from a leaf hash and its audit path, and compare it with
 * `root`. Throws MerkleProofError on any mismatch. With `proven` (nodes of this same tree proven
 * earlier), the climb stops at the first proven node, which must hash the same, and the path must
 * still be as long as the walk's (a log serving proofs with nodes added or cut is noticed with the
 * shortcut as without it); the nodes this proof ties to the root are added to it.
 */
export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: ProofNodes,
  root: Uint8Array,
  proven?: ProvenNodes,
): void {
  checkHash('root', root);
  const mismatch = () =>
    new MerkleProofError(
      'root-mismatch',
      `inclusion proof for leaf ${leafIndex} of ${treeSize} gives another root`,
      { logIndex: leafIndex, treeSize },
    );
  if (proven !== undefined && (proven.treeSize !== treeSize || !proven.root.equals(root))) {
    throw new MerkleProofError('wrong-tree', `proven nodes are of another tree than size ${treeSize}`);
  }
  const climbed: Array<[number, number, Buffer]> = [];
  let known: boolean | undefined;
  const computed = climb(leafIndex, treeSize, leafHash, proof, (level, index, hash) => {
    const seen = proven?.matches(level, index, hash);
    if (seen !== undefined) {
      known = seen;
      return true;
    }
    if (proven !== undefined) climbed.push([level, index, hash]);
    return false;
  });
  if (known === false) throw mismatch();
  if (known === undefined && !computed.equals(Buffer.from(root))) throw mismatch();
  if (known === true) {
    const want = inclusionPathLength(leafIndex, treeSize);
    if (proof.length > want)
      throw new MerkleProofError('proof-too-long', 'inclusion proof has more nodes than the path');
    if (proof.length < want)
      throw new MerkleProofError('proof-too-short', 'inclusion proof has fewer nodes than the path');
  }
  for (const [level, index, hash] of climbed) proven!.add(level, index, hash);
}

/**
 * How many nodes the audit path of leaf `leafIndex` in a tree of `treeSize` holds: the steps of
 * the RFC 9162 §2.1.3.2 walk until `sn` is 0, each taking one node (transparency-dev/merkle's
 * inner + border). `leafIndex` must be below `treeSize`.
 */
export function inclusionPathLength(leafIndex: number, treeSize: number): number {
  let fn = leafIndex;
  let sn = treeSize - 1;
  let nodes = 0;
  while (sn !== 0) {
    if (fn === sn && !isOdd(fn)) {
      while (!isOdd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    }
    fn = half(fn);
    sn = half(sn);
    nodes++;
  }
  return nodes;
}

/** The root that an inclusion proof implies (RFC 9162 §2.1.3.2 steps 1-5). */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer {
  return climb(leafIndex, treeSize, leafHash, proof);
}

/**
 * The RFC 9162 walk. After each step `r` is the hash of the subtree at (level, index): the walk's
 * state, shifts so far and fn. `visit` may stop the walk early (returning true): the proof's
 * length is then left to the caller (verifyInclusion), the rest of the path having been checked by
 * whoever proved that node.
 */
function climb(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: Iterable<Uint8Array>,
  visit?: (level: number, index: number, hash: Buffer) => boolean,
): Buffer {
  checkSize('leaf index', leafIndex);
  checkSize('tree size', treeSize);
  if (leafIndex >= treeSize) {
    throw new MerkleProofError(
      'index-out-of-range',
      `leaf index ${leafIndex} is not below tree size ${treeSize}`,
    );
  }
  checkHash('leaf hash', leafHash);
  let fn = leafIndex;
  let sn = treeSize - 1;
  let level = 0;
  let r: Buffer = Buffer.from(leafHash);
  for (const p of proof) {
    checkHash('proof node', p);
    if (sn === 0)
      throw new MerkleProofError('proof-too-long', 'inclusion proof has more nodes than the path');
    if (isOdd(fn) || fn === sn) {
      r = hashChildren(p, r);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
          level++;
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
    level++;
    if (visit?.(level, fn, r) === true) return r;
  }
  if (sn !== 0)
    throw new MerkleProofError('proof-too-short', 'inclusion proof has fewer nodes than the path');
  return r;
}

/**
 * RFC 9162 §2.1.4.2: check that the tree of `size2` with `root2` is an append-only extension of
 * the tree of `size1` with `root1`. Throws MerkleProofError otherwise.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  proof: readonly Uint8Array[],
  root1: Uint8Array,
  root2: Uint8Array,
): void {
  checkSize('size1', size1);
  checkSize('size2', size2);
  if (size2 < size1) throw new MerkleProofError('shrunk', `tree shrank from ${size1} to ${size2}`);
  if (size1 === size2) {
    if (proof.length > 0) throw new MerkleProofError('proof-too-long', 'equal sizes need an empty proof');
    if (size1 === 0 && !EMPTY_ROOT.equals(Buffer.from(root1))) {
      throw new MerkleProofError('root-mismatch', 'the empty tree has another root');
    }
    if (!Buffer.from(root1).equals(Buffer.from(root2))) {
      throw new MerkleProofError('root-mismatch', `two different roots for tree size ${size1}`);
    }
    return;
  }
  if (size1 === 0) {
    // Every tree extends the empty tree, so such a "proof" proves nothing; callers skip the check.
    throw new MerkleProofError('empty-tree', 'consistency proof from the empty tree is meaningless');
  }
  checkHash('root1', root1);
  checkHash('root2', root2);
  if (proof.length === 0) throw new MerkleProofError('proof-too-short', 'empty consistency proof');
  for (const p of proof) checkHash('proof node', p);

  // Step 1: when size1 is a power of two its root is the first node of the path and is left out.
  const path = isPowerOfTwo(size1) ? [Buffer.from(root1), ...proof] : [...proof];
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (isOdd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr: Buffer = Buffer.from(path[0]!);
  let sr: Buffer = Buffer.from(path[0]!);
  for (const c of path.slice(1)) {
    if (sn === 0)
      throw new MerkleProofError('proof-too-long', 'consistency proof has more nodes than needed');
    if (isOdd(fn) || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      if (!isOdd(fn)) {
        while (!isOdd(fn) && fn !== 0) {
          fn = half(fn);
          sn = half(sn);
        }
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  if (sn !== 0)
    throw new MerkleProofError('proof-too-short', 'consistency proof has fewer nodes than needed');
  if (!fr.equals(Buffer.from(root1))) {
    throw new MerkleProofError('root-mismatch', `consistency proof does not give the root of size ${size1}`);
  }
  if (!sr.equals(Buffer.from(root2))) {
    throw new MerkleProofError('root-mismatch', `consistency proof does not give the root of size ${size2}`);
  }
}

function isPowerOfTwo(n: number): boolean {
  let m = n;
  while (m > 1 && !isOdd(m)) m = half(m);
  return m === 1;
}
