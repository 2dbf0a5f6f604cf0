/**
 * Signature lines and checkpoint roots are parsed as golang.org/x/mod/sumdb/note `Open` and Go's
 * checkpoint parsers (sumdb/tlog ParseTree, transparency-dev/formats) parse them. In `Open` a line
 * is `— <name> <base64>`, cut at the first space; the note is malformed (errMalformedNote, the whole
 * note refused, before any key is looked up) when `base64.StdEncoding.DecodeString` fails, the name
 * is not `isValidName` (non-empty, no Unicode space, no `+`: c2sp.org/signed-note), or fewer than 5
 * bytes decode. StdEncoding wants the standard alphabet padded to a multiple of four; like Go's
 * (non-Strict) decoder, bits under the padding are not checked (RFC 4648 §3.5 lets a decoder
 * accept them). A root is StdEncoding of exactly 32 bytes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CheckpointError,
  ed25519NoteSigner,
  parseCheckpointBody,
  parseSignedNote,
  signNote,
  verifyCheckpoint,
} from '../../../functions/tlog/checkpoint/index.ts';
import { handSignedNotes } from '../../helpers/signed-note.ts';

const { origin: ORIGIN, root: ROOT, key, verifier, signedByHand } = handSignedNotes();
const TEXT = `${ORIGIN}\n5\n${ROOT}\n`;

const reason = (want: string) => (err: unknown) => {
  assert.ok(err instanceof CheckpointError, String(err));
  assert.equal(err.reason, want, err.message);
  return true;
};

const WITNESS_SIG = Buffer.alloc(68, 9).toString('base64');

describe('signed notes: key names as Go isValidName (no Unicode space, no "+")', () => {
  const bad: Array<[string, string]> = [
    ['a plus sign', 'a+b'],
    ['a leading plus sign', '+witness'],
    ['U+00A0 no-break space', 'a\u00a0b'],
    ['U+0085 next line', 'a\u0085b'],
    ['U+1680 ogham space mark', 'a\u1680b'],
    ['U+2003 em space', 'a\u2003b'],
    ['U+2028 line separator', 'a\u2028b'],
    ['U+202F narrow no-break space', 'a\u202fb'],
    ['U+3000 ideographic space', 'a\u3000b'],
  ];
  for (const [what, name] of bad) {
    it(`refuses the whole note when an unknown signer's name has ${what}`, () => {
      const note = signedByHand(TEXT, [`\u2014 ${name} ${WITNESS_SIG}\n`]);
      assert.throws(() => parseSignedNote(note), reason('bad-signature-line'));
      assert.throws(() => verifyCheckpoint(note, verifier), reason('bad-signature-line'));
    });
  }

  it('accepts names Go accepts: U+FEFF and U+200B are not Unicode spaces', () => {
    for (const name of ['a\ufeffb', 'a\u200bb', 'witness.example/é']) {
      const note = signedByHand(TEXT, [`\u2014 ${name} ${WITNESS_SIG}\n`]);
      assert.equal(parseSignedNote(note).signatures[1]!.name, name);
      assert.equal(verifyCheckpoint(note, verifier).size, 5);
    }
  });

  it('refuses to sign under a name with "+" or a Unicode space (Go Sign: errInvalidSigner)', () => {
    for (const name of ['a+b', 'a\u00a0b']) {
      assert.throws(
        () => signNote(TEXT, ed25519NoteSigner(name, key.privateKey)),
        reason('bad-signature-line'),
      );
    }
  });
});

describe('signed notes: signatures are padded standard base64 (Go base64.StdEncoding)', () => {
  const bad: Array<[string, string]> = [
    ['unpadded, invalid length (7)', 'AAAAAAA'],
    ['unpadded, 10 characters (7 bytes)', 'AAAAAAAAAA'],
    ['unpadded 68 bytes', WITNESS_SIG.replace(/=+$/, '')],
    ['a missing "=" of two', 'AAAAAAAAAA='],
    ['three "="', 'AAAAAAAAA==='],
    ['"=" in the middle', 'AAAA=AAAAAAA'],
    ['data after the padding', 'AAAAAAAAAA==AAAA'],
    ['URL-safe letters', `${'A'.repeat(8)}-_AA`],
    ['a second space-separated field', `${WITNESS_SIG} extra`],
    ['a trailing space', `${WITNESS_SIG} `],
  ];
  for (const [what, b64] of bad) {
    it(`refuses the whole note for an unknown signer's signature: ${what}`, () => {
      const note = signedByHand(TEXT, [`\u2014 witness.example ${b64}\n`]);
      assert.throws(() => parseSignedNote(note), reason('bad-signature-line'));
      assert.throws(() => verifyCheckpoint(note, verifier), reason('bad-signature-line'));
    });
  }

  it("refuses the log's own line unpadded, though its bytes are the right signature", () => {
    const good = signedByHand(TEXT);
    const unpadded = good.replace(/=\n$/, '\n');
    assert.notEqual(unpadded, good);
    assert.throws(() => verifyCheckpoint(unpadded, verifier), reason('bad-signature-line'));
  });

  it('accepts non-zero bits under the padding, as Go (non-Strict) does', () => {
    // 12 characters, 8 bytes: the last "B" sets a bit below the padding; the bytes are all zero.
    const note = signedByHand(TEXT, ['\u2014 witness.example AAAAAAAAAAB=\n']);
    const sig = parseSignedNote(note).signatures[1]!;
    assert.deepEqual([...sig.keyHash, ...sig.signature], new Array(8).fill(0));
    assert.equal(verifyCheckpoint(note, verifier).size, 5);
  });

  it('still refuses fewer than 5 bytes, and an empty name', () => {
    for (const line of ['\u2014 witness.example AAAAAA==\n', `\u2014  ${WITNESS_SIG}\n`]) {
      assert.throws(() => parseSignedNote(signedByHand(TEXT, [line])), reason('bad-signature-line'));
    }
  });
});

describe('checkpoint root hash: standard base64 of 32 bytes', () => {
  const bad: Array<[string, string]> = [
    ['unpadded', ROOT.replace(/=+$/, '')],
    ['URL-safe', Buffer.alloc(32, 0xfb).toString('base64url') + '='],
    ['extra padding', `${ROOT}=`],
    ['a leading space', ` ${ROOT}`],
    ['33 bytes', Buffer.alloc(33, 7).toString('base64')],
  ];
  for (const [what, root] of bad) {
    it(`refuses a root ${what}`, () => {
      assert.throws(() => parseCheckpointBody(`${ORIGIN}\n5\n${root}\n`), reason('bad-root'));
      assert.throws(() => verifyCheckpoint(signedByHand(`${ORIGIN}\n5\n${root}\n`), verifier));
    });
  }

  it('accepts the canonical root, and non-zero bits under its padding as Go does', () => {
    assert.deepEqual(parseCheckpointBody(TEXT).rootHash, Buffer.alloc(32, 7));
    // "Bwc...Bwc=": the last character carries 4 bits of byte 31 and 2 pad bits; set one of them.
    const loose = `${ROOT.slice(0, 42)}d=`;
    assert.equal(ROOT.slice(42), 'c=');
    assert.deepEqual(parseCheckpointBody(`${ORIGIN}\n5\n${loose}\n`).rootHash, Buffer.alloc(32, 7));
  });
});
