import { type Checkpoint, parseCheckpoint } from './checkpoint.ts';
import { CheckpointError } from './errors.ts';
import { type NoteSigner, type NoteVerifier, signatureMatches } from './keys.ts';
import { formatSignatureLine, parseSignedNote } from './note.ts';

export interface VerifiedCheckpoint extends Checkpoint {
  /** The exact signed note, kept as evidence. */
  note: string;
}

/**
 * Verifies a signed checkpoint against trusted keys: at least one signature line from a trusted
 * key must be present and every such line must verify (a bad signature under a trusted key hash is
 * an attack or a fault, not something to skip). Lines from unknown keys (witnesses) are ignored.
 */
export function verifyCheckpoint(
  signedNote: string,
  trusted: NoteVerifier | readonly NoteVerifier[],
): VerifiedCheckpoint {
  const verifiers = Array.isArray(trusted) ? trusted : [trusted as NoteVerifier];
  const { checkpoint, note } = parseCheckpoint(signedNote);
  const message = Buffer.from(note.text, 'utf8');
  // Rekor v1 signs as its host name, the origin's first word; keys given without a name use it.
  const defaultName = checkpoint.origin.split(' ')[0]!;
  let verified = 0;
  for (const sig of note.signatures) {
    const v = verifiers.find((candidate) => signatureMatches(candidate, sig, defaultName));
    if (v === undefined) continue;
    if (!v.verify(message, sig.signature)) {
      throw new CheckpointError('bad-signature', `checkpoint signature by ${sig.name} does not verify`, {
        origin: checkpoint.origin,
        treeSize: checkpoint.size,
      });
    }
    verified++;
  }
  if (verified === 0) {
    throw new CheckpointError('untrusted', 'checkpoint carries no signature from a trusted key', {
      origin: checkpoint.origin,
      treeSize: checkpoint.size,
      signers: note.signatures.map((s) => `${s.name}/${s.keyHash.toString('hex')}`),
    });
  }
  return { ...checkpoint, note: signedNote };
}

/** Signs note text (which must end in a newline) with one or more signers. */
export function signNote(text: string, signers: NoteSigner | readonly NoteSigner[]): string {
  const list = Array.isArray(signers) ? signers : [signers as NoteSigner];
  if (!text.endsWith('\n')) throw new CheckpointError('malformed', 'note text must end with a newline');
  const message = Buffer.from(text, 'utf8');
  const lines = list.map((s) =>
    formatSignatureLine({ name: s.name, keyHash: s.keyHash, signature: s.sign(message) }),
  );
  const note = `${text}\n${lines.join('')}`;
  parseSignedNote(note);
  return note;
}
