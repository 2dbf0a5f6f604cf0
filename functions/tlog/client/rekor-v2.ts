import { createHash, type KeyObject } from 'node:crypto';
import { publicKeyDetailsFromJSON, publicKeyDetailsToJSON } from '@sigstore/protobuf-specs';
import { decodeStdBase64 } from '../checkpoint/base64.ts';
import { CheckpointError } from '../checkpoint/errors.ts';
import {
  ed25519NoteKeyId,
  ed25519NoteVerifier,
  type PublicKeyInput,
  toPublicKey,
} from '../checkpoint/keys.ts';
import { type VerifiedCheckpoint, verifyCheckpoint } from '../checkpoint/verify.ts';
import { MerkleProofError } from '../merkle/errors.ts';
import { HASH_SIZE, hashLeaf, hashLeafInto } from '../merkle/hash.ts';
import { consistencyProof, inclusionProof } from '../merkle/proofs.ts';
import { verifyConsistency, verifyInclusion } from '../merkle/verify.ts';
import { parseEntryBundle } from '../tiles/bundle.ts';
import { entryBundlePath, TILE_WIDTH, tilePath, tileWidth } from '../tiles/path.ts';
import { TiledTree, type TileKey } from '../tiles/reader.ts';
import { type BodyRead, readBodyBytes, readBodyText } from './body.ts';
import { LogIntegrityError } from './errors.ts';
import { type HttpOptions, LogHttpError, request } from './http.ts';
import { bundleMaxBytes, CHECKPOINT_MAX_BYTES, tileMaxBytes, V2_CREATED_ENTRY_MAX_BYTES } from './limits.ts';
import { logFetch } from './node-fetch.ts';

export interface RekorV2ClientOptions {
  /** Write API base: `POST <baseUrl>/api/v2/log/entries`. */
  baseUrl: string;
  /**
   * The log's Ed25519 checkpoint key: PEM, KeyObject, DER SubjectPublicKeyInfo or the raw 32 bytes.
   * Other key types (rekor-tiles can sign with ECDSA, RSA, ML-DSA) are refused with a TypeError.
   */
  logKey: PublicKeyInput;
  /** Checkpoint origin and signed-note key name; defaults to the host name of `baseUrl`, as the public logs use. */
  origin?: string;
  /** tlog-tiles prefix (`<readUrl>/checkpoint`, `<readUrl>/tile/...`); defaults to `baseUrl`. */
  readUrl?: string;
  timeoutMs?: number;
  retries?: number;
  /** Entry bundles fetched in parallel when reading ranges. */
  concurrency?: number;
  /** How requests are made; by default logFetch (node-fetch.ts), which redirects do not pass. */
  fetch?: typeof fetch;
}

/** A hashedrekord v0.0.2 request: a signature over a digest, with exactly one of key or certificate. */
export interface HashedRekordV002Input {
  digest: Buffer;
  signature: Buffer;
  /** sigstore PublicKeyDetails name, e.g. `PKIX_ECDSA_P256_SHA_256`. */
  keyDetails: string;
  publicKeyDer?: Buffer;
  certificateDer?: Buffer;
}

/** A Rekor v2 TransparencyLogEntry, decoded (int64 as numbers, bytes as Buffers). */
export interface RekorV2Entry {
  logIndex: number;
  logId: Buffer;
  kindVersion: { kind: string; version: string };
  integratedTime: number | undefined;
  canonicalizedBody: Buffer;
  inclusionProof:
    | { logIndex: number; treeSize: number; rootHash: Buffer; hashes: Buffer[]; checkpoint: string }
    | undefined;
}

/** One entry read from an entry bundle, checked against its tile and the checkpoint. */
export interface TiledEntry {
  logIndex: number;
  body: Buffer;
  leafHash: Buffer;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

function int(value: unknown, what: string): number {
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new LogIntegrityError('malformed', `${what} is not a non-negative integer`);
  }
  return n;
}

function bytes(value: unknown, what: string): Buffer {
  if (typeof value !== 'string') throw new LogIntegrityError('malformed', `${what} is not base64`);
  return Buffer.from(value, 'base64');
}

function str(value: unknown, what: string): string {
  if (typeof value !== 'string') throw new LogIntegrityError('malformed', `${what} is not a string`);
  return value;
}

/** An entry body's kind and apiVersion; LogIntegrityError naming the index if it is not a JSON object. */
function bodyKind(body: Buffer, logIndex: number): { kind?: unknown; apiVersion?: unknown } {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    json = undefined;
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new LogIntegrityError('malformed', `entry ${logIndex} body is not a JSON object`, { logIndex });
  }
  const { kind, apiVersion } = json as { kind?: unknown; apiVersion?: unknown };
  return { kind, apiVersion };
}

/** A field deep inside decoded JSON, or undefined. */
function at(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** Decodes a TransparencyLogEntry in its protobuf JSON form (what rekor-tiles answers and bundles hold). */
export function parseTransparencyLogEntry(json: unknown): RekorV2Entry {
  const proof = at(json, 'inclusionProof');
  const hashes = at(proof, 'hashes') ?? [];
  if (!Array.isArray(hashes)) throw new LogIntegrityError('malformed', 'inclusionProof.hashes is not a list');
  return {
    logIndex: int(at(json, 'logIndex'), 'logIndex'),
    logId: bytes(at(json, 'logId', 'keyId'), 'logId.keyId'),
    kindVersion: {
      kind: str(at(json, 'kindVersion', 'kind'), 'kindVersion.kind'),
      version: str(at(json, 'kindVersion', 'version'), 'kindVersion.version'),
    },
    integratedTime:
      at(json, 'integratedTime') === undefined
        ? undefined
        : int(at(json, 'integratedTime'), 'integratedTime'),
    canonicalizedBody: bytes(at(json, 'canonicalizedBody'), 'canonicalizedBody'),
    inclusionProof:
      proof === null || proof === undefined
        ? undefined
        : {
            logIndex: int(at(proof, 'logIndex'), 'inclusionProof.logIndex'),
            treeSize: int(at(proof, 'treeSize'), 'inclusionProof.treeSize'),
            rootHash: bytes(at(proof, 'rootHash'), 'inclusionProof.rootHash'),
            hashes: hashes.map((h, i) => bytes(h, `inclusionProof.hashes[${i}]`)),
            checkpoint: str(at(proof, 'checkpoint', 'envelope') ?? '', 'inclusionProof.checkpoint.envelope'),
          },
  };
}

/** The protobuf JSON form of an entry, for a Sigstore bundle's verificationMaterial.tlogEntries. */
export function transparencyLogEntryJson(entry: RekorV2Entry): Record<string, unknown> {
  const p = entry.inclusionProof;
  return {
    logIndex: String(entry.logIndex),
    logId: { keyId: b64(entry.logId) },
    kindVersion: entry.kindVersion,
    ...(entry.integratedTime === undefined ? {} : { integratedTime: String(entry.integratedTime) }),
    ...(p === undefined
      ? {}
      : {
          inclusionProof: {
            logIndex: String(p.logIndex),
            rootHash: b64(p.rootHash),
            treeSize: String(p.treeSize),
            hashes: p.hashes.map(b64),
            checkpoint: { envelope: p.checkpoint },
          },
        }),
    canonicalizedBody: b64(entry.canonicalizedBody),
  };
}

/**
 * The log key as a KeyObject; a TypeError unless it is Ed25519. rekor-tiles can also sign with
 * ECDSA, RSA and ML-DSA keys (its pkg/note): their note key IDs differ per type (SHA-256 of the DER
 * for ECDSA, a named hash for RSA), the signing hash is the deployment's choice (KMS), and ML-DSA
 * signs a tlog-cosignature message. Those private deployments are not supported.
 */
function ed25519LogKey(logKey: PublicKeyInput): KeyObject {
  const key = toPublicKey(logKey);
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new TypeError(
      `a Rekor v2 log key must be Ed25519, as the public Sigstore logs' are; this key is ` +
        `${key.asymmetricKeyType}: rekor-tiles logs with ECDSA, RSA or ML-DSA keys are not supported`,
    );
  }
  return key;
}

/**
 * Verifies a Rekor v2 checkpoint: an Ed25519 signed note by the log key under `origin`, whose
 * origin line is `origin`. Throws CheckpointError; a TypeError for a key that is not Ed25519.
 */
export function verifyRekorV2Checkpoint(
  note: string,
  logKey: PublicKeyInput,
  origin: string,
): VerifiedCheckpoint {
  const cp = verifyCheckpoint(note, ed25519NoteVerifier(origin, ed25519LogKey(logKey)));
  if (cp.origin !== origin) {
    throw new CheckpointError('wrong-origin', `checkpoint origin ${cp.origin} is not ${origin}`, {
      origin: cp.origin,
    });
  }
  return cp;
}

/**
 * Client for a Rekor v2 (rekor-tiles) log that trusts nothing the log says without checking it:
 * checkpoints are signature-checked; proofs are computed here from tiles and must reproduce the
 * signed root; entries read from bundles must hash to authenticated tiles; new checkpoints must
 * be consistent with the last trusted one.
 */
export class RekorV2Client {
  readonly origin: string;
  /** Signed-note key ID of (origin, key): what the log puts in TransparencyLogEntry.logId. */
  readonly logId: Buffer;
  private readonly base: string;
  private readonly read: string;
  private readonly key: KeyObject;
  private readonly http: HttpOptions;
  private readonly concurrency: number;
  private readonly tiles: TiledTree;

  constructor(opts: RekorV2ClientOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, '');
    this.read = (opts.readUrl ?? opts.baseUrl).replace(/\/+$/, '');
    this.key = ed25519LogKey(opts.logKey);
    this.origin = opts.origin ?? new URL(this.base).hostname;
    this.logId = ed25519NoteKeyId(this.origin, this.key);
    this.http = {
      timeoutMs: opts.timeoutMs ?? 10_000,
      retries: opts.retries ?? 2,
      fetch: opts.fetch ?? logFetch,
    };
    this.concurrency = Math.max(1, opts.concurrency ?? 4);
    this.tiles = new TiledTree((key) => this.fetchTile(key));
  }

  /** Appends a hashedrekord v0.0.2 entry; the log verifies the signature. The answer is verified. */
  append(input: HashedRekordV002Input): Promise<RekorV2Entry> {
    if ((input.publicKeyDer === undefined) === (input.certificateDer === undefined)) {
      throw new TypeError('give exactly one of publicKeyDer and certificateDer');
    }
    const verifier =
      input.publicKeyDer !== undefined
        ? { publicKey: { rawBytes: b64(input.publicKeyDer) }, keyDetails: input.keyDetails }
        : { x509Certificate: { rawBytes: b64(input.certificateDer!) }, keyDetails: input.keyDetails };
    return this.createEntry({
      hashedRekordRequestV002: {
        digest: b64(input.digest),
        signature: { content: b64(input.signature), verifier },
      },
    });
  }

  /**
   * Sends a CreateEntryRequest (protobuf JSON). An equivalent entry already in the log (409) is
   * read back from the tiles with a proof computed here. Either way the entry is verified.
   */
  async createEntry(createEntryRequest: Record<string, unknown>): Promise<RekorV2Entry> {
    let entry: RekorV2Entry;
    try {
      const url = `${this.base}/api/v2/log/entries`;
      const res = await request(
        url,
        {
          method: 'POST',
          headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
          body: JSON.stringify(createEntryRequest),
        },
        this.http,
      );
      const text = await readBodyText(res, { what: 'created entry', url, limit: V2_CREATED_ENTRY_MAX_BYTES });
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (parseErr) {
        throw new LogIntegrityError('malformed', 'the created entry is not JSON', {}, parseErr);
      }
      entry = parseTransparencyLogEntry(json);
    } catch (err) {
      if (!(err instanceof LogHttpError && err.status === 409)) throw err;
      const header = err.headers.get('x-log-index') ?? /with index (\d+)/.exec(err.body)?.[1];
      if (header === undefined) throw err;
      entry = await this.entryFromTiles(int(header, 'x-log-index'));
      if (!sameRequest(createEntryRequest, entry.canonicalizedBody)) {
        throw new LogIntegrityError(
          'wrong-duplicate',
          `log names entry ${entry.logIndex} as a duplicate of another`,
          {
            logIndex: entry.logIndex,
          },
        );
      }
    }
    this.verifyEntry(entry);
    return entry;
  }

  /** Fetches `<prefix>/checkpoint` and checks its signature, key name and origin. */
  async getCheckpoint(): Promise<VerifiedCheckpoint> {
    const url = `${this.read}/checkpoint`;
    const res = await request(url, {}, this.http);
    return this.verifyNote(
      await readBodyText(res, { what: 'checkpoint', url, limit: CHECKPOINT_MAX_BYTES }),
      {},
    );
  }

  /**
   * Proves `next` extends `trusted` with a consistency proof computed from `next`'s tiles. Throws
   * LogIntegrityError on a shrunk tree, a fork (split view) or tiles that do not prove it.
   */
  async verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void> {
    const details = { trustedSize: trusted.size, newSize: next.size };
    if (next.size < trusted.size) {
      throw new LogIntegrityError('shrunk', `log shrank from ${trusted.size} to ${next.size}`, details);
    }
    if (trusted.size === 0) return;
    const proof =
      next.size === trusted.size
        ? []
        : await this.tiles.compute(next.size, (r) => consistencyProof(r, trusted.size, next.size));
    try {
      verifyConsistency(trusted.size, next.size, proof, trusted.rootHash, next.rootHash);
    } catch (err) {
      if (!(err instanceof MerkleProofError)) throw err;
      this.tiles.clear();
      throw new LogIntegrityError(
        'inconsistent',
        `checkpoint of size ${next.size} does not extend size ${trusted.size}`,
        details,
        err,
      );
    }
  }

  /**
   * The inclusion proof of entry `logIndex` in `checkpoint`'s tree, computed from tiles and checked
   * against the checkpoint's root together with the leaf hash the level-0 tile holds.
   */
  async proveInclusion(
    logIndex: number,
    checkpoint: VerifiedCheckpoint,
  ): Promise<{ leafHash: Buffer; hashes: Buffer[] }> {
    if (!Number.isSafeInteger(logIndex) || logIndex < 0 || logIndex >= checkpoint.size) {
      throw new RangeError(`entry ${logIndex} is not in a tree of ${checkpoint.size}`);
    }
    const { leaves, hashes } = await this.provenLeaves(logIndex, 1, checkpoint);
    return { leafHash: leaves[0]!, hashes };
  }

  /**
   * Leaf hashes [logIndex, logIndex + count) of one level-0 tile and the inclusion proof of the
   * first, read in one computation (the same tile bytes) and checked against the checkpoint's root.
   * `tileLeaves`, the whole tile's leaf hashes (an entry bundle's), are read in place of the log's
   * tile, which is then not fetched.
   */
  private async provenLeaves(
    logIndex: number,
    count: number,
    checkpoint: VerifiedCheckpoint,
    tileLeaves?: Buffer,
  ): Promise<{ leaves: Buffer[]; hashes: Buffer[] }> {
    const index = Math.floor(logIndex / TILE_WIDTH);
    const supplied = tileLeaves && {
      key: { level: 0, index, width: tileWidth(0, index, checkpoint.size) },
      hashes: tileLeaves,
    };
    const { leaves, hashes } = await this.tiles.compute(
      checkpoint.size,
      (r) => ({
        // Views of the tile's bytes, which the proof below authenticates; not copied.
        leaves: Array.from({ length: count }, (_, k) => {
          const leaf = r.node(0, logIndex + k);
          return Buffer.from(leaf.buffer, leaf.byteOffset, leaf.byteLength);
        }),
        hashes: inclusionProof(r, logIndex, checkpoint.size).map((h) => Buffer.from(h)),
      }),
      supplied,
    );
    const leafHash = leaves[0]!;
    try {
      verifyInclusion(logIndex, checkpoint.size, leafHash, hashes, checkpoint.rootHash);
    } catch (err) {
      if (!(err instanceof MerkleProofError)) throw err;
      this.tiles.clear();
      throw new LogIntegrityError(
        'bad-tile',
        `tiles for entry ${logIndex} do not reproduce the root of size ${checkpoint.size}`,
        { logIndex, treeSize: checkpoint.size },
        err,
      );
    }
    return { leaves, hashes };
  }

  /** Raw bytes of a hash tile (width 256 for a full one), length-checked but not authenticated. */
  getTile(level: number, index: number, width = TILE_WIDTH): Promise<Buffer> {
    return this.fetchTile({ level, index, width });
  }

  /**
   * Reads entries [start, end) of `checkpoint`'s tree from entry bundles, at most `concurrency`
   * bundles in flight. Each bundle's leaf hashes must reproduce the checkpoint's root with the
   * upper tiles; when they do not, the log's level-0 tile is read to name the entry at fault.
   */
  async getEntries(start: number, end: number, checkpoint: VerifiedCheckpoint): Promise<TiledEntry[]> {
    if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start <= end)) {
      throw new RangeError(`bad entry range [${start}, ${end})`);
    }
    if (end > checkpoint.size) throw new RangeError(`entry range ends past the tree size ${checkpoint.size}`);
    if (start === end) return [];
    const first = Math.floor(start / TILE_WIDTH);
    const last = Math.floor((end - 1) / TILE_WIDTH);
    const out: TiledEntry[][] = new Array(last - first + 1);
    let next = first;
    const worker = async (): Promise<void> => {
      while (next <= last) {
        const n = next++;
        const entries = await this.readBundle(n, checkpoint);
        out[n - first] = entries.filter((e) => e.logIndex >= start && e.logIndex < end);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, last - first + 1) }, worker));
    return out.flat();
  }

  /**
   * Checks an entry offline: log ID, kind and version against its body, the checkpoint's signature
   * and origin, and the inclusion proof against the checkpoint's root. Returns the checkpoint.
   */
  verifyEntry(entry: RekorV2Entry): VerifiedCheckpoint {
    const logIndex = entry.logIndex;
    const details = { logIndex };
    if (!entry.logId.equals(this.logId)) {
      throw new LogIntegrityError('wrong-log', `entry ${logIndex} is from log ${b64(entry.logId)}`, details);
    }
    const body = bodyKind(entry.canonicalizedBody, logIndex);
    if (body.kind !== entry.kindVersion.kind || body.apiVersion !== entry.kindVersion.version) {
      throw new LogIntegrityError(
        'kind-mismatch',
        `entry ${logIndex} kind/version disagree with its body`,
        details,
      );
    }
    const proof = entry.inclusionProof;
    if (proof === undefined)
      throw new LogIntegrityError('no-proof', `entry ${logIndex} has no inclusion proof`, details);
    if (proof.checkpoint === '')
      throw new LogIntegrityError('no-checkpoint', `entry ${logIndex} has no checkpoint`, details);
    const cp = this.verifyNote(proof.checkpoint, details);
    if (cp.size !== proof.treeSize || !cp.rootHash.equals(proof.rootHash) || proof.logIndex !== logIndex) {
      throw new LogIntegrityError(
        'proof-checkpoint-mismatch',
        `entry ${logIndex}'s proof disagrees with its checkpoint`,
        details,
      );
    }
    try {
      verifyInclusion(logIndex, proof.treeSize, hashLeaf(entry.canonicalizedBody), proof.hashes, cp.rootHash);
    } catch (err) {
      if (!(err instanceof MerkleProofError)) throw err;
      throw new LogIntegrityError(
        'bad-inclusion-proof',
        `entry ${logIndex} is not included in the tree it claims`,
        details,
        err,
      );
    }
    return cp;
  }

  private async readBundle(n: number, checkpoint: VerifiedCheckpoint): Promise<TiledEntry[]> {
    const width = tileWidth(0, n, checkpoint.size);
    const base = n * TILE_WIDTH;
    const bodies = await this.fetchBundle(n, width);
    if (bodies.length !== width) {
      throw new LogIntegrityError(
        'missing-entries',
        `entry bundle ${n} holds ${bodies.length} of ${width} entries`,
        {
          logIndex: base,
        },
      );
    }
    // The leaf hashes are written into one tile-shaped buffer, each entry's a view of it.
    const tile = Buffer.allocUnsafe(width * HASH_SIZE);
    const leafHashes = bodies.map((body, k) => {
      hashLeafInto(body, tile, k * HASH_SIZE);
      return tile.subarray(k * HASH_SIZE, (k + 1) * HASH_SIZE);
    });
    // The bundle's leaf hashes are, by definition, its level-0 tile: they are proven against the
    // checkpoint's root as a fetched tile would be (the first leaf's proof covers every other
    // leaf), so a scan never fetches level-0 tiles, half of its requests to the log.
    try {
      await this.provenLeaves(base, 1, checkpoint, tile); // the first leaf's proof covers all
    } catch (err) {
      if (!(err instanceof LogIntegrityError && err.reason === 'bad-tile')) throw err;
      await this.locateBadEntry(n, width, leafHashes, checkpoint);
    }
    return bodies.map((body, k) => ({ logIndex: base + k, body, leafHash: leafHashes[k]! }));
  }

  /**
   * A bundle whose leaves do not reproduce the root: either the bundle or the upper tiles are
   * wrong. The log's own level-0 tile, authenticated afresh, tells which, and names the entry.
   */
  private async locateBadEntry(
    n: number,
    width: number,
    leafHashes: Buffer[],
    checkpoint: VerifiedCheckpoint,
  ): Promise<never> {
    const base = n * TILE_WIDTH;
    // The failed proof cleared the cached tiles: these are read afresh. A bad tile throws bad-tile.
    const { leaves } = await this.provenLeaves(base, width, checkpoint);
    const details = { treeSize: checkpoint.size };
    const k = leafHashes.findIndex((h, i) => !h.equals(leaves[i]!));
    if (k >= 0) {
      throw new LogIntegrityError(
        'bad-inclusion-proof',
        `entry ${base + k} does not hash to its leaf in the tree`,
        { logIndex: base + k, ...details },
      );
    }
    // Every leaf matches a tile that proves: the upper tiles read the first time were others,
    // so the log served two different tile sets for one signed tree.
    throw new LogIntegrityError(
      'bad-tile',
      `tiles for entry bundle ${n} changed between reads of the tree of size ${checkpoint.size}`,
      { logIndex: base, ...details },
    );
  }

  private async entryFromTiles(logIndex: number): Promise<RekorV2Entry> {
    const cp = await this.getCheckpoint();
    if (logIndex >= cp.size) {
      throw new LogIntegrityError(
        'missing-entries',
        `log names entry ${logIndex} beyond its size ${cp.size}`,
        {
          logIndex,
        },
      );
    }
    const [entry] = await this.getEntries(logIndex, logIndex + 1, cp);
    const { hashes } = await this.proveInclusion(logIndex, cp);
    const body = bodyKind(entry!.body, logIndex);
    if (typeof body.kind !== 'string' || typeof body.apiVersion !== 'string') {
      throw new LogIntegrityError('malformed', `entry ${logIndex} body names no kind and apiVersion`, {
        logIndex,
      });
    }
    return {
      logIndex,
      logId: this.logId,
      kindVersion: { kind: body.kind, version: body.apiVersion },
      integratedTime: undefined,
      canonicalizedBody: entry!.body,
      inclusionProof: { logIndex, treeSize: cp.size, rootHash: cp.rootHash, hashes, checkpoint: cp.note },
    };
  }

  /**
   * The bytes at `path` under the read URL, at most `limit` of them (LogResponseTooLargeError past
   * it); a failed request or read is a DependencyError.
   */
  private async fetchBytes(path: string, read: Omit<BodyRead, 'url'>): Promise<Buffer> {
    const url = `${this.read}/${path}`;
    const res = await request(url, {}, this.http);
    return readBodyBytes(res, { ...read, url });
  }

  /**
   * A partial tile or bundle, or, once the log has deleted it, the first `width` items of the full
   * one: tlog-tiles lets a log delete a partial once the full one exists (Tessera does, within a
   * minute) and has clients fall back to the full one. Whatever comes back is proven by the caller.
   */
  private async fetchPartial<T>(
    width: number,
    fetch: (width: number) => Promise<T>,
    firstOf: (full: T) => T,
  ): Promise<T> {
    try {
      return await fetch(width);
    } catch (err) {
      if (!(width < TILE_WIDTH && err instanceof LogHttpError && err.status === 404)) throw err;
      return firstOf(await fetch(TILE_WIDTH));
    }
  }

  /** The entries of bundle `n` of a tree whose bundle holds `width` of them. */
  private fetchBundle(n: number, width: number): Promise<Buffer[]> {
    const details = { logIndex: n * TILE_WIDTH };
    return this.fetchPartial(
      width,
      async (w) => {
        const bytes = await this.fetchBytes(entryBundlePath(n, w), {
          what: `entry bundle ${n}`,
          limit: bundleMaxBytes(w),
          details,
        });
        try {
          return parseEntryBundle(bytes, w);
        } catch (err) {
          throw new LogIntegrityError('malformed', `entry bundle ${n} is malformed`, details, err);
        }
      },
      // A full bundle with fewer entries than the partial is caught by the caller's count.
      (full) => full.slice(0, width),
    );
  }

  private async fetchTile(key: TileKey): Promise<Buffer> {
    const tile = await this.fetchPartial(
      key.width,
      // A tile is exactly 32 bytes a hash: the read stops past what the width asked for holds.
      (w) =>
        this.fetchBytes(tilePath(key.level, key.index, w), {
          what: `tile ${key.level}/${key.index}`,
          limit: tileMaxBytes(w),
          details: { level: key.level, index: key.index },
        }),
      (full) => (full.length === TILE_WIDTH * 32 ? full.subarray(0, key.width * 32) : full),
    );
    if (tile.length !== key.width * 32) {
      throw new LogIntegrityError(
        'bad-tile',
        `tile ${key.level}/${key.index} is ${tile.length} bytes, want ${key.width * 32}`,
        {
          level: key.level,
          index: key.index,
        },
      );
    }
    return tile;
  }

  private verifyNote(note: string, details: Record<string, unknown>): VerifiedCheckpoint {
    try {
      return verifyRekorV2Checkpoint(note, this.key, this.origin);
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

/** A field of a protobuf JSON message under its JSON name or its proto name: protojson reads either. */
function field(o: unknown, json: string, proto: string): unknown {
  return at(o, json) ?? at(o, proto);
}

/** Bytes of a request field: protojson reads standard or URL-safe base64, padded or not. */
function requestBytes(value: unknown): Buffer | undefined {
  if (typeof value !== 'string' || !/^[A-Za-z0-9+/_-]*={0,2}$/.test(value)) return undefined;
  return Buffer.from(value, 'base64'); // Node's decoder takes the URL-safe letters too
}

/** Whether request bytes equal bytes the log stored, which it writes as padded standard base64. */
function sameBytes(requested: unknown, stored: unknown): boolean {
  const a = requestBytes(requested);
  const b = typeof stored === 'string' ? decodeStdBase64(stored) : undefined;
  return a !== undefined && b !== undefined && a.equals(b);
}

/** A PublicKeyDetails value by its name: protojson reads the name or the number, and writes the name. */
function keyDetailsName(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value !== 'number') return undefined;
  try {
    return publicKeyDetailsToJSON(publicKeyDetailsFromJSON(value));
  } catch {
    return undefined;
  }
}

/**
 * Whether a request's Verifier and a stored one are the same: both a public key or both a
 * certificate, with the same raw bytes and the same key details.
 */
function sameVerifier(requested: unknown, stored: unknown): boolean {
  const details = keyDetailsName(field(requested, 'keyDetails', 'key_details'));
  if (details === undefined || details !== at(stored, 'keyDetails')) return false;
  const key = field(requested, 'publicKey', 'public_key');
  const cert = field(requested, 'x509Certificate', 'x509_certificate');
  if ((key === undefined) === (cert === undefined)) return false;
  const [mine, theirs, other] =
    key !== undefined
      ? [key, at(stored, 'publicKey'), at(stored, 'x509Certificate')]
      : [cert, at(stored, 'x509Certificate'), at(stored, 'publicKey')];
  return other === undefined && sameBytes(field(mine, 'rawBytes', 'raw_bytes'), at(theirs, 'rawBytes'));
}

/** hashedrekord v0.0.2: the stored entry is the request's digest and signature, verifier included. */
function sameHashedRekord(hr: unknown, stored: unknown): boolean {
  return (
    sameBytes(at(hr, 'digest'), at(stored, 'data', 'digest')) &&
    sameBytes(at(hr, 'signature', 'content'), at(stored, 'signature', 'content')) &&
    sameVerifier(at(hr, 'signature', 'verifier'), at(stored, 'signature', 'verifier'))
  );
}

/**
 * dsse v0.0.2: rekor-tiles stores SHA-256 of the payload and each envelope signature with the
 * request's verifier that verified it (pkg/types/dsse ToLogEntry), in no set order.
 */
function sameDsse(ds: unknown, stored: unknown): boolean {
  const payload = requestBytes(at(ds, 'envelope', 'payload'));
  const sigs = at(ds, 'envelope', 'signatures');
  const verifiers = at(ds, 'verifiers');
  const storedSigs = at(stored, 'signatures');
  if (payload === undefined || !Array.isArray(sigs) || !Array.isArray(verifiers)) return false;
  if (!Array.isArray(storedSigs) || storedSigs.length !== sigs.length) return false;
  const payloadHash = createHash('sha256').update(payload).digest().toString('base64');
  if (at(stored, 'payloadHash', 'algorithm') !== 'SHA2_256') return false;
  if (!sameBytes(payloadHash, at(stored, 'payloadHash', 'digest'))) return false;
  const unmatched = sigs.map((s) => requestBytes(at(s, 'sig')));
  return storedSigs.every((s) => {
    const k = unmatched.findIndex(
      (sig) => sig !== undefined && sameBytes(sig.toString('base64'), at(s, 'content')),
    );
    if (k < 0) return false;
    unmatched.splice(k, 1);
    return verifiers.some((v) => sameVerifier(v, at(s, 'verifier')));
  });
}

/**
 * Whether a stored entry body is the one a request makes. rekor-tiles finds duplicates by the
 * whole canonicalised entry (Rekor v2 spec), so an entry with another verifier, digest, signature
 * or payload is not the request's, whatever the log says. A request of another kind matches nothing.
 */
function sameRequest(req: Record<string, unknown>, body: Buffer): boolean {
  let entry: unknown;
  try {
    entry = JSON.parse(body.toString('utf8'));
  } catch {
    return false;
  }
  if (at(entry, 'apiVersion') !== '0.0.2') return false;
  const hr = field(req, 'hashedRekordRequestV002', 'hashed_rekord_request_v0_0_2');
  if (hr !== undefined) {
    return (
      at(entry, 'kind') === 'hashedrekord' && sameHashedRekord(hr, at(entry, 'spec', 'hashedRekordV002'))
    );
  }
  const ds = field(req, 'dsseRequestV002', 'dsse_request_v0_0_2');
  if (ds !== undefined) return at(entry, 'kind') === 'dsse' && sameDsse(ds, at(entry, 'spec', 'dsseV002'));
  return false;
}
