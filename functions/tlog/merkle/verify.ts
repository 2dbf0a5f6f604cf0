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
 * RFC 9162 §2.1.3.2: recompute the root from a leaf hash and its audit path, and compare it with
 * `root`. Throws MerkleProofError on any mismatch.
 */
export function verifyInclusion(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): void {
  const computed = rootFromInclusionProof(leafIndex, treeSize, leafHash, proof);
  checkHash('root', root);
  if (!Buffer.from(computed).equals(Buffer.from(root))) {
    throw new MerkleProofError(
      'root-mismatch',
      `inclusion proof for leaf ${leafIndex} of ${treeSize} gives another root`,
      {
        logIndex: leafIndex,
        treeSize,
      },
    );
  }
}

/** The root that an inclusion proof implies (RFC 9162 §2.1.3.2 steps 1-5). */
export function rootFromInclusionProof(
  leafIndex: number,
  treeSize: number,
  leafHash: Uint8Array,
  proof: readonly Uint8Array[],
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
        }
      }
    } else {
      r = hashChildren(r, p);
    }
    fn = half(fn);
    sn = half(sn);
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
