import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RekorServer, startRekorServer } from '../../emulators/rekor/server.ts';
import { RekorV1Client } from '../../functions/tlog/client/rekor-v1.ts';
import { appendFillerEntry } from './hashedrekord.ts';

export interface TestLog {
  rekor: RekorServer;
  /** The emulator's data directory (its keys: emulators/rekor/keys.ts loadKeys). */
  dataDir: string;
  /** Closes the emulator and removes its directory. */
  stop(): Promise<void>;
}

/**
 * A Rekor emulator over a fresh temporary directory, for one test file. `unrelatedFirstEntry`
 * appends one entry first, so the entries a test checks are never the log's first (index 0, which
 * protojson leaves out of a bundle, has its own test: test/unit/verify/log-index-zero.test.ts).
 * `inactiveShardSize` makes it a log after a shard rotation (emulators/rekor/log-v1.ts).
 */
export async function startTestLog(
  name: string,
  options: { unrelatedFirstEntry?: boolean; inactiveShardSize?: number } = {},
): Promise<TestLog> {
  const dataDir = mkdtempSync(join(tmpdir(), `${name}-`));
  const rekor = await startRekorServer({
    dataDir,
    ...(options.inactiveShardSize !== undefined ? { v1InactiveShardSize: options.inactiveShardSize } : {}),
  });
  const stop = async () => {
    await rekor.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    if (options.unrelatedFirstEntry) await appendFillerEntry(rekor.url, 'log index 0');
  } catch (err) {
    await stop();
    throw err;
  }
  return { rekor, dataDir, stop };
}

/** A frozen shard as `GET /api/v1/log` lists it (openapi InactiveShardLogInfo). */
export interface ListedShard {
  rootHash: string;
  treeSize: number;
  signedTreeHead: string;
  treeID: string;
}

/**
 * A client of the emulator `rekor` that reads its log info with the frozen shards' listings edited
 * by `edit`: a log whose info says something its signed tree heads do not.
 */
export function clientWithShardListings(
  rekor: Pick<RekorServer, 'url' | 'publicKeyPem'>,
  edit: (shards: ListedShard[]) => void,
): RekorV1Client {
  return new RekorV1Client({
    baseUrl: rekor.url,
    logKey: rekor.publicKeyPem,
    retries: 0,
    fetch: async (input, init) => {
      const res = await fetch(input, init);
      if (!String(input).endsWith('/api/v1/log')) return res;
      const info = (await res.json()) as { inactiveShards: ListedShard[] };
      edit(info.inactiveShards);
      return Response.json(info);
    },
  });
}

/** A signed note with its first signature replaced: as if signed by a key not trusted here. */
export function signedByAnotherKey(note: string): string {
  return note.replace(/ [A-Za-z0-9+/]{20}/, ' AAAAAAAAAAAAAAAAAAAA');
}
