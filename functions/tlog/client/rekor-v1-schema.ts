import { z } from 'zod';
import { type BodyRead, bodyText, readBodyBytes } from './body.ts';
import { LogIntegrityError } from './errors.ts';
import { canonicalBase64 } from './rekor-v1-retrieved.ts';

/**
 * Shapes of Rekor v1 answers, after the definitions in rekor's openapi.yaml (LogInfo, LogEntry,
 * InclusionProof, ConsistencyProof). Fields the client reads are required and typed; fields it
 * ignores (LogInfo.treeID, ConsistencyProof.rootHash) are optional so a private Rekor that omits
 * them still works. Unknown fields of LogInfo and proofs pass; entries drop theirs (below).
 * Values are only shapes here: signatures and proofs are checked by the client.
 */

const sha256Hex = z.string().regex(/^[0-9a-fA-F]{64}$/);

/**
 * Standard, padded base64 as Rekor (Go's StdEncoding) writes it. Checked by a decode and re-encode
 * (SIMD in Node) rather than a regular expression: entry bodies are kilobytes and a scan reads
 * thousands a second. The round trip also refuses non-canonical encodings of the same bytes.
 */
const base64Text = z.string().refine((s) => canonicalBase64(s) !== undefined, 'not base64');
const index = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

// Entries keep only the fields the client reads (z.object strips the rest): an entry is held until
// its batch is processed, and unknown fields a log or CDN adds would be held with it.
export const inclusionProofSchema = z.object({
  logIndex: index,
  rootHash: sha256Hex,
  treeSize: index.min(1),
  hashes: z.array(sha256Hex),
  /** Required in current Rekor; absent from entries of older logs. */
  checkpoint: z.string().optional(),
});

/** One entry, the value under its UUID. `body` is base64 of the canonical entry JSON (openapi calls it an object). */
export const rekorV1EntrySchema = z.object({
  logID: sha256Hex,
  logIndex: index,
  body: base64Text,
  integratedTime: z.number().int().max(Number.MAX_SAFE_INTEGER),
  verification: z
    .object({
      inclusionProof: inclusionProofSchema.optional(),
      signedEntryTimestamp: base64Text.optional(),
    })
    .optional(),
});

/** LogEntry: a map from UUID to entry (one pair for a single-entry answer). */
export const logEntrySchema = z.record(z.string(), rekorV1EntrySchema);

/** Answer of POST /api/v1/log/entries/retrieve: one LogEntry per found entry. */
export const retrievedEntriesSchema = z.array(logEntrySchema);

/** A frozen tree of a sharded log (openapi InactiveShardLogInfo): only its size is relied on. */
export const inactiveShardSchema = z.looseObject({
  treeSize: index,
  rootHash: sha256Hex.optional(),
  signedTreeHead: z.string().optional(),
  treeID: z.string().optional(),
});

export const logInfoSchema = z.looseObject({
  rootHash: sha256Hex,
  treeSize: index,
  signedTreeHead: z.string(),
  treeID: z
    .string()
    .regex(/^[0-9]+$/)
    .optional(),
  /** The shards before the active tree, oldest first (Rekor lists its inactive ranges in order). */
  inactiveShards: z.array(inactiveShardSchema).optional(),
});

export const consistencyProofSchema = z.looseObject({
  rootHash: sha256Hex.optional(),
  hashes: z.array(sha256Hex),
});

/** A JSON answer to read: its byte limit and the most objects and arrays it may hold (limits.ts). */
export interface JsonRead extends BodyRead {
  maxContainers: number;
}

/**
 * Whether `bytes` hold more than `max` of `{` and `[` (inside strings too, so an over-count: honest
 * answers are far below their cap). JSON.parse builds an object for each, and `[{},{},…]` is one
 * for every three bytes: 20 MiB of it is more than the monitor's heap.
 */
function moreContainersThan(bytes: Buffer, max: number): boolean {
  let count = 0;
  for (const bracket of [0x7b, 0x5b]) {
    for (let at = bytes.indexOf(bracket); at !== -1; at = bytes.indexOf(bracket, at + 1)) {
      if (++count > max) return true;
    }
  }
  return false;
}

/**
 * Reads a response body as JSON, at most `read.limit` bytes and `read.maxContainers` objects and
 * arrays (limits.ts). A body that cannot be read is a retryable DependencyError; one past its byte
 * limit LogResponseTooLargeError; one past its containers or not JSON, LogIntegrityError `malformed`.
 */
export async function readJsonValue(res: Response, read: JsonRead): Promise<unknown> {
  const { what } = read;
  const details = read.details ?? {};
  const bytes = await readBodyBytes(res, read);
  if (moreContainersThan(bytes, read.maxContainers)) {
    throw new LogIntegrityError(
      'malformed',
      `the ${what} holds more than ${read.maxContainers} JSON objects and arrays`,
      details,
    );
  }
  const text = bodyText(bytes);
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new LogIntegrityError('malformed', `the ${what} is not JSON`, details, err);
  }
}

/** The LogIntegrityError `malformed` for an answer of the wrong shape, naming where. */
export function malformedAnswer(
  read: JsonRead,
  path: string | undefined,
  cause?: unknown,
): LogIntegrityError {
  const where = path === undefined ? '' : ` at ${path || '(root)'}`;
  return new LogIntegrityError(
    'malformed',
    `the ${read.what} is malformed${where}`,
    read.details ?? {},
    cause,
  );
}

/** readJsonValue, the value then checked against `schema`: one not of its shape is `malformed`. */
export async function readJson<T>(res: Response, schema: z.ZodType<T>, read: JsonRead): Promise<T> {
  const parsed = schema.safeParse(await readJsonValue(res, read));
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw malformedAnswer(read, issue?.path.map(String).join('.'), parsed.error);
  }
  return parsed.data;
}
