import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type RekorServer, startRekorServer } from '../../emulators/rekor/server.ts';
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
