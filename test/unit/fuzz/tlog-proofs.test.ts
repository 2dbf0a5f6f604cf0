/**
 * Fuzzing what a transparency log proves: signed-note checkpoints (real ones from Rekor v1 and v2, mutated
 * byte by byte) and Merkle inclusion / consistency proofs with hostile sizes, indices and paths. A checkpoint
 * or proof either verifies, honestly, or gives CheckpointError / MerkleProofError; nothing else, no hang.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  CheckpointError,
  ed25519NoteVerifier,
  type NoteVerifier,
  parseCheckpoint,
  rekorV1NoteVerifier,
  verifyCheckpoint,
} from '../../../functions/tlog/checkpoint/index.ts';
import {
  consistencyProof,
  hashLeaf,
  inclusionProof,
  MemoryLevels,
  MerkleProofError,
  rootAt,
  rootFromInclusionProof,
  verifyConsistency,
  verifyInclusion,
} from '../../../functions/tlog/merkle/index.ts';
import { hugeString, numberToken, outcome, runs } from './hostile.ts';

// ---- checkpoints --------------------------------------------------------------------------------------

const FIXTURES = join(import.meta.dirname, '../../fixtures/tlog');
const readCheckpoint = (name: string): string => readFileSync(join(FIXTURES, 'checkpoints', name), 'utf8');

function tlogKey(rootFile: string, host: string): Buffer {
  const root = JSON.parse(readFileSync(join(FIXTURES, rootFile), 'utf8')) as {
    tlogs: Array<{ baseUrl: string; publicKey: { rawBytes: string } }>;
  };
  const tlog = root.tlogs.find((t) => t.baseUrl.endsWith(host));
  assert.ok(tlog, `no tlog ${host} in ${rootFile}`);
  return Buffer.from(tlog.publicKey.rawBytes, 'base64');
}

/** Real checkpoints and the key each one verifies under. */
const REAL: ReadonlyArray<{ name: string; note: string; verifier: NoteVerifier }> = [
  {
    name: 'prod Rekor v1 (ECDSA)',
    note: readCheckpoint('prod_rekor_v1_shard2605736670972794746_size37795272.sigstore-java_valid.txt'),
    verifier: rekorV1NoteVerifier(readFileSync(join(FIXTURES, 'checkpoints/prod_rekor_v1.pub'), 'utf8')),
  },
  {
    name: 'prod Rekor v2 log2025-1 (Ed25519)',
    note: readCheckpoint('prod_rekor_v2_log2025-1_size4855115.DERIVED.txt'),
    verifier: ed25519NoteVerifier(
      'log2025-1.rekor.sigstore.dev',
      tlogKey('prod_trusted_root.json', 'log2025-1.rekor.sigstore.dev'),
    ),
  },
  {
    name: 'staging Rekor v2 with a witness cosignature',
    note: readCheckpoint('staging_rekor_v2_log2025-alpha1_cosigned.DERIVED.txt'),
    verifier: ed25519NoteVerifier(
      'log2025-alpha1.rekor.sigstage.dev',
      tlogKey('staging_trusted_root.json', 'log2025-alpha1.rekor.sigstage.dev'),
    ),
  },
];

/** Characters that matter to the signed-note grammar, plus any others. */
const noteChar = fc.oneof(
  fc.constantFrom('\n', '\r', ' ', '\u2014', '-', '=', '+', '/', '0', '9', 'A', '\u0000', '\uFFFD', '\uD800'),
  fc.string({ minLength: 1, maxLength: 1, unit: 'grapheme' }),
);

type Edit =
  | { op: 'delete'; at: number; length: number }
  | { op: 'insert'; at: number; text: string }
  | { op: 'replace'; at: number; text: string }
  | { op: 'duplicate-line'; line: number }
  | { op: 'swap-lines'; a: number; b: number }
  | { op: 'size'; token: string }
  | { op: 'flip'; at: number }
  | { op: 'witness'; name: string; bytes: Uint8Array };

const edit: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({
    op: fc.constant('insert' as const),
    at: fc.nat(),
    text: fc.string({ unit: noteChar, minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    op: fc.constant('replace' as const),
    at: fc.nat(),
    text: fc.string({ unit: noteChar, minLength: 1, maxLength: 2 }),
  }),
  fc.record({ op: fc.constant('duplicate-line' as const), line: fc.nat() }),
  fc.record({ op: fc.constant('swap-lines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({
    op: fc.constant('size' as const),
    token: fc.oneof(
      numberToken,
      fc.constantFrom('', ' 1', '01', '0x10', '9007199254740993', '-0', 'NaN', 'Infinity'),
    ),
  }),
  fc.record({ op: fc.constant('flip' as const), at: fc.nat() }),
  // A cosignature line under a key nobody trusts, as a witness adds: outside the signed text.
  fc.record({
    op: fc.constant('witness' as const),
    name: fc.constantFrom('witness.example', 'rekor.sigstore.dev', 'log2025-1.rekor.sigstore.dev'),
    bytes: fc.uint8Array({ minLength: 5, maxLength: 72 }),
  }),
);

function applyEdit(note: string, e: Edit): string {
  const at = (n: number) => (note.length === 0 ? 0 : n % note.length);
  const lines = note.split('\n');
  switch (e.op) {
    case 'delete':
      return note.slice(0, at(e.at)) + note.slice(at(e.at) + e.length);
    case 'insert':
      return note.slice(0, at(e.at)) + e.text + note.slice(at(e.at));
    case 'replace':
      return note.slice(0, at(e.at)) + e.text + note.slice(at(e.at) + e.text.length);
    case 'duplicate-line': {
      const i = e.line % lines.length;
      return [...lines.slice(0, i + 1), lines[i], ...lines.slice(i + 1)].join('\n');
    }
    case 'swap-lines': {
      const a = e.a % lines.length;
      const b = e.b % lines.length;
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      return lines.join('\n');
    }
    case 'size':
      lines[1] = e.token;
      return lines.join('\n');
    case 'witness':
      return `${note}\u2014 ${e.name} ${Buffer.from(e.bytes).toString('base64')}\n`;
    case 'flip': {
      // Change one base64 character of a signature line: a different signature, same shape.
      const i = note.lastIndexOf('\u2014 ');
      if (i < 0) return note;
      const pos = i + 2 + (e.at % Math.max(1, note.length - i - 3));
      const c = note[pos];
      if (c === undefined || c === '\n' || c === ' ') return note;
      return note.slice(0, pos) + (c === 'A' ? 'B' : 'A') + note.slice(pos + 1);
    }
  }
}

const mutatedReal = fc
  .tuple(fc.constantFrom(...REAL), fc.array(edit, { minLength: 1, maxLength: 4 }))
  .map(([real, edits]) => ({ real, note: edits.reduce(applyEdit, real.note) }));

const anyNote: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: mutatedReal.map((m) => m.note) },
  { weight: 2, arbitrary: fc.string({ unit: noteChar, maxLength: 200 }) },
  { weight: 1, arbitrary: hugeString.map((s) => `${s}\n1\n${'A'.repeat(43)}=\n\n\u2014 x ${s}\n`) },
);

describe('fuzz: checkpoints (parseCheckpoint, verifyCheckpoint)', () => {
  test('the real checkpoints verify (the anchor the mutations start from)', () => {
    for (const r of REAL) assert.ok(verifyCheckpoint(r.note, r.verifier).size > 0, r.name);
  });

  test('any note text: a well-formed checkpoint or CheckpointError', () => {
    fc.assert(
      fc.property(anyNote, (note) => {
        const r = outcome(() => parseCheckpoint(note), CheckpointError);
        if (!r.ok) return;
        const { checkpoint, note: signed } = r.value;
        assert.ok(Number.isSafeInteger(checkpoint.size) && checkpoint.size >= 0);
        assert.equal(checkpoint.rootHash.length, 32);
        assert.ok(checkpoint.origin.length > 0 && !checkpoint.origin.includes('\n'));
        assert.ok(signed.text.endsWith('\n') && signed.signatures.length > 0);
        for (const s of signed.signatures) assert.equal(s.keyHash.length, 4);
      }),
      runs(250),
    );
  });

  test('mutated real checkpoints: CheckpointError, or they verify with exactly the signed contents', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(mutatedReal, ({ real, note }) => {
        const r = outcome(() => verifyCheckpoint(note, [real.verifier]), CheckpointError);
        seen.add(r.ok ? 'verified' : (r.error as CheckpointError).reason);
        if (!r.ok) return;
        const original = verifyCheckpoint(real.note, real.verifier);
        // Only the unsigned part (other signature lines) may have changed: never origin, size or root.
        assert.equal(r.value.origin, original.origin);
        assert.equal(r.value.size, original.size);
        assert.ok(r.value.rootHash.equals(original.rootHash));
        assert.deepEqual(r.value.extensions, original.extensions);
      }),
      runs(300),
    );
    // The mutations reach every stage: parsing, the signature check, and past it.
    if (process.env['FUZZ_SEED'] === undefined) {
      for (const stage of ['malformed', 'bad-signature', 'verified'])
        assert.ok(seen.has(stage), `never ${stage}`);
    }
  });
});

// ---- Merkle proofs ------------------------------------------------------------------------------------

const TWO_53 = 2 ** 53;

/** Tree sizes and indices a log could claim: small, near 2^32 and 2^53, negative, fractional, not numbers. */
const hostileSize: fc.Arbitrary<number> = fc.oneof(
  fc.nat({ max: 70 }),
  fc.integer({ min: -2, max: 2 }).map((d) => 2 ** 32 + d),
  fc.integer({ min: -3, max: 3 }).map((d) => TWO_53 + d),
  fc.constantFrom(
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    -1,
    -0,
    0.5,
    1.5,
    Number.NaN,
    Infinity,
    -Infinity,
  ),
  fc.maxSafeNat(),
  fc.double(),
);

const hashOfLength = fc.oneof(
  { weight: 6, arbitrary: fc.uint8Array({ minLength: 32, maxLength: 32 }) },
  { weight: 1, arbitrary: fc.constantFrom(0, 1, 31, 33, 64).map((n) => new Uint8Array(n)) },
);
const hostileProof = fc.array(hashOfLength, { maxLength: 70 });

describe('fuzz: Merkle proofs (verifyInclusion, verifyConsistency)', () => {
  test('inclusion with hostile index, size and path: MerkleProofError (random data never verifies)', () => {
    fc.assert(
      fc.property(
        hostileSize,
        hostileSize,
        hashOfLength,
        hostileProof,
        hashOfLength,
        (index, size, leaf, proof, root) => {
          const r = outcome(() => verifyInclusion(index, size, leaf, proof, root), MerkleProofError);
          if (r.ok) {
            // Only a one-leaf tree proves itself without hashing: its root is the leaf hash.
            assert.equal(size, 1);
            assert.equal(proof.length, 0);
            assert.deepEqual(Buffer.from(root), Buffer.from(leaf));
          }
          outcome(() => rootFromInclusionProof(index, size, leaf, proof), MerkleProofError);
        },
      ),
      runs(400),
    );
  });

  test('consistency with hostile sizes and path: MerkleProofError unless trivially the same tree', () => {
    fc.assert(
      fc.property(
        hostileSize,
        hostileSize,
        hostileProof,
        hashOfLength,
        hashOfLength,
        (size1, size2, proof, root1, root2) => {
          const r = outcome(() => verifyConsistency(size1, size2, proof, root1, root2), MerkleProofError);
          if (r.ok) {
            assert.equal(size1, size2);
            assert.equal(proof.length, 0);
            assert.deepEqual(Buffer.from(root1), Buffer.from(root2));
          }
        },
      ),
      runs(400),
    );
  });

  test('real proofs verify, and any one change to index, size, path or root is refused', () => {
    const mutation = fc.oneof(
      fc.constant('none' as const),
      fc.constantFrom('index+1', 'index-1', 'size+1', 'size-1', 'drop', 'append', 'swap', 'root' as const),
      fc.tuple(fc.constant('flip' as const), fc.nat(), fc.integer({ min: 0, max: 255 })),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }).chain((n) => fc.tuple(fc.constant(n), fc.nat({ max: n - 1 }))),
        mutation,
        ([size, index], m) => {
          const leaves = Array.from({ length: size }, () => hashLeaf(randomBytes(8)));
          const levels = new MemoryLevels(leaves);
          const root = rootAt(levels, size);
          const proof = inclusionProof(levels, index, size);
          let [i, n, p, rt] = [index, size, proof, root];
          if (m === 'index+1') i++;
          else if (m === 'index-1') i--;
          else if (m === 'size+1') n++;
          else if (m === 'size-1') n--;
          else if (m === 'drop') p = p.slice(0, -1);
          else if (m === 'append') p = [...p, leaves[0]!];
          else if (m === 'swap') p = [...p].reverse();
          else if (m === 'root') rt = hashLeaf(rt);
          else if (Array.isArray(m) && p.length > 0) {
            const node = Buffer.from(p[m[1] % p.length]!);
            node[m[2] % 32] = node[m[2] % 32]! ^ 0x01;
            p = p.map((x, k) => (k === m[1] % p.length ? node : x));
          }
          const changed =
            i !== index ||
            rt !== root ||
            p.length !== proof.length ||
            p.some((x, k) => !Buffer.from(x).equals(Buffer.from(proof[k]!)));
          const r = outcome(() => verifyInclusion(i, n, leaves[index]!, p, rt), MerkleProofError);
          if (n !== size) {
            // A claimed size is bound by the signed checkpoint, not by the path: RFC 9162 verification may
            // accept the same path for a neighbouring size (e.g. leaf 0 of 3 and of 4). A typed answer suffices.
          } else if (!changed) {
            assert.ok(r.ok, r.ok ? '' : r.error.message);
          } else {
            assert.equal(r.ok, false, `mutation ${JSON.stringify(m)} still verifies`);
          }
          // And the consistency proof from an earlier size to this one verifies.
          const size1 = 1 + (index % size);
          const cproof = consistencyProof(levels, size1, size);
          verifyConsistency(size1, size, cproof, rootAt(levels, size1), root);
        },
      ),
      runs(200),
    );
  });
});
