import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hashChildrenInto, hashLeafInto } from '../../../functions/tlog/merkle/hash.ts';
import {
  consistencyProof,
  hashChildren,
  hashLeaf,
  inclusionPathLength,
  inclusionProof,
  MemoryLevels,
  MerkleProofError,
  ProvenNodes,
  rootAt,
  rootFromLeafHashes,
  verifyConsistency,
  verifyInclusion,
} from '../../../functions/tlog/merkle/index.ts';

const TESTDATA = join(import.meta.dirname, '../../fixtures/tlog/merkle/testdata');

function jsonFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? jsonFiles(p) : name.endsWith('.json') ? [p] : [];
  });
}

const b64 = (s: string): Buffer => Buffer.from(s, 'base64');
const b64s = (a: string[] | null): Buffer[] => (a ?? []).map(b64);

interface InclusionVector {
  leafIdx: number;
  treeSize: number;
  root: string;
  leafHash: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}
interface ConsistencyVector {
  size1: number;
  size2: number;
  root1: string;
  root2: string;
  proof: string[] | null;
  desc: string;
  wantErr: boolean;
}

function flip(buf: Buffer, bit = 0): Buffer {
  const copy = Buffer.from(buf);
  copy[bit >> 3] = copy[bit >> 3]! ^ (1 << (bit & 7));
  return copy;
}

const inclusionFiles = jsonFiles(join(TESTDATA, 'inclusion'));
const consistencyFiles = jsonFiles(join(TESTDATA, 'consistency'));

describe('transparency-dev inclusion vectors', () => {
  it('found the vectors', () => assert.ok(inclusionFiles.length > 50));
  for (const file of inclusionFiles) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
    it(`${file.slice(TESTDATA.length + 1)}: ${v.desc} (wantErr ${v.wantErr})`, () => {
      const run = (): void =>
        verifyInclusion(v.leafIdx, v.treeSize, b64(v.leafHash), b64s(v.proof), b64(v.root));
      if (v.wantErr) assert.throws(run, MerkleProofError);
      else assert.doesNotThrow(run);
    });
  }
});

describe('transparency-dev consistency vectors', () => {
  it('found the vectors', () => assert.ok(consistencyFiles.length > 50));
  for (const file of consistencyFiles) {
    const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
    it(`${file.slice(TESTDATA.length + 1)}: ${v.desc} (wantErr ${v.wantErr})`, () => {
      const run = (): void => verifyConsistency(v.size1, v.size2, b64s(v.proof), b64(v.root1), b64(v.root2));
      if (v.wantErr) assert.throws(run, MerkleProofError);
      else assert.doesNotThrow(run);
    });
  }
});

describe('mutated copies of every passing vector are rejected', () => {
  it('inclusion', () => {
    let checked = 0;
    for (const file of inclusionFiles) {
      const v = JSON.parse(readFileSync(file, 'utf8')) as InclusionVector;
      if (v.wantErr) continue;
      const proof = b64s(v.proof);
      const leaf = b64(v.leafHash);
      const root = b64(v.root);
      const bad: Array<[string, () => void]> = [
        ['root', () => verifyInclusion(v.leafIdx, v.treeSize, leaf, proof, flip(root, 7))],
        ['leaf', () => verifyInclusion(v.leafIdx, v.treeSize, flip(leaf, 100), proof, root)],
        ['index+1', () => verifyInclusion(v.leafIdx + 1, v.treeSize, leaf, proof, root)],
        ['extra node', () => verifyInclusion(v.leafIdx, v.treeSize, leaf, [...proof, leaf], root)],
        ['short hash', () => verifyInclusion(v.leafIdx, v.treeSize, leaf, proof, root.subarray(1))],
      ];
      if (v.leafIdx > 0)
        bad.push(['index-1', () => verifyInclusion(v.leafIdx - 1, v.treeSize, leaf, proof, root)]);
      proof.forEach((_, i) => {
        const p = proof.map((h, j) => (j === i ? flip(h, 255) : h));
        bad.push([`node ${i}`, () => verifyInclusion(v.leafIdx, v.treeSize, leaf, p, root)]);
      });
      if (proof.length > 0) {
        bad.push([
          'dropped node',
          () => verifyInclusion(v.leafIdx, v.treeSize, leaf, proof.slice(0, -1), root),
        ]);
      }
      for (const [what, run] of bad) {
        assert.throws(run, MerkleProofError, `${file} mutated ${what}`);
        checked++;
      }
    }
    assert.ok(checked > 20);
  });

  it('consistency', () => {
    let checked = 0;
    for (const file of consistencyFiles) {
      const v = JSON.parse(readFileSync(file, 'utf8')) as ConsistencyVector;
      if (v.wantErr || v.size1 === 0) continue;
      const proof = b64s(v.proof);
      const r1 = b64(v.root1);
      const r2 = b64(v.root2);
      const bad: Array<[string, () => void]> = [
        ['root1', () => verifyConsistency(v.size1, v.size2, proof, flip(r1), r2)],
        ['root2', () => verifyConsistency(v.size1, v.size2, proof, r1, flip(r2))],
      ];
      if (v.size1 !== v.size2) {
        bad.push(['swapped', () => verifyConsistency(v.size2, v.size1, proof, r2, r1)]);
        bad.push(['extra node', () => verifyConsistency(v.size1, v.size2, [...proof, r1], r1, r2)]);
        proof.forEach((_, i) => {
          const p = proof.map((h, j) => (j === i ? flip(h, 9) : h));
          bad.push([`node ${i}`, () => verifyConsistency(v.size1, v.size2, p, r1, r2)]);
        });
        bad.push(['dropped node', () => verifyConsistency(v.size1, v.size2, proof.slice(1), r1, r2)]);
      }
      for (const [what, run] of bad) {
        assert.throws(run, MerkleProofError, `${file} mutated ${what}`);
        checked++;
      }
    }
    assert.ok(checked > 10);
  });
});

describe('proof generation from stored levels', () => {
  const leaves = (n: number): Buffer[] =>
    Array.from({ length: n }, (_, i) => hashLeaf(Buffer.from(`leaf ${i}`)));

  it('root-from-leaves matches the RFC 6962 reference tree (transparency-dev vector roots)', () => {
    // The vectors' leaves are the RFC 6962 test inputs; size-8 root from consistency/inclusion data.
    const inputs = [
      '',
      '00',
      '10',
      '2021',
      '3031',
      '40414243',
      '5051525354555657',
      '606162636465666768696a6b6c6d6e6f',
    ];
    const root8 = rootFromLeafHashes(inputs.map((h) => hashLeaf(Buffer.from(h, 'hex'))));
    assert.equal(Buffer.from(root8).toString('base64'), 'XcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=');
  });

  it('every inclusion and consistency proof of trees up to 40 leaves verifies', () => {
    const all = leaves(40);
    const levels = new MemoryLevels();
    const roots: Uint8Array[] = [rootAt(levels, 0)];
    for (const h of all) {
      levels.append(h);
      roots.push(rootAt(levels, levels.size));
    }
    for (let size = 1; size <= 40; size++) {
      assert.deepEqual(Buffer.from(roots[size]!), Buffer.from(rootFromLeafHashes(all.slice(0, size))));
      for (let i = 0; i < size; i++) {
        verifyInclusion(i, size, all[i]!, inclusionProof(levels, i, size), roots[size]!);
      }
      for (let m = 1; m <= size; m++) {
        verifyConsistency(m, size, consistencyProof(levels, m, size), roots[m]!, roots[size]!);
      }
    }
  });

  it('proofs for random trees verify and reject a changed leaf (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.nat(), (size, a, b) => {
        const all = leaves(size);
        const levels = new MemoryLevels(all);
        const i = a % size;
        const m = (b % size) + 1;
        const root = rootAt(levels, size);
        verifyInclusion(i, size, all[i]!, inclusionProof(levels, i, size), root);
        verifyConsistency(m, size, consistencyProof(levels, m, size), rootAt(levels, m), root);
        assert.throws(() => verifyInclusion(i, size, flip(all[i]!), inclusionProof(levels, i, size), root));
      }),
      { numRuns: 60 },
    );
  });

  it('proven nodes: every leaf of random trees verifies in any order, and a changed leaf or a leaf at another index is still rejected (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.nat(), fc.boolean(), (size, seed, shuffled) => {
        const all = leaves(size);
        const levels = new MemoryLevels(all);
        const root = rootAt(levels, size);
        const proven = new ProvenNodes(size, root);
        const order = all.map((_, i) => i);
        if (shuffled) order.sort((x, y) => ((x * 7919 + seed) % size) - ((y * 7919 + seed) % size));
        for (const i of order) {
          verifyInclusion(i, size, all[i]!, inclusionProof(levels, i, size), root, proven);
          // After the leaf and its neighbours are proven, a changed leaf meets a proven node.
          assert.throws(
            () => verifyInclusion(i, size, flip(all[i]!), inclusionProof(levels, i, size), root, proven),
            MerkleProofError,
          );
          const j = (i + 1 + (seed % size)) % size;
          if (j !== i) {
            assert.throws(
              () => verifyInclusion(j, size, all[i]!, inclusionProof(levels, j, size), root, proven),
              MerkleProofError,
            );
          }
        }
        assert.ok(proven.size < 2 * size + 64, `${proven.size} nodes kept for ${size} leaves`);
      }),
      { numRuns: 60 },
    );
  });

  it('proven nodes: a proof with a node added or cut is refused as it is without them, though the climb stops early', () => {
    for (const size of [2, 3, 8, 13, 64, 100]) {
      const all = leaves(size);
      const levels = new MemoryLevels(all);
      const root = rootAt(levels, size);
      const proven = new ProvenNodes(size, root);
      verifyInclusion(0, size, all[0]!, inclusionProof(levels, 0, size), root, proven);
      for (let i = 1; i < size; i++) {
        const path = inclusionProof(levels, i, size);
        const longer = [...path, Buffer.alloc(32, 0xee)];
        const shorter = path.slice(0, -1);
        for (const [proof, reason] of [
          [longer, 'proof-too-long'],
          [shorter, 'proof-too-short'],
        ] as const) {
          for (const cache of [proven, undefined]) {
            assert.throws(
              () => verifyInclusion(i, size, all[i]!, proof, root, cache),
              (err: unknown) => err instanceof MerkleProofError && err.reason === reason,
              `leaf ${i} of ${size}, ${reason}, ${cache ? 'with' : 'without'} proven nodes`,
            );
          }
        }
        verifyInclusion(i, size, all[i]!, path, root, proven);
      }
    }
  });

  it('the audit path length is transparency-dev/merkle’s inner + border for every leaf of trees up to 300', () => {
    const bitLength = (n: bigint) => n.toString(2).replace(/^0+/, '').length;
    const ones = (n: bigint) => n.toString(2).replace(/0/g, '').length;
    for (let size = 1; size <= 300; size++) {
      for (let index = 0; index < size; index++) {
        const inner = bitLength(BigInt(index) ^ BigInt(size - 1));
        const border = ones(BigInt(index) >> BigInt(inner));
        assert.equal(inclusionPathLength(index, size), inner + border, `leaf ${index} of ${size}`);
      }
    }
    // Past 2^32, where bit operators on numbers would fail.
    const size = 2 ** 40 + 12345;
    const index = 2 ** 39 + 7;
    const inner = bitLength(BigInt(index) ^ BigInt(size - 1));
    assert.equal(inclusionPathLength(index, size), inner + ones(BigInt(index) >> BigInt(inner)));
  });

  it('proven nodes of one tree are refused for another', () => {
    const all = leaves(10);
    const levels = new MemoryLevels(all);
    const proven = new ProvenNodes(10, rootAt(levels, 10));
    assert.throws(
      () => verifyInclusion(0, 9, all[0]!, inclusionProof(levels, 0, 9), rootAt(levels, 9), proven),
      /another tree/,
    );
  });
});

describe('leaf and node hashes (RFC 6962 §2.1)', () => {
  const reference = (prefix: number, ...parts: Uint8Array[]): Buffer => {
    const h = createHash('sha256').update(Buffer.of(prefix));
    for (const part of parts) h.update(part);
    return h.digest();
  };
  // Sizes around the reused input buffer's bounds (4 KiB first, then a bundle entry's 64 KiB).
  const size = fc.oneof(
    fc.integer({ min: 0, max: 300 }),
    fc.constantFrom(4094, 4095, 4096, 65534, 65535, 65536, 70000),
  );
  const bytes = size.chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));

  it('match SHA-256 over the prefixed input, whatever was hashed before (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(bytes, bytes), { minLength: 1, maxLength: 4 }), (pairs) => {
        for (const [a, b] of pairs) {
          assert.deepEqual(hashLeaf(a), reference(0x00, a));
          assert.deepEqual(hashChildren(a, b), reference(0x01, a, b));
          const out = Buffer.alloc(96, 0xee);
          hashLeafInto(a, out, 0);
          hashChildrenInto(a, b, out, 64);
          assert.deepEqual(out.subarray(0, 32), reference(0x00, a));
          assert.deepEqual(out.subarray(32, 64), Buffer.alloc(32, 0xee), 'nothing written between');
          assert.deepEqual(out.subarray(64), reference(0x01, a, b));
        }
      }),
      { numRuns: 60 },
    );
  });

  it('a leaf hash is its own 32 bytes, not a view another hash overwrites', () => {
    const first = hashLeaf(Buffer.from('first'));
    const copy = Buffer.from(first);
    hashLeaf(Buffer.from('second'));
    hashChildren(first, first);
    assert.deepEqual(first, copy);
  });

  it('refuses to write a hash past the end of the buffer it is given', () => {
    assert.throws(() => hashLeafInto(Buffer.from('x'), Buffer.alloc(63), 32), RangeError);
    assert.throws(
      () => hashChildrenInto(Buffer.alloc(32), Buffer.alloc(32), Buffer.alloc(32), -1),
      RangeError,
    );
  });
});
