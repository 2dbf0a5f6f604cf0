/**
 * Log keys other than the public instances' (ECDSA P-256 for Rekor v1, Ed25519 for Rekor v2).
 * A Rekor v1 log may sign with an Ed25519 key (rekor pkg/util/signed_note.go): the checkpoint key
 * hash is then still SHA-256(PKIX DER)[:4], and the signature is pure Ed25519 over the note text;
 * its SETs are pure Ed25519 too. rekor-tiles logs with ECDSA, RSA or ML-DSA keys are refused
 * with a clear error (their key IDs and signing hash are not derivable from the key alone).
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import * as checkpoint from '../../../functions/tlog/checkpoint/index.ts';
import {
  CheckpointError,
  rekorV1NoteVerifier,
  verifyCheckpoint,
} from '../../../functions/tlog/checkpoint/index.ts';
import { RekorV2Client, verifyRekorV2Checkpoint } from '../../../functions/tlog/client/index.ts';

const ORIGIN = 'rekor.example.dev - 123';
const TEXT = `${ORIGIN}\n5\n${Buffer.alloc(32, 1).toString('base64')}\nTimestamp: 1\n`;

/** A checkpoint exactly as rekor's SignedNote.Sign writes it for an Ed25519 signer. */
function rekorV1Ed25519Note(privateKey: KeyObject, publicKey: KeyObject, text = TEXT): string {
  const der = publicKey.export({ format: 'der', type: 'spki' });
  const hash = createHash('sha256').update(der).digest().subarray(0, 4);
  const sig = sign(null, Buffer.from(text), privateKey);
  return `${text}\n\u2014 rekor.example.dev ${Buffer.concat([hash, sig]).toString('base64')}\n`;
}

const reason = (want: string) => (err: unknown) => err instanceof CheckpointError && err.reason === want;

describe('Rekor v1 with an Ed25519 log key', () => {
  const ed = generateKeyPairSync('ed25519');

  it('its checkpoint verifies with the Rekor v1 note verifier (RekorV1Client uses rekorV1NoteVerifier)', () => {
    const cp = verifyCheckpoint(
      rekorV1Ed25519Note(ed.privateKey, ed.publicKey),
      rekorV1NoteVerifier(ed.publicKey),
    );
    assert.equal(cp.size, 5);
    assert.deepEqual(cp.extensions, ['Timestamp: 1']);
    const v = checkpoint.rekorV1NoteVerifier(ed.publicKey.export({ format: 'pem', type: 'spki' }));
    assert.equal(verifyCheckpoint(rekorV1Ed25519Note(ed.privateKey, ed.publicKey), v).size, 5);
  });

  it('a changed checkpoint or another key is refused', () => {
    const note = rekorV1Ed25519Note(ed.privateKey, ed.publicKey);
    assert.throws(
      () => verifyCheckpoint(note.replace('\n5\n', '\n6\n'), rekorV1NoteVerifier(ed.publicKey)),
      reason('bad-signature'),
    );
    const other = generateKeyPairSync('ed25519');
    assert.throws(() => verifyCheckpoint(note, rekorV1NoteVerifier(other.publicKey)), reason('untrusted'));
    // The same key's hash but another key's signature: a bad signature, not skipped.
    const forged = rekorV1Ed25519Note(other.privateKey, ed.publicKey);
    assert.throws(() => verifyCheckpoint(forged, rekorV1NoteVerifier(ed.publicKey)), reason('bad-signature'));
  });

  it('the Rekor v1 signer writes that form, and it round-trips', () => {
    const note = checkpoint.signNote(TEXT, checkpoint.rekorV1NoteSigner('rekor.example.dev', ed.privateKey));
    assert.equal(note, rekorV1Ed25519Note(ed.privateKey, ed.publicKey)); // Ed25519 is deterministic
    assert.equal(verifyCheckpoint(note, rekorV1NoteVerifier(ed.publicKey)).size, 5);
  });
});

describe('logKeyVerifyAlgorithm: the crypto.verify algorithm for a log key', () => {
  const payload = Buffer.from('{"body":"...","integratedTime":1,"logIndex":0,"logID":"00"}');
  const keys: Array<[string, ReturnType<typeof generateKeyPairSync>, 'sha256' | null]> = [
    ['Ed25519', generateKeyPairSync('ed25519'), null],
    ['ECDSA P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' }), 'sha256'],
    ['ECDSA P-384', generateKeyPairSync('ec', { namedCurve: 'P-384' }), 'sha256'],
    ['RSA 2048', generateKeyPairSync('rsa', { modulusLength: 2048 }), 'sha256'],
  ];
  for (const [what, pair, want] of keys) {
    it(`${what}: ${want ?? 'null'}, and a SET signed by such a log verifies with it`, () => {
      const algorithm = checkpoint.logKeyVerifyAlgorithm(pair.publicKey);
      assert.equal(algorithm, want);
      const der = pair.publicKey.export({ format: 'der', type: 'spki' });
      assert.equal(checkpoint.logKeyVerifyAlgorithm(der), want);
      const sig = sign(want, payload, pair.privateKey);
      assert.ok(verify(algorithm, payload, pair.publicKey, sig));
      assert.ok(!verify(algorithm, Buffer.concat([payload, Buffer.from(' ')]), pair.publicKey, sig));
    });
  }

  it('ECDSA checkpoints are verified as before: the real prod v1 checkpoint', () => {
    const dir = join(import.meta.dirname, '../../fixtures/tlog/checkpoints');
    const pem = readFileSync(join(dir, 'prod_rekor_v1.pub'), 'utf8');
    const note = readFileSync(
      join(dir, 'prod_rekor_v1_shard2605736670972794746_size37795272.sigstore-java_valid.txt'),
      'utf8',
    );
    assert.equal(checkpoint.logKeyVerifyAlgorithm(pem), 'sha256');
    assert.equal(verifyCheckpoint(note, rekorV1NoteVerifier(pem)).size, 37795272);
  });
});

describe('Rekor v2 (rekor-tiles) logs with a non-Ed25519 key', () => {
  const unsupported = /Rekor v2 log key must be Ed25519.*not supported/s;
  for (const [what, pair] of [
    ['ECDSA P-256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['RSA 2048', generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ] as const) {
    it(`RekorV2Client refuses ${what} with a clear error`, () => {
      assert.throws(
        () => new RekorV2Client({ baseUrl: 'https://log.example.dev', logKey: pair.publicKey }),
        (err: unknown) => err instanceof TypeError && unsupported.test(err.message),
      );
    });

    it(`verifyRekorV2Checkpoint refuses ${what} with the same error, not "untrusted"`, () => {
      const text = `log.example.dev\n1\n${Buffer.alloc(32).toString('base64')}\n`;
      const note = checkpoint.signNote(
        text,
        checkpoint.rekorV1NoteSigner('log.example.dev', pair.privateKey),
      );
      assert.throws(
        () => verifyRekorV2Checkpoint(note, pair.publicKey, 'log.example.dev'),
        (err: unknown) => err instanceof TypeError && unsupported.test(err.message),
      );
    });
  }
});
