import { decodeStdBase64 } from './base64.ts';
import { CheckpointError } from './errors.ts';
import { parseSignedNote, type SignedNote } from './note.ts';

/** The body of a C2SP tlog-checkpoint. */
export interface Checkpoint {
  origin: string;
  size: number;
  rootHash: Buffer;
  /** Lines after the root hash (Rekor v1 writes `Timestamp: <ns>` here). */
  extensions: string[];
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/** Parses the checkpoint text (the part a signed note signs). */
export function parseCheckpointBody(text: string): Checkpoint {
  if (!text.endsWith('\n'))
    throw new CheckpointError('malformed', 'checkpoint body does not end with a newline');
  const lines = text.slice(0, -1).split('\n');
  if (lines.length < 3)
    throw new CheckpointError('too-few-lines', `checkpoint has ${lines.length} lines, want >= 3`);
  const [origin, sizeLine, rootLine, ...extensions] = lines as [string, string, string, ...string[]];
  if (origin === '') throw new CheckpointError('malformed', 'checkpoint has an empty origin');
  if (!DECIMAL.test(sizeLine))
    throw new CheckpointError('bad-size', `checkpoint size is not a decimal: ${sizeLine}`);
  const size = Number(sizeLine);
  if (!Number.isSafeInteger(size))
    throw new CheckpointError('bad-size', `checkpoint size too large: ${sizeLine}`);
  // Go's checkpoint parsers: base64.StdEncoding (padded), then exactly 32 bytes.
  const rootHash = decodeStdBase64(rootLine);
  if (rootHash === undefined)
    throw new CheckpointError('bad-root', 'checkpoint root hash is not padded standard base64');
  if (rootHash.length !== 32)
    throw new CheckpointError('bad-root', `checkpoint root hash is ${rootHash.length} bytes`);
  if (extensions.some((l) => l === ''))
    throw new CheckpointError('malformed', 'checkpoint has an empty extension line');
  return { origin, size, rootHash, extensions };
}

export function formatCheckpointBody(cp: Checkpoint): string {
  return [cp.origin, String(cp.size), cp.rootHash.toString('base64'), ...cp.extensions].join('\n') + '\n';
}

export interface ParsedCheckpoint {
  checkpoint: Checkpoint;
  note: SignedNote;
}

/** Parses a signed checkpoint without verifying it. */
export function parseCheckpoint(signedNote: string): ParsedCheckpoint {
  const note = parseSignedNote(signedNote);
  return { checkpoint: parseCheckpointBody(note.text), note };
}
