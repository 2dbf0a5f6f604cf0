import { createPublicKey, type KeyObject, verify } from 'node:crypto';
import { parseCheckpoint } from '../checkpoint/checkpoint.ts';
import { CheckpointError } from '../checkpoint/errors.ts';
import { logKeyVerifyAlgorithm, rekorLogId, rekorV1NoteVerifier } from '../checkpoint/keys.ts';
import { type VerifiedCheckpoint, verifyCheckpoint } from '../checkpoint/verify.ts';
import { canonicalJson } from '../entries/canonical.ts';
import { MerkleProofError } from '../merkle/errors.ts';
import { HASH_SIZE, hashLeaf } from '../merkle/hash.ts';
import { ProvenNodes, verifyConsistency, verifyInclusion } from '../merkle/verify.ts';
import { LogIntegrityError } from './errors.ts';
import { type HttpOptions, LogHttpError, request } from './http.ts';
import {
  V1_CONSISTENCY_PROOF_MAX_BYTES,
  V1_CONSISTENCY_PROOF_MAX_CONTAINERS,
  V1_ENTRY_MAX_BYTES,
  V1_ENTRY_MAX_CONTAINERS,
  V1_LOG_INFO_MAX_BYTES,
  V1_LOG_INFO_MAX_CONTAINERS,
  V1_RETRIEVE_BATCH,
  V1_RETRIEVED_ENTRIES_MAX_BYTES,
  V1_RETRIEVED_ENTRIES_MAX_CONTAINERS,
} from './limits.ts';
import { logFetch } from './node-fetch.ts';
import { canonicalBase64, hexHashes, retrievedEntries } from './rekor-v1-retrieved.ts';
import {
  consistencyProofSchema,
  logEntrySchema,
  logInfoSchema,
  malformedAnswer,
  readJson,
  readJsonValue,
  rekorV1EntrySchema,
} from './rekor-v1-schema.ts';
import type { LogEntry, RekorV1Entry } from './types.ts';

/**
 * Log info: the verified current checkpoint and the frozen shards before its tree, oldest first,
 * each tree with the global log index of its first entry (`indexOffset`).
 */
export interface RekorV1LogInfo {
  checkpoint: VerifiedCheckpoint;
  /** Global log index of the checkpoint's tree's first entry: the inactive shards' sizes summed. */
  indexOffset: number;
  inactiveShards: InactiveShard[];
}

/** A frozen tree of a sharded Rekor v1, as its log info lists it. */
export interface InactiveShard {
  treeSize: number;
  /** Global log index of its first entry. */
  indexOffset: number;
  /** Its checkpoint origin (`<host> - <tree ID>`), from its signed tree head when readable. */
  origin?: string;
  /**
   * Its final signed tree head, when that verifies under the log's key and agrees with the listed
   * size and root: what its entries are proven against, and what a checkpoint verified of that tree
   * while it was active must be consistent with.
   */
  checkpoint?: VerifiedCheckpoint;
  /** Why there is no `checkpoint`: nothing can be proven in this tree. */
  unverified?: string;
}

export interface RekorV1ClientOptions {
  baseUrl: string;
  /** The log's public key (PEM or KeyObject): checkpoints, SETs and log IDs are checked against it. */
  logKey: string | KeyObject;
  timeoutMs?: number;
  retries?: number;
  /** Parallel batch requests when reading ranges. */
  concurrency?: number;
  /** How requests are made; by default logFetch (node-fetch.ts), which redirects do not pass. */
  fetch?: typeof fetch;
}

const BATCH = V1_RETRIEVE_BATCH; // Rekor's limit per retrieve request
/** A Rekor v1 checkpoint origin: the host, then the Trillian tree ID (openapi's treeID pattern). */
const TREE_ORIGIN = /^(.+) - ([0-9]+)$/;
const fromHex = (h: string): Buffer => Buffer.from(h, 'hex');

/**
 * A Rekor v1 entry UUID is the hex RFC 6962 leaf hash of the entry's body; an entry ID is the same
 * after a 16-hex-digit tree ID. openapi.yaml's entryUUID pattern admits either case of hex digit.
 */
const ENTRY_UUID = /^(?:[0-9a-fA-F]{16})?([0-9a-fA-F]{64})$/;

/** The leaf hash an entry UUID or entry ID names; undefined when it is of neither form. */
function leafHashOfUuid(uuid: string): Buffer | undefined {
  const match = ENTRY_UUID.exec(uuid);
  return match === null ? undefined : fromHex(match[1]!);
}

/**
 * Client for a Rekor v1 log that trusts nothing the log says without checking it: checkpoints
 * are signature-checked, entries are checked against their SET and inclusion proof, and new
 * checkpoints must be consistent with the last trusted one.
 */
export class RekorV1Client {
  readonly logId: Buffer;
  private readonly base: string;
  private readonly key: KeyObject;
  private readonly http: HttpOptions;
  private readonly concurrency: number;
  // Built once: exporting the key to DER for every entry cost more than verifying it.
  private readonly noteVerifier: ReturnType<typeof rekorV1NoteVerifier>;
  // Most entries of a batch carry the same checkpoint: each note text is verified once.
  private readonly verifiedNotes = new Map<string, VerifiedCheckpoint>();

  constructor(opts: RekorV1ClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.key = typeof opts.logKey === 'string' ? createPublicKey(opts.logKey) : opts.logKey;
    this.logId = rekorLogId(this.key);
    this.noteVerifier = rekorV1NoteVerifier(this.key);
    this.http = {
      timeoutMs: opts.timeoutMs ?? 10_000,
      retries: opts.retries ?? 2,
      fetch: opts.fetch ?? logFetch,
    };
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
  }

  /**
   * Appends a proposed entry; an equivalent existing entry (409) is fetched instead, by the UUID
   * the log names, and must be the entry that UUID identifies. Verified.
   */
  async append(proposed: unknown): Promise<LogEntry> {
    let entry: LogEntry;
    try {
      const url = `${this.base}/api/v1/log/entries`;
      const res = await request(
        url,
        { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(proposed) },
        this.http,
      );
      entry = single(
        await readJson(res, logEntrySchema, {
          what: 'created entry',
          url,
          limit: V1_ENTRY_MAX_BYTES,
          maxContainers: V1_ENTRY_MAX_CONTAINERS,
        }),
      );
    } catch (err) {
      if (!(err instanceof LogHttpError && err.status === 409 && err.location !== undefined)) throw err;
      const uuid = err.location.split('/').pop() ?? '';
      // The log's own answer: a Location that names no entry is the log's fault, not the caller's.
      if (leafHashOfUuid(uuid) === undefined) {
        throw new LogIntegrityError(
          'malformed',
          `the log's 409 Location names no entry UUID: ${err.location}`,
          {
            location: err.location,
          },
        );
      }
      return this.getEntryByUuid(uuid); // verified there, against the UUID
    }
    this.verifyEntry(entry);
    return entry;
  }

  /** Fetches the current checkpoint and checks its signature and that log info agrees with it. */
  async getCheckpoint(): Promise<VerifiedCheckpoint> {
    return (await this.getLogInfo()).checkpoint;
  }

  /**
   * The current checkpoint (as getCheckpoint) and the frozen shards listed before it, oldest first:
   * a sharded Rekor numbers entries across shards, so a tree's first entry has the global log index
   * of the sizes of the shards before it (Rekor's VirtualLogIndex), computed here for each tree.
   * Each shard's origin is read from its signed tree head when it has a readable one; that head is
   * also verified, and kept when it verifies under the log's key. A shard whose head does not
   * (missing, unreadable, signed by another key) is still listed, without it and with the reason:
   * nothing can be proven in that tree. A verified head contradicting the listed size or root, or a
   * tree listed twice, is the log contradicting itself: LogIntegrityError.
   */
  async getLogInfo(): Promise<RekorV1LogInfo> {
    const url = `${this.base}/api/v1/log`;
    const res = await request(url, {}, this.http);
    const info = await readJson(res, logInfoSchema, {
      what: 'log info',
      url,
      limit: V1_LOG_INFO_MAX_BYTES,
      maxContainers: V1_LOG_INFO_MAX_CONTAINERS,
    });
    const cp = this.verifyNote(info.signedTreeHead, {});
    if (cp.size !== info.treeSize || cp.rootHash.toString('hex') !== info.rootHash) {
      throw new LogIntegrityError('log-info-mismatch', 'log info disagrees with its own signed checkpoint', {
        treeSize: info.treeSize,
        checkpointSize: cp.size,
      });
    }
    let indexOffset = 0;
    // A shard whose head cannot be read is named from its listed tree ID, in the form the log's
    // origins take (`<host> - <tree ID>`, the host from the active tree's).
    const host = TREE_ORIGIN.exec(cp.origin)?.[1];
    const inactiveShards = (info.inactiveShards ?? []).map((shard): InactiveShard => {
      const first = indexOffset;
      indexOffset += shard.treeSize;
      const listed: InactiveShard = {
        treeSize: shard.treeSize,
        indexOffset: first,
        ...(host !== undefined && shard.treeID !== undefined ? { origin: `${host} - ${shard.treeID}` } : {}),
      };
      if (shard.signedTreeHead === undefined)
        return { ...listed, unverified: 'it is listed without a signed tree head' };
      let origin: string;
      try {
        origin = parseCheckpoint(shard.signedTreeHead).checkpoint.origin;
      } catch (err) {
        return { ...listed, unverified: `its signed tree head cannot be read: ${(err as Error).message}` };
      }
      let checkpoint: VerifiedCheckpoint;
      try {
        checkpoint = this.verifyNote(shard.signedTreeHead, { inactiveShardOrigin: origin });
      } catch (err) {
        if (!(err instanceof LogIntegrityError && err.reason === 'bad-checkpoint')) throw err;
        // Named by its listed tree ID when it has one: the unverified note's own origin is the
        // log's word alone, and the tree must be found under the same name once its head verifies.
        return {
          ...listed,
          origin: listed.origin ?? origin,
          unverified: `its signed tree head (origin "${origin}") does not verify under the log's key`,
        };
      }
      // Signed by the log, and contradicting what the log lists beside it: the log contradicting
      // itself, as an active tree's info disagreeing with its own checkpoint is. Its entries' global
      // indexes (the listed sizes summed) cannot be trusted either.
      if (
        checkpoint.size !== shard.treeSize ||
        (shard.rootHash !== undefined && checkpoint.rootHash.toString('hex') !== shard.rootHash)
      ) {
        throw new LogIntegrityError(
          'log-info-mismatch',
          `log info lists the inactive shard "${origin}" at another size or root than its own signed tree head`,
          { inactiveShardOrigin: origin, treeSize: shard.treeSize, checkpointSize: checkpoint.size },
        );
      }
      return { ...listed, origin, checkpoint };
    });
    const origins = [...inactiveShards.map((s) => s.origin), cp.origin].filter((o) => o !== undefined);
    // The first origin met again, in one pass over the listing (a log may list thousands of trees).
    const met = new Set<string>();
    const twice = origins.find((o) => {
      if (met.has(o)) return true;
      met.add(o);
      return false;
    });
    if (twice !== undefined) {
      throw new LogIntegrityError('log-info-mismatch', `log info lists the tree "${twice}" twice`, {
        treeSize: info.treeSize,
      });
    }
    if (!Number.isSafeInteger(indexOffset)) {
      throw new LogIntegrityError('malformed', 'log info lists inactive shards larger than a log can be', {
        treeSize: info.treeSize,
      });
    }
    return { checkpoint: cp, indexOffset, inactiveShards };
  }

  /**
   * Proves `next` extends `trusted` (fetching a consistency proof). Throws LogIntegrityError on a
   * shrunk tree, a fork (split view) or a bad proof.
   */
  async verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void> {
    const details = { trustedSize: trusted.size, newSize: next.size };
    if (next.size < trusted.size) {
      throw new LogIntegrityError('shrunk', `log shrank from ${trusted.size} to ${next.size}`, details);
    }
    if (trusted.size === 0) return;
    let hashes: string[] = [];
    if (next.size > trusted.size) {
      // A sharded Rekor answers for its active tree unless told which: a tree named by its origin
      // (`<host> - <tree ID>`) is asked for by ID, so a frozen shard's proof is that shard's.
      const treeId = TREE_ORIGIN.exec(next.origin)?.[2];
      const tree =
        treeId !== undefined && TREE_ORIGIN.exec(trusted.origin)?.[2] === treeId ? `&treeID=${treeId}` : '';
      const url = `${this.base}/api/v1/log/proof?firstSize=${trusted.size}&lastSize=${next.size}${tree}`;
      const res = await request(url, {}, this.http);
      const read = {
        what: 'consistency proof',
        url,
        limit: V1_CONSISTENCY_PROOF_MAX_BYTES,
        maxContainers: V1_CONSISTENCY_PROOF_MAX_CONTAINERS,
        details,
      };
      hashes = (await readJson(res, consistencyProofSchema, read)).hashes;
    }
    try {
      verifyConsistency(trusted.size, next.size, hashes.map(fromHex), trusted.rootHash, next.rootHash);
    } catch (err) {
      if (!(err instanceof MerkleProofError)) throw err;
      throw new LogIntegrityError(
        'inconsistent',
        `checkpoint of size ${next.size} does not extend size ${trusted.size}`,
        details,
        err,
      );
    }
  }

  async getEntryByIndex(logIndex: number): Promise<LogEntry> {
    const url = `${this.base}/api/v1/log/entries?logIndex=${logIndex}`;
    const res = await request(url, {}, this.http);
    const read = {
      what: `entry ${logIndex}`,
      url,
      limit: V1_ENTRY_MAX_BYTES,
      maxContainers: V1_ENTRY_MAX_CONTAINERS,
      details: { logIndex },
    };
    const entry = single(await readJson(res, logEntrySchema, read));
    this.verifyEntry(entry, logIndex);
    return entry;
  }

  /**
   * Fetches the entry an entry UUID (64 hex digits) or entry ID (tree ID + UUID, 80) names. The
   * answer must be that entry: its UUID names the same leaf hash (the tree ID is not compared),
   * and that leaf hash is its body's (checkEntry).
   */
  async getEntryByUuid(uuid: string): Promise<LogEntry> {
    const url = `${this.base}/api/v1/log/entries/${encodeURIComponent(uuid)}`;
    const res = await request(url, {}, this.http);
    const read = {
      what: `entry ${uuid}`,
      url,
      limit: V1_ENTRY_MAX_BYTES,
      maxContainers: V1_ENTRY_MAX_CONTAINERS,
      details: { uuid },
    };
    const entry = single(await readJson(res, logEntrySchema, read));
    const wrongEntry = (cause?: unknown) =>
      new LogIntegrityError(
        'wrong-uuid',
        `asked for entry ${uuid}, got ${entry.uuid} (log index ${entry.logIndex})`,
        { logIndex: entry.logIndex, uuid: entry.uuid, requestedUuid: uuid },
        cause,
      );
    // Verified first, so an answer whose proofs fail is reported as such; one that passes is a
    // genuine entry of the log, named by its leaf hash, and must still be the one asked for.
    try {
      this.verifyEntry(entry);
    } catch (err) {
      if (err instanceof LogIntegrityError && err.reason === 'uuid-not-leaf-hash') throw wrongEntry(err);
      throw err;
    }
    const requested = leafHashOfUuid(uuid);
    if (requested === undefined || !requested.equals(leafHashOfUuid(entry.uuid)!)) throw wrongEntry();
    return entry;
  }

  /**
   * Reads entries [start, end) with batched retrieve requests, at most `concurrency` in flight,
   * each entry verified. When `checkpoint` is given each inclusion proof must be for its root.
   */
  getEntries(start: number, end: number, checkpoint?: VerifiedCheckpoint): Promise<LogEntry[]> {
    return this.readEntries(start, end, checkpoint, false, (e) => e);
  }

  /**
   * Reads entries [start, end) for a scan: each checked as getEntries checks it, and handed to
   * `keep` as soon as its answer is checked. The signed entry timestamps' signatures are left to the
   * caller (verifySignedEntryTimestamp): a scan proves every entry's inclusion and needs a trusted
   * time only for the few entries it reports, and the ECDSA check is most of a scan's CPU. A scan holds
   * thousands of entries while the rest of its range is read; what it holds of each is what `keep`
   * returns, so the answer's proof hashes and base64 bodies die young instead of being copied by
   * each minor GC they outlive (most of a v1 scan's GC time).
   */
  scanEntries<T>(start: number, end: number, keep: (entry: LogEntry, body: Buffer) => T): Promise<T[]> {
    return this.readEntries(start, end, undefined, true, keep);
  }

  private async readEntries<T>(
    start: number,
    end: number,
    checkpoint: VerifiedCheckpoint | undefined,
    deferTimestamps: boolean,
    keep: (entry: LogEntry, body: Buffer) => T,
  ): Promise<T[]> {
    const batches: number[][] = [];
    for (let i = start; i < end; i += BATCH) {
      batches.push(Array.from({ length: Math.min(BATCH, end - i) }, (_, k) => i + k));
    }
    const out: T[][] = new Array(batches.length);
    const proven = new Map<string, ProvenNodes>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < batches.length) {
        const b = next++;
        const indexes = batches[b]!;
        const url = `${this.base}/api/v1/log/entries/retrieve`;
        const res = await request(
          url,
          {
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify({ logIndexes: indexes }),
          },
          this.http,
        );
        const read = {
          what: 'retrieved entries',
          url,
          limit: V1_RETRIEVED_ENTRIES_MAX_BYTES,
          maxContainers: V1_RETRIEVED_ENTRIES_MAX_CONTAINERS,
          details: { logIndex: indexes[0] },
        };
        const answer = retrievedEntries(await readJsonValue(res, read));
        if (!answer.ok) throw malformedAnswer(read, answer.path);
        const list = answer.entries;
        if (list.length !== indexes.length) {
          throw new LogIntegrityError(
            'missing-entries',
            `log returned ${list.length} of ${indexes.length} entries`,
            {
              logIndex: indexes[0],
            },
          );
        }
        // Already of the entry shape (retrievedEntries): checked, not parsed again.
        const kept: T[] = new Array(list.length);
        for (const [k, e] of list.entries()) {
          kept[k] = keep(e, this.checkEntry(e, indexes[k], checkpoint, proven, deferTimestamps));
        }
        out[b] = kept;
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, batches.length) }, worker));
    return out.flat();
  }

  /**
   * Checks an entry: log ID, signed entry timestamp, inclusion proof against its checkpoint (whose
   * signature is checked) or against `checkpoint` when given, and that its uuid is its body's leaf
   * hash (an entry ID's tree-ID prefix allowed).
   */
  verifyEntry(entry: LogEntry, expectedIndex?: number, checkpoint?: VerifiedCheckpoint): void {
    // Entries may come from elsewhere than this client's reads (bundles, stored records): the
    // shape is checked before any field is used, so a non-string body never reaches canonicalJson.
    const shape = rekorV1EntrySchema.safeParse(entry);
    if (!shape.success) {
      const issue = shape.error.issues[0];
      throw new LogIntegrityError(
        'malformed',
        `entry is malformed at ${issue?.path.map(String).join('.') ?? '(root)'}`,
        { logIndex: typeof entry?.logIndex === 'number' ? entry.logIndex : undefined, uuid: entry?.uuid },
        shape.error,
      );
    }
    this.checkEntry(entry, expectedIndex, checkpoint);
  }

  /**
   * The log's signature over the entry and its integratedTime (the signed entry timestamp). The
   * Merkle leaf covers only the body, so the time an entry claims rests on this signature alone.
   */
  verifySignedEntryTimestamp(entry: LogEntry): void {
    const details = { logIndex: entry.logIndex, uuid: entry.uuid };
    const set = entry.verification?.signedEntryTimestamp;
    if (set === undefined) {
      throw new LogIntegrityError('no-set', `entry ${entry.logIndex} has no signed entry timestamp`, details);
    }
    const payload = canonicalJson({
      body: entry.body,
      integratedTime: entry.integratedTime,
      logID: entry.logID,
      logIndex: entry.logIndex,
    });
    const signature = canonicalBase64(set);
    if (signature === undefined) {
      throw new LogIntegrityError(
        'malformed',
        `entry ${entry.logIndex}'s signed entry timestamp is not base64`,
        details,
      );
    }
    if (!verify(logKeyVerifyAlgorithm(this.key), Buffer.from(payload), this.key, signature)) {
      throw new LogIntegrityError(
        'bad-set',
        `entry ${entry.logIndex} has an invalid signed entry timestamp`,
        details,
      );
    }
  }

  /**
   * verifyEntry for an entry already of the schema's shape; returns its decoded body. `proven`
   * (per tree, shared by the entries of one read) lets consecutive entries' inclusion proofs stop
   * at nodes already proven.
   */
  private checkEntry(
    entry: LogEntry,
    expectedIndex: number | undefined,
    checkpoint: VerifiedCheckpoint | undefined,
    proven?: Map<string, ProvenNodes>,
    deferTimestamp = false,
  ): Buffer {
    const logIndex = entry.logIndex;
    const details = { logIndex, uuid: entry.uuid };
    if (expectedIndex !== undefined && logIndex !== expectedIndex) {
      throw new LogIntegrityError(
        'wrong-index',
        `asked for entry ${expectedIndex}, got ${logIndex}`,
        details,
      );
    }
    if (entry.logID !== this.logId.toString('hex')) {
      throw new LogIntegrityError('wrong-log', `entry ${logIndex} is from log ${entry.logID}`, details);
    }
    if (entry.verification?.signedEntryTimestamp === undefined)
      throw new LogIntegrityError('no-set', `entry ${logIndex} has no signed entry timestamp`, details);
    if (!deferTimestamp) this.verifySignedEntryTimestamp(entry);
    const proof = entry.verification?.inclusionProof;
    if (proof === undefined)
      throw new LogIntegrityError('no-proof', `entry ${logIndex} has no inclusion proof`, details);
    // No check that proof.logIndex equals logIndex: on a sharded Rekor (the public one) the entry's
    // index is global and the proof's is within the active shard's tree.
    let root = fromHex(proof.rootHash);
    const hashes = hexHashes(proof.hashes);
    if (root.length !== HASH_SIZE || hashes === undefined) {
      throw new LogIntegrityError(
        'malformed',
        `entry ${logIndex}'s inclusion proof holds a hash that is not hex`,
        details,
      );
    }
    if (checkpoint !== undefined) {
      if (proof.treeSize !== checkpoint.size || !root.equals(checkpoint.rootHash)) {
        throw new LogIntegrityError(
          'proof-for-other-tree',
          `entry ${logIndex} is proven against another tree`,
          details,
        );
      }
    } else {
      if (proof.checkpoint === undefined)
        throw new LogIntegrityError('no-checkpoint', `entry ${logIndex} has no checkpoint`, details);
      const cp = this.verifyNote(proof.checkpoint, details);
      if (cp.size !== proof.treeSize || !cp.rootHash.equals(root)) {
        throw new LogIntegrityError(
          'proof-checkpoint-mismatch',
          `entry ${logIndex}'s proof disagrees with its checkpoint`,
          details,
        );
      }
      root = cp.rootHash;
    }
    // Decoded once, for the leaf hash and for the caller; one encoding per body (canonical).
    const body = canonicalBase64(entry.body);
    if (body === undefined) {
      throw new LogIntegrityError('malformed', `entry ${logIndex}'s body is not base64`, details);
    }
    const leaf = hashLeaf(body);
    try {
      let nodes: ProvenNodes | undefined;
      if (proven !== undefined) {
        const tree = `${proof.treeSize}:${proof.rootHash}`;
        nodes = proven.get(tree) ?? new ProvenNodes(proof.treeSize, root);
        proven.set(tree, nodes);
      }
      verifyInclusion(proof.logIndex, proof.treeSize, leaf, hashes, root, nodes);
    } catch (err) {
      if (!(err instanceof MerkleProofError)) throw err;
      throw new LogIntegrityError(
        'bad-inclusion-proof',
        `entry ${logIndex} is not included in the tree it claims`,
        details,
        err,
      );
    }
    // Last, so the leaf hashed for the proof serves here too. The UUID is what callers record and
    // look entries up by: one that names another leaf would point them at another entry.
    const named = leafHashOfUuid(entry.uuid);
    if (named === undefined || !named.equals(leaf)) {
      throw new LogIntegrityError(
        'uuid-not-leaf-hash',
        `entry ${logIndex}'s uuid ${entry.uuid} is not its body's leaf hash ${leaf.toString('hex')}`,
        { ...details, leafHash: leaf.toString('hex') },
      );
    }
    return body;
  }

  private verifyNote(note: string, details: Record<string, unknown>): VerifiedCheckpoint {
    const known = this.verifiedNotes.get(note);
    if (known !== undefined) return known;
    try {
      const verified = verifyCheckpoint(note, this.noteVerifier);
      if (this.verifiedNotes.size >= 64) this.verifiedNotes.clear();
      this.verifiedNotes.set(note, verified);
      return verified;
    } catch (err) {
      if (!(err instanceof CheckpointError)) throw err;
      throw new LogIntegrityError(
        'bad-checkpoint',
        `checkpoint rejected: ${err.message}`,
        { ...details, ...err.details },
        err,
      );
    }
  }
}

function single(data: Record<string, RekorV1Entry>): LogEntry {
  const pairs = Object.entries(data);
  if (pairs.length !== 1) throw new LogIntegrityError('malformed', `expected one entry, got ${pairs.length}`);
  const [uuid, entry] = pairs[0]!;
  return { ...entry, uuid };
}
