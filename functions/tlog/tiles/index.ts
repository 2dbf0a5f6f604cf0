export { encodeEntryBundle, MAX_BUNDLE_ENTRY, parseEntryBundle } from './bundle.ts';
export type { TileRef } from './path.ts';
export {
  encodeTileIndex,
  entryBundlePath,
  parseTilePath,
  rowWidth,
  TILE_HEIGHT,
  TILE_WIDTH,
  tilePath,
  tileWidth,
} from './path.ts';
export type { TileFetcher, TileKey } from './reader.ts';
export { TiledTree } from './reader.ts';
