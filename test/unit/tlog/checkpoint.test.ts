import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  formatCheckpointBody,
  parseCheckpoint,
  rekorV1NoteSigner,
  rekorV1NoteVerifier,
  signNote,
  verifyCheckpoint,
} from '../../../functions/tlog/checkpoint/index.ts';

const DIR = join(import.meta.dirname, '../../fixtures/tlog');
const read = (name: string): string => readFileSync(join(DIR, 'checkpoints', name), 'utf8');

interface TrustedRoot {
  tlogs: Array<{ baseUrl: string; publicKey: { rawBytes: string } }>;
}
function tlogKey(rootFile: string, host: string): Buffer {
  const root = JSON.parse(readFileSync(join(DIR, rootFile), 'utf8')) as TrustedRoot;
  const tlog = root.tlogs.find((t) => t.baseUrl.endsWith(host));
  assert.ok(tlog, `no tlog ${host}`);
  return Buffer.from(tlog.publicKey.rawBytes, 'base64');
}

const V1_VALID = 'prod_rekor_v1_shard2605736670972794746_size37795272.sigstore-java_valid.txt';
const V2_PROD = 'prod_rekor_v2_log2025-1_size4855115.DERIVED.txt';
const V2_STAGING = 'staging_rekor_v2_log2025-alpha1_cosigned.DERIVED.txt';
const v1Key = readFileSync(join(DIR, 'checkpoints/prod_rekor_v1.pub'), 'utf8');

function mutate(note: string, from: string, to: string): string {
  assert.ok(note.includes(from));
  return note.replace(from, to);
}

describe('real checkpoints', () => {
  it('prod Rekor v1 (ECDSA) parses and verifies with the public-good key', () => {
    const cp = verifyCheckpoint(read(V1_VALID), rekorV1NoteVerifier(v1Key));
    assert.equal(cp.origin, 'rekor.sigstore.dev - 2605736670972794746');
    assert.equal(cp.size, 37795272);
    assert.equal(cp.rootHash.toString('base64'), '60ll7idWI1jYRZzxc+jKflYoW+4jWxgZaGR15ASsWt4=');
    assert.deepEqual(cp.extensions, ['Timestamp: 1697034484441201852']);
  });

  it('prod Rekor v2 log2025-1 (Ed25519) verifies with the trusted-root key', () => {
    const key = tlogKey('prod_trusted_root.json', 'log2025-1.rekor.sigstore.dev');
    const cp = verifyCheckpoint(read(V2_PROD), ed25519NoteVerifier('log2025-1.rekor.sigstore.dev', key));
    assert.equal(cp.size, 4855115);
    assert.deepEqual(cp.extensions, []);
  });

  it('staging v2 with a witness cosignature verifies under the log key, ignoring the witness', () => {
    const key = tlogKey('staging_trusted_root.json', 'log2025-alpha1.rekor.sigstage.dev');
    const { note } = parseCheckpoint(read(V2_STAGING));
    assert.deepEqual(
      note.signatures.map((s) => s.name),
      ['log2025-alpha1.rekor.sigstage.dev', 'witness.example'],
    );
    const cp = verifyCheckpoint(
      read(V2_STAGING),
      ed25519NoteVerifier('log2025-alpha1.rekor.sigstage.dev', key),
    );
    assert.equal(cp.size, 736);
  });

  it('a second signature from another name is ignored (sigstore-java valid_multi_sig)', () => {
    const cp = verifyCheckpoint(read('valid_multi_sig.txt'), rekorV1NoteVerifier(v1Key));
    assert.equal(cp.size, 37795272);
  });

  for (const [file, reason] of [
    ['error_header_body_separator.txt', 'no-separator'],
    ['error_header_count.txt', 'too-few-lines'],
    ['error_no_newline_after_signature.txt', 'malformed'],
    ['error_no_signatures.txt', 'no-signatures'],
    ['error_not_a_number.txt', 'bad-size'],
    ['error_signature_format_invalid.txt', 'bad-signature-line'],
    ['error_signature_length_insufficient.txt', 'bad-signature-line'],
  ] as const) {
    it(`sigstore-java ${file} is rejected (${reason})`, () => {
      assert.throws(
        () => parseCheckpoint(read(file)),
        (err: unknown) => err instanceof CheckpointError && err.reason === reason,
      );
    });
  }
});

describe('mutated real checkpoints fail verification', () => {
  const v1 = read(V1_VALID);
  const v2 = read(V2_PROD);
  const v2Key = tlogKey('prod_trusted_root.json', 'log2025-1.rekor.sigstore.dev');
  const cases: Array<[string, string, () => unknown, string]> = [
    ['v1 size', mutate(v1, '37795272', '37795273'), () => rekorV1NoteVerifier(v1Key), 'bad-signature'],
    ['v1 root', mutate(v1, '60ll7', '70ll7'), () => rekorV1NoteVerifier(v1Key), 'bad-signature'],
    [
      'v1 origin',
      mutate(v1, '2605736670972794746\n', '2605736670972794747\n'),
      () => rekorV1NoteVerifier(v1Key),
      'bad-signature',
    ],
    [
      'v1 timestamp',
      mutate(v1, 'Timestamp: 1', 'Timestamp: 2'),
      () => rekorV1NoteVerifier(v1Key),
      'bad-signature',
    ],
    [
      'v1 signer name',
      mutate(v1, '— rekor.sigstore.dev', '— rekor.example'),
      () => rekorV1NoteVerifier(v1Key),
      'untrusted',
    ],
    ['v1 under the v2 key', v1, () => ed25519NoteVerifier('rekor.sigstore.dev', v2Key), 'untrusted'],
    [
      'v2 size',
      mutate(v2, '4855115', '4855116'),
      () => ed25519NoteVerifier('log2025-1.rekor.sigstore.dev', v2Key),
      'bad-signature',
    ],
    [
      'v2 extension added',
      mutate(v2, '=\n\n', '=\nextra\n\n'),
      () => ed25519NoteVerifier('log2025-1.rekor.sigstore.dev', v2Key),
      'bad-signature',
    ],
    [
      'v2 signature byte',
      mutate(v2, 'zxGZFXYHvtV6', 'zxGZFXYHvtV7'),
      () => ed25519NoteVerifier('log2025-1.rekor.sigstore.dev', v2Key),
      'bad-signature',
    ],
    [
      'v2 key hash',
      mutate(v2, 'zxGZFXYH', 'zxGaFXYH'),
      () => ed25519NoteVerifier('log2025-1.rekor.sigstore.dev', v2Key),
      'untrusted',
    ],
  ];
  for (const [what, note, verifier, reason] of cases) {
    it(what, () => {
      assert.throws(
        () => verifyCheckpoint(note, verifier() as ReturnType<typeof rekorV1NoteVerifier>),
        (err: unknown) => err instanceof CheckpointError && err.reason === reason,
      );
    });
  }
});

describe('signing', () => {
  it('round-trips ECDSA and Ed25519 notes and rejects a wrong key', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ed = generateKeyPairSync('ed25519');
    const text = formatCheckpointBody({
      origin: 'example.test/log',
      size: 3,
      rootHash: Buffer.alloc(32, 7),
      extensions: [],
    });
    const note = signNote(text, [
      rekorV1NoteSigner('example.test/log', ec.privateKey),
      ed25519NoteSigner('example.test/log', ed.privateKey),
    ]);
    assert.equal(verifyCheckpoint(note, rekorV1NoteVerifier(ec.publicKey)).size, 3);
    assert.equal(verifyCheckpoint(note, ed25519NoteVerifier('example.test/log', ed.publicKey)).size, 3);
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => verifyCheckpoint(note, rekorV1NoteVerifier(other.publicKey)), CheckpointError);
  });
});
