import { HASH_SIZE, hashChildrenInto } from '../merkle/hash.ts';
import type { NodeReader } from '../merkle/proofs.ts';
import { TILE_HEIGHT, TILE_WIDTH, tileWidth } from './path.ts';

export interface TileKey {
  level: number;
  index: number;
  width: number;
}

/** Fetches the raw bytes of a hash tile (width * 32 bytes); validation is the caller's. */
export type TileFetcher = (key: TileKey) => Promise<Buffer>;

const keyOf = (k: TileKey): string => `${k.level}/${k.index}/${k.width}`;
const PLACEHOLDER = Buffer.alloc(HASH_SIZE);

/**
 * One tile's hashes as its own small tree: row r holds the perfect subtrees of 2^r of its hashes,
 * each row one buffer. (A scan builds one per 256 entries; a buffer per node made it the
 * monitor's largest heap, about 70 KiB a tile.)
 */
class TileLevels {
  private readonly rows: Buffer[];

  constructor(hashes: Buffer) {
    this.rows = [hashes];
    for (let row = hashes; row.length >= 2 * HASH_SIZE; ) {
      const pairs = Math.floor(row.length / (2 * HASH_SIZE));
      const up = Buffer.allocUnsafe(pairs * HASH_SIZE);
      for (let i = 0; i < pairs; i++) {
        const at = 2 * i * HASH_SIZE;
        hashChildrenInto(
          row.subarray(at, at + HASH_SIZE),
          row.subarray(at + HASH_SIZE, at + 2 * HASH_SIZE),
          up,
          i * HASH_SIZE,
        );
      }
      this.rows.push(up);
      row = up;
    }
  }

  node(level: number, index: number): Buffer {
    const row = this.rows[level];
    if (row === undefined || (index + 1) * HASH_SIZE > row.length) {
      throw new RangeError(`no node at level ${level} index ${index}`);
    }
    return row.subarray(index * HASH_SIZE, (index + 1) * HASH_SIZE);
  }
}

/**
 * Perfect-subtree reads over the tiles of a tree of `treeSize`: node(l, i) comes from tile level
 * floor(l / 8), rebuilt inside the tile from its hashes. `lookup` answers undefined for a tile it
 * has not got; such reads are recorded and answered with a placeholder, which is harmless because
 * root and proof building choose their nodes from the sizes alone, never from hash values.
 */
class TileNodes implements NodeReader {
  readonly missing = new Map<string, TileKey>();
  private readonly treeSize: number;
  private readonly lookup: (key: TileKey) => TileLevels | undefined;

  constructor(treeSize: number, lookup: (key: TileKey) => TileLevels | undefined) {
    this.treeSize = treeSize;
    this.lookup = lookup;
  }

  node(level: number, index: number): Uint8Array {
    const tileLevel = Math.floor(level / TILE_HEIGHT);
    const span = 2 ** (level % TILE_HEIGHT);
    const first = index * span;
    const tileIndex = Math.floor(first / TILE_WIDTH);
    const width = tileWidth(tileLevel, tileIndex, this.treeSize);
    if ((first % TILE_WIDTH) + span > width) {
      throw new RangeError(`node ${level}/${index} is not complete in a tree of ${this.treeSize}`);
    }
    const key = { level: tileLevel, index: tileIndex, width };
    const tile = this.lookup(key);
    if (tile === undefined) {
      this.missing.set(keyOf(key), key);
      return PLACEHOLDER;
    }
    return tile.node(level % TILE_HEIGHT, (first % TILE_WIDTH) / span);
  }
}

/**
 * Tiles cached per tile level: a scan reads each entry tile (level 0) once, so level 0 is kept
 * apart, and small; a million-entry scan reads 3,907 entry tiles, which would push out the few
 * upper tiles every proof reads.
 */
const CACHED_ENTRY_TILES = 64;
const CACHED_UPPER_TILES = 2048;

/**
 * A tree read through its tiles: runs a root or proof computation, fetching (in parallel, once)
 * exactly the tiles it touches. Tiles are immutable, so they are cached across calls.
 */
export class TiledTree {
  private readonly fetchTile: TileFetcher;
  private readonly entryTiles = new Map<string, TileLevels>();
  private readonly upperTiles = new Map<string, TileLevels>();

  constructor(fetchTile: TileFetcher) {
    this.fetchTile = fetchTile;
  }

  /** Forgets every cached tile (after one failed to authenticate). */
  clear(): void {
    this.entryTiles.clear();
    this.upperTiles.clear();
  }

  private cacheOf(key: TileKey): { tiles: Map<string, TileLevels>; limit: number } {
    return key.level === 0
      ? { tiles: this.entryTiles, limit: CACHED_ENTRY_TILES }
      : { tiles: this.upperTiles, limit: CACHED_UPPER_TILES };
  }

  private cached(key: TileKey): TileLevels | undefined {
    return this.cacheOf(key).tiles.get(keyOf(key));
  }

  /** Hashes of one tile (fetched or cached), as the tile's own small tree. */
  async tile(key: TileKey): Promise<TileLevels> {
    const cached = this.cached(key);
    if (cached !== undefined) return cached;
    const levels = new TileLevels(await this.fetchTile(key));
    const { tiles, limit } = this.cacheOf(key);
    if (tiles.size >= limit) tiles.delete(tiles.keys().next().value!);
    tiles.set(keyOf(key), levels);
    return levels;
  }

  /**
   * Runs `compute` over the tree of `treeSize`, with every tile it reads fetched beforehand.
   * `supplied` is a tile the caller already holds (an entry bundle's leaf hashes are its level-0
   * tile): it is read in place of the log's copy, neither fetched nor cached, and is only as
   * trustworthy as what the caller then checks the result against.
   */
  async compute<T>(
    treeSize: number,
    compute: (reader: NodeReader) => T,
    supplied?: { key: TileKey; hashes: Buffer },
  ): Promise<T> {
    // Every tile the computation reads is held here, cached ones included: a concurrent clear()
    // (another call's tile failed to authenticate) must not pull tiles from under it.
    const local = new Map<string, TileLevels>();
    if (supplied !== undefined) {
      const { key, hashes } = supplied;
      if (key.width < 1 || key.width > TILE_WIDTH || hashes.length !== key.width * HASH_SIZE) {
        throw new RangeError(`a supplied tile of width ${key.width} holds ${hashes.length} bytes`);
      }
      local.set(keyOf(key), new TileLevels(hashes));
    }
    const probe = new TileNodes(treeSize, (k) => {
      const given = local.get(keyOf(k));
      if (given !== undefined) return given;
      const cached = this.cached(k);
      if (cached !== undefined) local.set(keyOf(k), cached);
      return cached;
    });
    compute(probe);
    await Promise.all(
      [...probe.missing.values()].map(async (key) => local.set(keyOf(key), await this.tile(key))),
    );
    const reader = new TileNodes(treeSize, (k) => local.get(keyOf(k)));
    const result = compute(reader);
    if (reader.missing.size > 0) throw new Error('tile set changed between probe and computation');
    return result;
  }
}
