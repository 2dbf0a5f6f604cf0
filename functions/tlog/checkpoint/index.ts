export { decodeStdBase64 } from './base64.ts';
export type { Checkpoint, ParsedCheckpoint } from './checkpoint.ts';
export { formatCheckpointBody, parseCheckpoint, parseCheckpointBody } from './checkpoint.ts';
export { CheckpointError } from './errors.ts';
export type { NoteSigner, NoteVerifier, PublicKeyInput } from './keys.ts';
export {
  ed25519NoteKeyId,
  ed25519NoteSigner,
  ed25519NoteVerifier,
  logKeyVerifyAlgorithm,
  noteVerifierForKey,
  rekorLogId,
  rekorV1NoteSigner,
  rekorV1NoteVerifier,
  spkiDer,
  toPublicKey,
} from './keys.ts';
export type { NoteSignature, SignedNote } from './note.ts';
export { formatSignatureLine, MAX_NOTE_SIGNATURES, parseSignedNote } from './note.ts';
export type { VerifiedCheckpoint } from './verify.ts';
export { signNote, verifyCheckpoint } from './verify.ts';
