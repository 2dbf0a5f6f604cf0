/**
 * The answer of POST /api/v1/log/entries/retrieve, read as retrievedEntriesSchema reads it but
 * without zod: a monitor's scan reads thousands of entries a second, and zod's generic walk, its
 * copy of every object and its regular expression per proof hash were about a sixth of a v1
 * scan's CPU and much of its garbage. The shape checked is the schema's, fields it does not know
 * dropped as it drops them. Two of its checks are made where the values are decoded instead
 * (RekorV1Client.checkEntry), which refuses what the schema refused: the body's canonical base64
 * (decoded once, its re-encoding compared) and the hex digits of the proof's hashes (decoded
 * together, their byte count checked). A signed entry timestamp is checked as base64 where it is
 * verified. test/unit/tlog/rekor-v1-retrieved.test.ts holds both readings to the same verdicts.
 */
import { HASH_SIZE } from '../merkle/hash.ts';
import type { ProofNodes } from '../merkle/verify.ts';
import type { LogEntry } from './types.ts';

/** The entries, one per element of the answer, each with its UUID; or where the answer is malformed. */
export type RetrievedEntries = { ok: true; entries: LogEntry[] } | { ok: false; path: string };

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isHex64 = (v: unknown): v is string => typeof v === 'string' && v.length === 64;

export function retrievedEntries(json: unknown): RetrievedEntries {
  if (!Array.isArray(json)) return { ok: false, path: '(root)' };
  const entries: LogEntry[] = new Array(json.length);
  for (let i = 0; i < json.length; i++) {
    const answer: unknown = json[i];
    if (!isRecord(answer)) return { ok: false, path: `${i}` };
    const uuids = Object.keys(answer);
    // One entry under its UUID: the client's `single` refuses others, as it does for the schema's.
    if (uuids.length !== 1) return { ok: false, path: `${i}` };
    const uuid = uuids[0]!;
    const entry = logEntry(uuid, answer[uuid]);
    if (typeof entry === 'string') return { ok: false, path: `${i}.${uuid}${entry}` };
    entries[i] = entry;
  }
  return { ok: true, entries };
}

/** The entry under `uuid`, or the path (from the entry) of its first fault. */
function logEntry(uuid: string, value: unknown): LogEntry | string {
  if (!isRecord(value)) return '';
  const { logID, logIndex, body, integratedTime, verification } = value;
  if (!isHex64(logID)) return '.logID';
  if (!isIndex(logIndex)) return '.logIndex';
  if (typeof body !== 'string') return '.body';
  if (!Number.isSafeInteger(integratedTime)) return '.integratedTime';
  const entry: LogEntry = { uuid, logID, logIndex, body, integratedTime: integratedTime as number };
  if (verification === undefined) return entry;
  if (!isRecord(verification)) return '.verification';
  const { inclusionProof, signedEntryTimestamp } = verification;
  if (signedEntryTimestamp !== undefined && typeof signedEntryTimestamp !== 'string') {
    return '.verification.signedEntryTimestamp';
  }
  entry.verification = signedEntryTimestamp === undefined ? {} : { signedEntryTimestamp };
  if (inclusionProof === undefined) return entry;
  if (!isRecord(inclusionProof)) return '.verification.inclusionProof';
  const { hashes, rootHash, treeSize, checkpoint } = inclusionProof;
  const at = (field: string) => `.verification.inclusionProof.${field}`;
  if (!isIndex(inclusionProof.logIndex)) return at('logIndex');
  if (!isHex64(rootHash)) return at('rootHash');
  if (!isIndex(treeSize) || treeSize < 1) return at('treeSize');
  if (!Array.isArray(hashes)) return at('hashes');
  for (let k = 0; k < hashes.length; k++) if (!isHex64(hashes[k])) return at(`hashes.${k}`);
  if (checkpoint !== undefined && typeof checkpoint !== 'string') return at('checkpoint');
  entry.verification.inclusionProof = {
    logIndex: inclusionProof.logIndex,
    rootHash,
    treeSize,
    hashes: hashes as string[],
    ...(checkpoint !== undefined ? { checkpoint } : {}),
  };
  return entry;
}

/**
 * Standard padded base64 as Rekor (Go's StdEncoding) writes it, decoded; undefined for any other
 * text, which Buffer.from would decode leniently (skipping what is not base64, URL-safe letters,
 * non-zero trailing bits): its re-encoding differs.
 */
export function canonicalBase64(text: string): Buffer | undefined {
  if (text.length % 4 !== 0) return undefined;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : undefined;
}

/**
 * A proof's hashes (64 hex digits each, as retrievedEntries checked), decoded together: undefined
 * if any is not hex (the decoder stops at the first pair that is not). Each is a view of one buffer,
 * made when the climb reaches it; most climbs stop at a node an earlier entry proved.
 */
export function hexHashes(hex: readonly string[]): ProofNodes | undefined {
  const bytes = Buffer.from(hex.join(''), 'hex');
  if (bytes.length !== hex.length * HASH_SIZE) return undefined;
  return {
    length: hex.length,
    *[Symbol.iterator]() {
      for (let at = 0; at < bytes.length; at += HASH_SIZE) yield bytes.subarray(at, at + HASH_SIZE);
    },
  };
}
