import { decodeStdBase64 } from './base64.ts';
import { CheckpointError } from './errors.ts';

/** One signature line of a C2SP signed note: `— <name> <base64(key hash || signature)>`. */
export interface NoteSignature {
  name: string;
  keyHash: Buffer;
  signature: Buffer;
}

export interface SignedNote {
  /** The signed text, including its final newline: exactly the bytes the signatures cover. */
  text: string;
  signatures: NoteSignature[];
}

const SIG_PREFIX = '\u2014 ';
/**
 * What a key name must not hold (c2sp.org/signed-note: "Key names MUST be non-empty and MUST NOT
 * contain any Unicode spaces or plus (U+002B)"): Go's `isValidName` tests `unicode.IsSpace`, which is
 * the Unicode White_Space property (JavaScript's `\s` differs: it takes U+FEFF and not U+0085).
 */
const BAD_NAME = /[\p{White_Space}+]/u;

/**
 * c2sp.org/signed-note: "Verifiers SHOULD apply a maximum limit to the number of signatures in a
 * note [...] but MUST accept at least up to 16 signatures." 100, as Go's sumdb/note: room for a
 * log's keys during a rotation and a witness network's cosignatures, and a bound on the lines parsed.
 */
export const MAX_NOTE_SIGNATURES = 100;

/** Parses a signed note (c2sp.org/signed-note). Throws CheckpointError on any deviation. */
export function parseSignedNote(note: string): SignedNote {
  checkCharacters(note);
  const split = note.lastIndexOf('\n\n');
  if (split < 0)
    throw new CheckpointError('no-separator', 'signed note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0) throw new CheckpointError('no-signatures', 'signed note has no signatures');
  if (!block.endsWith('\n'))
    throw new CheckpointError('malformed', 'signed note does not end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    throw new CheckpointError(
      'too-many-signatures',
      `signed note has ${lines.length} signature lines, more than the ${MAX_NOTE_SIGNATURES} accepted`,
      { signatureLines: lines.length },
    );
  }
  return { text, signatures: lines.map((line) => parseSignatureLine(line)) };
}

/**
 * c2sp.org/signed-note: "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII control
 * characters (those below U+0020) other than newline." A NUL, ESC or tab in an extension line would
 * otherwise reach logs and alerts that print the checkpoint. A lone surrogate has no UTF-8 form.
 */
function checkCharacters(note: string): void {
  const at = firstControlCharacter(note);
  if (at >= 0) {
    const code = `U+${note.charCodeAt(at).toString(16).toUpperCase().padStart(4, '0')}`;
    const message = `signed note contains the control character ${code} at offset ${at}`;
    throw new CheckpointError('malformed', message, { offset: at });
  }
  if (!note.isWellFormed()) throw new CheckpointError('malformed', 'signed note is not valid UTF-8');
}

/** Offset of the first ASCII control character other than newline, or -1. */
function firstControlCharacter(text: string): number {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 && c !== 0x0a) return i;
  }
  return -1;
}

/**
 * One line as Go's sumdb/note `Open` reads it: cut at the first space into name and base64. A bad
 * name or base64 makes the whole note malformed, whoever signed the line, known key or not.
 */
function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIG_PREFIX)) {
    throw new CheckpointError('bad-signature-line', `signature line does not start with an em dash: ${line}`);
  }
  const parts = line.slice(SIG_PREFIX.length).split(' ');
  const name = parts[0]!;
  if (parts.length !== 2 || name === '' || BAD_NAME.test(name)) {
    throw new CheckpointError('bad-signature-line', `malformed signature line: ${line}`);
  }
  const raw = decodeStdBase64(parts[1]!);
  if (raw === undefined) {
    throw new CheckpointError(
      'bad-signature-line',
      `signature is not padded standard base64 in line: ${line}`,
    );
  }
  if (raw.length < 5) throw new CheckpointError('bad-signature-line', `signature too short in line: ${line}`);
  return { name, keyHash: raw.subarray(0, 4), signature: raw.subarray(4) };
}

/** Serialises a signature line for a note. */
export function formatSignatureLine(sig: NoteSignature): string {
  return `${SIG_PREFIX}${sig.name} ${Buffer.concat([sig.keyHash, sig.signature]).toString('base64')}\n`;
}
