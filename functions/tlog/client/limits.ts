/**
 * The most bytes the client reads of each kind of log response (body.ts), counted after fetch has
 * inflated any `Content-Encoding`. Each is what the format lets an honest log send, with a margin where
 * the format has no exact bound: past it the answer is a log fault (LogResponseTooLargeError), not
 * something to buffer. The monitor runs in 256 MiB; a gzip bomb of 300 KiB inflates to 300 MiB.
 */
import { MAX_NOTE_SIGNATURES } from '../checkpoint/note.ts';
import { MAX_BUNDLE_ENTRY } from '../tiles/bundle.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * One signed-note signature line: em dash, key name, base64 of a 4-byte key ID and a signature.
 * c2sp.org/signed-note: "post-quantum signatures can be up to nearly 5kB in size", under 7 KiB in
 * base64 with a key name; Ed25519 and ECDSA lines are about 100 bytes.
 */
const SIGNATURE_LINE_MAX_BYTES = 8 * KiB;

/**
 * A signed checkpoint (c2sp.org/tlog-checkpoint): origin, size and root hash, rare extension lines,
 * and at most MAX_NOTE_SIGNATURES signature lines (800 KiB at their largest): 1 MiB in all. A Rekor
 * checkpoint is under 1 KiB.
 */
export const CHECKPOINT_MAX_BYTES = MAX_NOTE_SIGNATURES * SIGNATURE_LINE_MAX_BYTES + 224 * KiB;

/** c2sp.org/tlog-tiles: "Full tiles MUST be exactly 256 hashes wide, or 8,192 bytes"; a partial one W × 32. */
export function tileMaxBytes(width: number): number {
  return width * 32;
}

/**
 * c2sp.org/tlog-tiles: an entry bundle is its entries, each after a big-endian uint16 length. W
 * entries of at most 65,535 bytes are at most W × 65,537 bytes: 16 MiB for a full bundle. Exact; a
 * Rekor v2 bundle is about 1 MiB (entries of a few KiB).
 */
export function bundleMaxBytes(width: number): number {
  return width * (2 + MAX_BUNDLE_ENTRY);
}

/**
 * Rekor v2's CreateEntry answer (a TransparencyLogEntry): a body that fits an entry bundle (< 64 KiB,
 * 86 KiB in base64), an inclusion proof of at most 64 hashes and the checkpoint it is for. 256 KiB
 * beside the checkpoint's own limit covers the rest several times over.
 */
export const V2_CREATED_ENTRY_MAX_BYTES = CHECKPOINT_MAX_BYTES + 256 * KiB;

/**
 * One Rekor v1 LogEntry (openapi.yaml), as JSON: its body in base64 and its verification (a proof of
 * at most 64 hashes, a checkpoint, a signed entry timestamp). Bodies hold keys, signatures and
 * hashes, kilobytes, but Rekor stores up to 1 MiB of jar signature or apk PKGINFO metadata by default
 * (max_jar_metadata_size, max_apk_metadata_size): 1.4 MiB in base64. 2 MiB leaves the rest margin.
 */
export const V1_ENTRY_MAX_BYTES = 2 * MiB;

/** Entries per POST /api/v1/log/entries/retrieve: Rekor answers at most 10 (SearchLogQuery). */
export const V1_RETRIEVE_BATCH = 10;

/** A retrieve answer: an array of up to V1_RETRIEVE_BATCH LogEntry objects. */
export const V1_RETRIEVED_ENTRIES_MAX_BYTES = V1_RETRIEVE_BATCH * V1_ENTRY_MAX_BYTES;

/**
 * Objects and arrays one v1 LogEntry holds, at most: Rekor writes five ({uuid: {…, verification:
 * {inclusionProof: {hashes: […]}}}}); the rest is margin for fields a newer Rekor adds. JSON.parse
 * builds one object per container, so a cap in bytes alone lets 20 MiB become millions of them.
 */
export const V1_ENTRY_MAX_CONTAINERS = 64;

/** A retrieve answer: the array and its entries. */
export const V1_RETRIEVED_ENTRIES_MAX_CONTAINERS = 1 + V1_RETRIEVE_BATCH * V1_ENTRY_MAX_CONTAINERS;

/**
 * GET /api/v1/log (LogInfo): a root hash, size and tree ID, and a signed tree head for the active
 * tree and for each inactive shard (InactiveShardLogInfo). A Rekor head is one ECDSA-signed note
 * under 1 KiB, and the public log lists a handful of shards: 2 MiB allows thousands of shards, or
 * heads at the checkpoint limit.
 */
export const V1_LOG_INFO_MAX_BYTES = 2 * MiB;

/** LogInfo and an object per inactive shard: thousands of shards, as its byte limit allows. */
export const V1_LOG_INFO_MAX_CONTAINERS = 16_384;

/**
 * GET /api/v1/log/proof (ConsistencyProof): a root hash and O(log n) hashes, fewer than 2 × 63 for
 * any tree below 2^63, each 64 hex digits (8.5 KiB as JSON). 64 KiB allows pretty-printing and
 * unknown fields.
 */
export const V1_CONSISTENCY_PROOF_MAX_BYTES = 64 * KiB;

/** ConsistencyProof: the object and its hash array, with margin for added fields. */
export const V1_CONSISTENCY_PROOF_MAX_CONTAINERS = 64;

/**
 * A 4xx answer's body, of which only the first 200 characters reach a message and a 409's duplicate
 * index is searched for (Rekor's Error is {code, message}): the first 64 KiB are read, the rest
 * dropped, since the answer is already a failure.
 */
export const ERROR_BODY_MAX_BYTES = 64 * KiB;

/**
 * The most a scan holds in log answers at once, all its reads together (read-budget.ts): the
 * per-answer limits above bound one answer, but 32 requests in flight and the batches read ahead
 * could hold 32 × 16 MiB of entry bundles, or 32 × 20 MiB of v1 answers, in a 256 MiB instance
 * whose honest scans already peak at 195–225 MiB (README). Honest answers are far smaller: public
 * Rekor entry bodies are 1–5 KiB (median 1.3 KiB in v2, 1.8 KiB in v1), so a v2 bundle is about
 * 0.35 MiB and at most 0.8, a v1 entry with its proof 5–10 KiB (the emulator's: 0.12 MiB bundles,
 * 2 KiB entries). A scan holds three batches (the one matched, two read ahead) of 16 bundles, 5–13
 * MiB each, or of 1000 v1 entries, 5–10 MiB. A batch may hold half the budget, the batches read
 * ahead the other half: 48 MiB holds that (the typical three times over), a v1 answer at its limit
 * fits a half, and what a hostile log can add to an honest scan's peak stays about 30 MiB.
 */
export const MONITOR_READ_BUDGET_BYTES = 48 * MiB;

/**
 * What an honest Rekor v2 entry bundle holds at most in practice, not a format bound: 256 bodies of
 * 1–5 KiB. A tile log's batches are sized so that this many bytes a bundle fit half the read budget.
 */
export const HONEST_BUNDLE_BYTES = 1 * MiB;
