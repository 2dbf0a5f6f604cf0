/**
 * c2sp.org/signed-note: "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII control
 * characters (those below U+0020) other than newline", and "Verifiers SHOULD apply a maximum limit to
 * the number of signatures in a note [...] but MUST accept at least up to 16 signatures". Notes here
 * are signed by the trusted key over exactly their text, so only the format can refuse them.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  parseSignedNote,
  signNote,
  verifyCheckpoint,
} from '../../../functions/tlog/checkpoint/index.ts';
import { LogIntegrityError, RekorV2Client } from '../../../functions/tlog/client/index.ts';
import { handSignedNotes } from '../../helpers/signed-note.ts';

/** Notes the trusted key really signed (its `signedByHand`: the text, then `extra` lines as given). */
const { origin: ORIGIN, root: ROOT, key, signer, verifier, signedByHand } = handSignedNotes();
/** The cap (checkpoint/note.ts MAX_NOTE_SIGNATURES), as Go's sumdb/note: at least the spec's 16. */
const MAX_NOTE_SIGNATURES = 100;

/** A signature line by some unknown key (a witness): ignored by the verifier, but parsed. */
const witnessLine = (i: number): string =>
  `\u2014 witness${i}.example ${Buffer.alloc(68, i).toString('base64')}\n`;

const controlCharacter = (code: string) => (err: unknown) => {
  assert.ok(err instanceof CheckpointError, String(err));
  assert.equal(err.reason, 'malformed');
  assert.ok(err.message.includes(`control character ${code}`), err.message);
  return true;
};

const tooManySignatures = (err: unknown) => {
  assert.ok(err instanceof CheckpointError, String(err));
  assert.equal(err.reason, 'too-many-signatures');
  assert.ok(err.message.includes(String(MAX_NOTE_SIGNATURES)), err.message);
  return true;
};

describe('signed notes: no control characters but newline (c2sp.org/signed-note)', () => {
  const cases: Array<[string, string, string]> = [
    ['NUL and TAB in an extension line', `${ORIGIN}\n5\n${ROOT}\nx\u0000\ty\n`, 'U+0000'],
    ['ESC (a terminal escape) in an extension line', `${ORIGIN}\n5\n${ROOT}\n\u001b[2J\n`, 'U+001B'],
    ['TAB in the origin', `${ORIGIN}\t\n5\n${ROOT}\n`, 'U+0009'],
    ['a carriage return ending the size line', `${ORIGIN}\n5\r\n${ROOT}\n`, 'U+000D'],
    ['U+001F in an extension line', `${ORIGIN}\n5\n${ROOT}\nunit\u001fsep\n`, 'U+001F'],
  ];
  for (const [what, text, code] of cases) {
    it(`refuses ${what}, though the log key signed it`, () => {
      const note = signedByHand(text);
      assert.throws(() => parseSignedNote(note), controlCharacter(code));
      assert.throws(() => verifyCheckpoint(note, verifier), controlCharacter(code));
      assert.throws(() => signNote(text, signer), controlCharacter(code), 'nor is such a note signed');
    });
  }

  it('refuses a control character in a signature line', () => {
    const note = signedByHand(`${ORIGIN}\n5\n${ROOT}\n`, [
      `\u2014 witness\u0007.example ${'A'.repeat(96)}\n`,
    ]);
    assert.throws(() => verifyCheckpoint(note, verifier), controlCharacter('U+0007'));
  });

  it('refuses text that is not valid UTF-8 (a lone surrogate)', () => {
    const note = signedByHand(`${ORIGIN}\n5\n${ROOT}\nx\ud800y\n`);
    assert.throws(
      () => verifyCheckpoint(note, verifier),
      (err: unknown) => err instanceof CheckpointError && /not valid UTF-8/.test(err.message),
    );
  });

  it('accepts newlines and text at and above U+0020', () => {
    const cp = verifyCheckpoint(signedByHand(`${ORIGIN}\n5\n${ROOT}\nnote: é ✓ \u007f\n`), verifier);
    assert.deepEqual(cp.extensions, ['note: é ✓ \u007f']);
  });

  it('a log serving such a checkpoint is a bad-checkpoint log fault', async () => {
    const note = signedByHand(`${ORIGIN}\n5\n${ROOT}\n\u001b]8;;http://x\u0007\n`);
    const client = new RekorV2Client({
      baseUrl: 'http://log.example',
      logKey: key.publicKey,
      origin: ORIGIN,
      retries: 0,
      fetch: async () => new Response(note, { status: 200 }),
    });
    await assert.rejects(
      client.getCheckpoint(),
      (err: unknown) => err instanceof LogIntegrityError && err.reason === 'bad-checkpoint',
    );
  });
});

describe(`signed notes: at most ${MAX_NOTE_SIGNATURES} signature lines`, () => {
  const text = `${ORIGIN}\n5\n${ROOT}\n`;
  const witnesses = (n: number) => Array.from({ length: n }, (_, i) => witnessLine(i));

  it('accepts 16 signatures (the spec minimum) and exactly the cap', () => {
    assert.equal(verifyCheckpoint(signedByHand(text, witnesses(15)), verifier).size, 5);
    const atCap = signedByHand(text, witnesses(MAX_NOTE_SIGNATURES - 1));
    assert.equal(parseSignedNote(atCap).signatures.length, MAX_NOTE_SIGNATURES);
    assert.equal(verifyCheckpoint(atCap, verifier).size, 5);
  });

  it('refuses one more than the cap, and 10,001, without parsing their lines', () => {
    assert.throws(
      () => verifyCheckpoint(signedByHand(text, witnesses(MAX_NOTE_SIGNATURES)), verifier),
      tooManySignatures,
    );
    const flood = signedByHand(text, witnesses(10_000));
    assert.throws(
      () => parseSignedNote(flood),
      (err: unknown) => {
        tooManySignatures(err);
        assert.equal((err as CheckpointError).details['signatureLines'], 10_001);
        return true;
      },
    );
  });

  it('refuses to sign a note with more signers than the cap', () => {
    const many = Array.from({ length: MAX_NOTE_SIGNATURES + 1 }, () => signer);
    assert.throws(() => signNote(text, many), tooManySignatures);
  });
});
