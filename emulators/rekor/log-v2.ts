import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { formatCheckpointBody } from '../../functions/tlog/checkpoint/checkpoint.ts';
import { ed25519NoteKeyId, ed25519NoteSigner } from '../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../functions/tlog/checkpoint/verify.ts';
import { hashLeaf } from '../../functions/tlog/merkle/hash.ts';
import { encodeEntryBundle, MAX_BUNDLE_ENTRY, parseEntryBundle } from '../../functions/tlog/tiles/bundle.ts';
import { TILE_HEIGHT, TILE_WIDTH, tileWidth } from '../../functions/tlog/tiles/path.ts';
import { GRPC_ALREADY_EXISTS, GRPC_INVALID_ARGUMENT, grpcError } from './errors.ts';
import type { FaultController } from './faults.ts';
import { acceptCreateEntryRequest } from './kinds-v2.ts';
import type { LogStore } from './store.ts';

export interface V2LogOptions {
  /** The v2 tree: its own store, apart from v1's. */
  store: LogStore;
  /** Ed25519 checkpoint key, as the public v2 instances use. */
  key: KeyObject;
  /** Checkpoint origin and signed-note key name (the public log uses its host, log2025-1.rekor.sigstore.dev). */
  origin: string;
  faults: FaultController;
  now?: () => number;
}

const b64 = (b: Uint8Array): string => Buffer.from(b).toString('base64');

/** Flips a byte of the last hash: the tile still parses, but no longer hashes to the tree. */
function corruptLastHash(tile: Buffer): Buffer {
  const out = Buffer.from(tile);
  out[out.length - 1] = out[out.length - 1]! ^ 0xff;
  return out;
}

/** Another artifact digest in the same entry: what a log rewriting history would serve. */
function rewriteBody(body: Buffer): Buffer {
  const text = body.toString('utf8');
  const changed = text.replace(
    /"digest":"[A-Za-z0-9+/]/,
    (m) => `${m.slice(0, -1)}${m.endsWith('A') ? 'B' : 'A'}`,
  );
  return Buffer.from(changed === text ? `${text} ` : changed);
}

/** Bounded map for immutable tiles and bundles, oldest out first. */
class ImmutableCache {
  private readonly map = new Map<string, Buffer>();
  private readonly limit: number;
  constructor(limit: number) {
    this.limit = limit;
  }
  get(key: string): Buffer | undefined {
    return this.map.get(key);
  }
  set(key: string, value: Buffer): void {
    if (this.map.size >= this.limit) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, value);
  }
}

/**
 * Rekor v2 (rekor-tiles) semantics over a LogStore: CreateEntry answers a TransparencyLogEntry
 * with an inclusion proof and checkpoint (no SET), and the tree is read through C2SP tlog-tiles.
 * Every append is integrated at once (rekor-tiles batches for up to a second; the wire is the same).
 */
export class RekorV2Log {
  /** Log ID: the full SHA-256 signed-note key ID of the checkpoint key, as rekor-tiles returns it. */
  readonly logId: Buffer;
  readonly origin: string;
  private readonly opts: V2LogOptions;
  private readonly rogueKey: KeyObject = generateKeyPairSync('ed25519').privateKey;
  private readonly cache = new ImmutableCache(4096);
  private cached: { size: number; note: string } | undefined;

  constructor(opts: V2LogOptions) {
    this.opts = opts;
    this.origin = opts.origin;
    this.logId = ed25519NoteKeyId(opts.origin, opts.key);
  }

  get size(): number {
    return this.opts.store.size;
  }

  private servedSize(): number {
    return Math.max(0, this.opts.store.size - (this.opts.faults.current.shrinkBy ?? 0));
  }

  /** The signed checkpoint (c2sp.org/tlog-checkpoint, no extension lines), after any fault. */
  checkpoint(size = this.servedSize()): { note: string; rootHash: Buffer } {
    const faults = this.opts.faults.current;
    let rootHash = Buffer.from(this.opts.store.root(size));
    if (faults.splitView) rootHash = createHash('sha256').update('fork').update(rootHash).digest();
    const body = formatCheckpointBody({ origin: this.origin, size, rootHash, extensions: [] });
    if (faults.wrongCheckpointKey) {
      return { note: signNote(body, ed25519NoteSigner(this.origin, this.rogueKey)), rootHash };
    }
    if (faults.splitView)
      return { note: signNote(body, ed25519NoteSigner(this.origin, this.opts.key)), rootHash };
    if (this.cached?.size !== size) {
      this.cached = { size, note: signNote(body, ed25519NoteSigner(this.origin, this.opts.key)) };
    }
    return { note: this.cached.note, rootHash };
  }

  /** CreateEntry: validates and verifies the request, appends it, answers the TransparencyLogEntry JSON. */
  create(request: unknown): Record<string, unknown> {
    const accepted = acceptCreateEntryRequest(request);
    if (accepted.body.length > MAX_BUNDLE_ENTRY) {
      throw grpcError(400, GRPC_INVALID_ARGUMENT, 'invalid entry');
    }
    const existing = this.opts.store.indexOfLeaf(hashLeaf(accepted.body));
    if (existing !== undefined) {
      // rekor-tiles' DuplicateError, with the index in the forwarded x-log-index header.
      throw grpcError(
        409,
        GRPC_ALREADY_EXISTS,
        `an equivalent entry already exists in the transparency log with index ${existing}`,
        { 'x-log-index': String(existing) },
      );
    }
    const now = this.opts.now?.() ?? Date.now();
    const stored = this.opts.store.append(accepted.body, {
      integratedTime: Math.floor(now / 1000),
      keys: [],
    });
    const size = Math.max(this.servedSize(), stored.logIndex + 1);
    const { note, rootHash } = this.checkpoint(size);
    let hashes: Buffer[] = this.opts.store.inclusionProof(stored.logIndex, size).map((h) => Buffer.from(h));
    if (this.opts.faults.current.wrongInclusionProof) {
      hashes = hashes.length === 0 ? [createHash('sha256').update('injected').digest()] : hashes;
      hashes[0] = corruptLastHash(hashes[0]!);
    }
    // protojson with EmitUnpopulated: int64 as strings, bytes as base64, unset messages as null.
    return {
      logIndex: String(stored.logIndex),
      logId: { keyId: b64(this.logId) },
      kindVersion: { kind: accepted.kind, version: accepted.version },
      integratedTime: String(stored.integratedTime),
      inclusionPromise: null,
      inclusionProof: {
        logIndex: String(stored.logIndex),
        rootHash: b64(rootHash),
        treeSize: String(size),
        hashes: hashes.map(b64),
        checkpoint: { envelope: note },
      },
      canonicalizedBody: b64(accepted.body),
    };
  }

  /**
   * Hash tile `index` at tile level `level`, `width` hashes wide (256 = full), or undefined when
   * the tree does not hold that many yet. Partial tiles of every width up to the current one are
   * served: each tree size had a checkpoint, the one returned with its entry.
   */
  tile(level: number, index: number, width: number): Buffer | undefined {
    if (width > tileWidth(level, index, this.opts.store.size)) return undefined;
    const key = `${level}/${index}/${width}`;
    let tile = this.cache.get(key);
    if (tile === undefined) {
      const nodes: Uint8Array[] = [];
      for (let i = 0; i < width; i++)
        nodes.push(this.opts.store.node(level * TILE_HEIGHT, index * TILE_WIDTH + i));
      tile = Buffer.concat(nodes);
      this.cache.set(key, tile);
    }
    const faults = this.opts.faults.current;
    if (level === 0 && faults.wrongInclusionProof) return corruptLastHash(tile);
    if (level > 0 && faults.wrongConsistencyProof) return corruptLastHash(tile);
    return tile;
  }

  /** Entry bundle `index`, `width` entries wide: the canonicalized bodies, as rekor-tiles stores them. */
  entryBundle(index: number, width: number): Buffer | undefined {
    if (width > tileWidth(0, index, this.opts.store.size)) return undefined;
    const key = `entries/${index}/${width}`;
    let bundle = this.cache.get(key);
    if (bundle === undefined) {
      const bodies: Buffer[] = [];
      for (let i = 0; i < width; i++) bodies.push(this.opts.store.get(index * TILE_WIDTH + i)!.body);
      bundle = encodeEntryBundle(bodies);
      this.cache.set(key, bundle);
    }
    const rewrite = this.opts.faults.current.rewriteEntry;
    if (rewrite !== undefined && rewrite >= index * TILE_WIDTH && rewrite < index * TILE_WIDTH + width) {
      const bodies = parseEntryBundle(bundle);
      bodies[rewrite - index * TILE_WIDTH] = rewriteBody(bodies[rewrite - index * TILE_WIDTH]!);
      return encodeEntryBundle(bodies);
    }
    return bundle;
  }
}
