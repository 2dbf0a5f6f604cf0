import { HASH_SIZE } from '../merkle/hash.ts';
import { MemoryLevels, type NodeReader } from '../merkle/proofs.ts';
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
 * Perfect-subtree reads over the tiles of a tree of `treeSize`: node(l, i) comes from tile level
 * floor(l / 8), rebuilt inside the tile from its hashes. `lookup` answers undefined for a tile it
 * has not got; such reads are recorded and answered with a placeholder, which is harmless because
 * root and proof building choose their nodes from the sizes alone, never from hash values.
 */
class TileNodes implements NodeReader {
  readonly missing = new Map<string, TileKey>();
  private readonly treeSize: number;
  private readonly lookup: (key: TileKey) => MemoryLevels | undefined;

  constructor(treeSize: number, lookup: (key: TileKey) => MemoryLevels | undefined) {
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
 * A tree read through its tiles: runs a root or proof computation, fetching (in parallel, once)
 * exactly the tiles it touches. Tiles are immutable, so they are cached across calls.
 */
export class TiledTree {
  private readonly fetchTile: TileFetcher;
  private readonly cache = new Map<string, MemoryLevels>();
  private readonly cacheLimit: number;

  constructor(fetchTile: TileFetcher, cacheLimit = 2048) {
    this.fetchTile = fetchTile;
    this.cacheLimit = cacheLimit;
  }

  /** Forgets every cached tile (after one failed to authenticate). */
  clear(): void {
    this.cache.clear();
  }

  /** Hashes of one tile (fetched or cached), as the tile's own small tree. */
  async tile(key: TileKey): Promise<MemoryLevels> {
    const cached = this.cache.get(keyOf(key));
    if (cached !== undefined) return cached;
    const bytes = await this.fetchTile(key);
    const hashes: Buffer[] = [];
    for (let i = 0; i < key.width; i++) hashes.push(bytes.subarray(i * HASH_SIZE, (i + 1) * HASH_SIZE));
    const levels = new MemoryLevels(hashes);
    if (this.cache.size >= this.cacheLimit) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(keyOf(key), levels);
    return levels;
  }

  /** Runs `compute` over the tree of `treeSize`, with every tile it reads fetched beforehand. */
  async compute<T>(treeSize: number, compute: (reader: NodeReader) => T): Promise<T> {
    // Every tile the computation reads is held here, cached ones included: a concurrent clear()
    // (another call's tile failed to authenticate) must not pull tiles from under it.
    const local = new Map<string, MemoryLevels>();
    const probe = new TileNodes(treeSize, (k) => {
      const cached = this.cache.get(keyOf(k));
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
