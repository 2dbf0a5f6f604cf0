/**
 * A tile-based log (Rekor v2, C2SP tlog-tiles) as a MonitoredLog. Tiles are read under the
 * checkpoint they are authenticated against, so every entry is bound to the run's head by
 * construction; the reader (tlog's RekorV2Client) does that check.
 */
import type { VerifiedCheckpoint } from '../tlog/checkpoint/verify.ts';
import { TILE_WIDTH } from '../tlog/tiles/path.ts';
import type { LogBatching, MonitoredLog, ScannedEntry } from './log-source.ts';

export interface TiledLogReader {
  getCheckpoint(): Promise<VerifiedCheckpoint>;
  verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void>;
  getEntries(
    start: number,
    end: number,
    checkpoint: VerifiedCheckpoint,
  ): Promise<Array<{ logIndex: number; body: Buffer }>>;
}

export class TiledLogSource implements MonitoredLog {
  readonly url: string;
  /**
   * Whole entry bundles (a batch ending inside a bundle would have the next batch fetch it again),
   * `bundlesPerBatch` of them.
   */
  readonly batching: LogBatching;
  private readonly reader: TiledLogReader;

  constructor(opts: { reader: TiledLogReader; url: string; bundlesPerBatch: number }) {
    this.reader = opts.reader;
    this.url = opts.url;
    this.batching = { unit: TILE_WIDTH, size: TILE_WIDTH * Math.max(1, Math.floor(opts.bundlesPerBatch)) };
  }

  getCheckpoint(): Promise<VerifiedCheckpoint> {
    return this.reader.getCheckpoint();
  }

  verifyConsistency(trusted: VerifiedCheckpoint, next: VerifiedCheckpoint): Promise<void> {
    return this.reader.verifyConsistency(trusted, next);
  }

  readEntries(start: number, end: number, head: VerifiedCheckpoint): Promise<ScannedEntry[]> {
    return this.reader.getEntries(start, end, head);
  }
}
