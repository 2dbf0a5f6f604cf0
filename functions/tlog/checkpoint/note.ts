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
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Parses a signed note (c2sp.org/signed-note). Throws CheckpointError on any deviation. */
export function parseSignedNote(note: string): SignedNote {
  if (note.includes('\r')) throw new CheckpointError('malformed', 'signed note contains a carriage return');
  const split = note.lastIndexOf('\n\n');
  if (split < 0)
    throw new CheckpointError('no-separator', 'signed note has no blank line before its signatures');
  const text = note.slice(0, split + 1);
  const block = note.slice(split + 2);
  if (block.length === 0) throw new CheckpointError('no-signatures', 'signed note has no signatures');
  if (!block.endsWith('\n'))
    throw new CheckpointError('malformed', 'signed note does not end with a newline');
  const signatures = block
    .slice(0, -1)
    .split('\n')
    .map((line) => parseSignatureLine(line));
  return { text, signatures };
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIG_PREFIX)) {
    throw new CheckpointError('bad-signature-line', `signature line does not start with an em dash: ${line}`);
  }
  const parts = line.slice(SIG_PREFIX.length).split(' ');
  if (parts.length !== 2 || parts[0] === '' || !BASE64.test(parts[1]!)) {
    throw new CheckpointError('bad-signature-line', `malformed signature line: ${line}`);
  }
  const raw = Buffer.from(parts[1]!, 'base64');
  if (raw.length < 5) throw new CheckpointError('bad-signature-line', `signature too short in line: ${line}`);
  return { name: parts[0]!, keyHash: raw.subarray(0, 4), signature: raw.subarray(4) };
}

/** Serialises a signature line for a note. */
export function formatSignatureLine(sig: NoteSignature): string {
  return `${SIG_PREFIX}${sig.name} ${Buffer.concat([sig.keyHash, sig.signature]).toString('base64')}\n`;
}
