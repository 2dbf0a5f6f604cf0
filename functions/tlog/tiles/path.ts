/** C2SP tlog-tiles: every tile and entry bundle is 256 hashes (or entries) wide when full. */
export const TILE_WIDTH = 256;
/** Merkle tree levels covered by one tile level (2^8 = 256). */
export const TILE_HEIGHT = 8;

/**
 * A tile's index as path elements (c2sp.org/tlog-tiles): zero-padded 3-digit groups, all but the
 * last prefixed with `x`. 1234067 becomes `x001/x234/067`.
 */
export function encodeTileIndex(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`bad tile index ${index}`);
  const groups: string[] = [];
  let n = index;
  do {
    groups.unshift(String(n % 1000).padStart(3, '0'));
    n = Math.floor(n / 1000);
  } while (n > 0);
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/');
}

function widthSuffix(width: number | undefined): string {
  if (width === undefined || width === TILE_WIDTH) return '';
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH - 1) {
    throw new RangeError(`bad partial tile width ${width}`);
  }
  return `.p/${width}`;
}

/** `tile/<L>/<N>[.p/<W>]`, relative to the log's prefix. A width of 256 (or none) is a full tile. */
export function tilePath(level: number, index: number, width?: number): string {
  if (!Number.isInteger(level) || level < 0 || level > 63) throw new RangeError(`bad tile level ${level}`);
  return `tile/${level}/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

/** `tile/entries/<N>[.p/<W>]`: the entry bundle beside level-0 tile N. */
export function entryBundlePath(index: number, width?: number): string {
  return `tile/entries/${encodeTileIndex(index)}${widthSuffix(width)}`;
}

export type TileRef =
  | { kind: 'hashes'; level: number; index: number; width: number }
  | { kind: 'entries'; index: number; width: number };

const TILE_RE = /^tile\/(entries|0|[1-9][0-9]?)\/((?:x[0-9]{3}\/)*[0-9]{3})(?:\.p\/([1-9][0-9]{0,2}))?$/;

/**
 * Parses a tile or entry-bundle path (without the prefix). Only the canonical encoding is accepted:
 * no redundant leading groups, no leading zeroes in the level or width. Undefined when it is not one.
 */
export function parseTilePath(path: string): TileRef | undefined {
  const m = TILE_RE.exec(path);
  if (m === null) return undefined;
  const index = Number(m[2]!.replaceAll('x', '').replaceAll('/', ''));
  if (!Number.isSafeInteger(index) || encodeTileIndex(index) !== m[2]) return undefined;
  const width = m[3] === undefined ? TILE_WIDTH : Number(m[3]);
  if (m[3] !== undefined && width >= TILE_WIDTH) return undefined;
  if (m[1] === 'entries') return { kind: 'entries', index, width };
  const level = Number(m[1]);
  if (level > 63) return undefined;
  return { kind: 'hashes', level, index, width };
}

/** Hashes in tile row `level` of a tree of `treeSize` leaves: floor(size / 256^level). */
export function rowWidth(level: number, treeSize: number): number {
  return Math.floor(treeSize / TILE_WIDTH ** level);
}

/** Width of tile `index` at `level` in a tree of `treeSize` (0 when it does not exist yet). */
export function tileWidth(level: number, index: number, treeSize: number): number {
  return Math.max(0, Math.min(TILE_WIDTH, rowWidth(level, treeSize) - index * TILE_WIDTH));
}
