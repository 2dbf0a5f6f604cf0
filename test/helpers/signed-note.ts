/**
 * Notes a log really signed, assembled by hand, for the tests of what the signed-note and checkpoint
 * parsers refuse (functions/tlog/checkpoint): the lines a test adds are written as given, never
 * formatted or parsed on the way.
 *
 *   const { origin: ORIGIN, root: ROOT, verifier, signedByHand } = handSignedNotes();
 *   verifyCheckpoint(signedByHand(`${ORIGIN}\n5\n${ROOT}\n`, ['\u2014 witness.example AAAA\n']), verifier);
 */
import { generateKeyPairSync } from 'node:crypto';
import {
  ed25519NoteSigner,
  ed25519NoteVerifier,
  formatSignatureLine,
} from '../../functions/tlog/checkpoint/index.ts';

/**
 * A log of origin `log.example` with a fresh Ed25519 note key (`key`, and its note `signer` and
 * `verifier`), and a tree root for its checkpoints (32 bytes of 7, standard base64).
 */
export function handSignedNotes() {
  const origin = 'log.example';
  const key = generateKeyPairSync('ed25519');
  const signer = ed25519NoteSigner(origin, key.privateKey);
  const verifier = ed25519NoteVerifier(origin, key.publicKey);
  const root = Buffer.alloc(32, 7).toString('base64');
  /** The log's own good signature over `text`, then `extra` lines as given. */
  const signedByHand = (text: string, extra: string[] = []): string => {
    const line = formatSignatureLine({
      name: signer.name,
      keyHash: signer.keyHash,
      signature: signer.sign(Buffer.from(text, 'utf8')),
    });
    return `${text}\n${line}${extra.join('')}`;
  };
  return { origin, key, signer, verifier, root, signedByHand };
}
