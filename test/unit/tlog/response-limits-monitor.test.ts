/**
 * An oversized answer reaches the monitor as the log fault it is, as a malformed one does: a
 * log-inconsistent alert naming the URL and limit, the cursor left where the last good batch put it,
 * and no retries (one request per run). The emulator holds an honest tile log; between it and the
 * client, one entry bundle is answered by a loopback server with a gzip bomb of 64 MiB inflated.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createGzip } from 'node:zlib';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { TiledLogSource } from '../../../functions/monitor-log/tiled-source.ts';
import { RekorV2Client } from '../../../functions/tlog/client/rekor-v2.ts';
import { appendV2Entry } from '../../helpers/log-entries.ts';
import { unrelatedIdentity } from '../../helpers/unrelated-identity.ts';

const SIZE = 300;
/** The bundle served as a bomb: entries 256..299, a partial bundle of 44. */
const BOMBED = '/tile/entries/001.p/44';

async function gzipBomb(mib: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < mib; i++) gzip.write(zeros);
  gzip.end();
  await once(gzip, 'end');
  return Buffer.concat(out);
}

describe('runMonitor on a tile log whose entry bundle is a gzip bomb', () => {
  let dir: string;
  let rekor: RekorServer;
  let bombServer: Server;
  let bombUrl: string;
  let bombed = 0;
  const store = new MemoryMonitorStore();
  const alerts = new MemoryAlertSink();

  /** The log as the monitor reads it: every answer the emulator's but the bombed bundle. */
  const source = () => {
    const reader = new RekorV2Client({
      baseUrl: rekor.url,
      logKey: rekor.v2PublicKeyPem,
      retries: 2,
      fetch: (url, init) => {
        if (new URL(String(url)).pathname !== BOMBED) return fetch(url, init);
        bombed++;
        return fetch(bombUrl, init);
      },
    });
    return new TiledLogSource({ reader, url: rekor.url, bundlesPerBatch: 1 });
  };

  const run = async () => {
    const identities = await unrelatedIdentity();
    const result = await runMonitor({
      logs: [{ name: 'v2', log: source(), startIndex: 0 }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
    });
    return result.logs[0]!;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'monitor-bomb-'));
    rekor = await startRekorServer({ dataDir: dir });
    const writer = new RekorV2Client({ baseUrl: rekor.url, logKey: rekor.v2PublicKeyPem });
    for (let i = 0; i < SIZE; i++) await appendV2Entry(writer);
    const bomb = await gzipBomb(64);
    bombServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-encoding': 'gzip', 'content-length': bomb.length });
      res.end(bomb);
    });
    bombServer.listen(0, '127.0.0.1');
    await once(bombServer, 'listening');
    bombUrl = `http://127.0.0.1:${(bombServer.address() as AddressInfo).port}/bomb`;
  });
  after(async () => {
    bombServer.close();
    await rekor.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('alerts log-inconsistent naming the bundle URL and limit, keeps the cursor, asks once a run', async () => {
    const first = await run();
    assert.equal(first.outcome, 'log-inconsistent', String(first.error));
    assert.equal(first.scanned, 256, 'the bundle before it is scanned');
    assert.equal(store.states.get('v2')?.cursor, 256, 'the cursor stops before the bombed bundle');
    assert.equal(bombed, 1, 'an oversized answer is not retried');
    const [alert] = alerts.ofKind('log-inconsistent');
    assert.ok(alert, 'the fault is alerted');
    const limit = String(44 * 65_537); // 44 entries of at most 2 + 65,535 bytes
    assert.ok(alert.summary.includes(`${rekor.url}${BOMBED}`), alert.summary);
    assert.ok(alert.summary.includes(limit), alert.summary);
    assert.equal(alert.evidence.reason, 'response-too-large');
    assert.equal(alert.evidence.logIndex, 256);
    assert.equal((first.error as { retryable?: boolean }).retryable, false);

    // The next run meets the same answer: the same outcome, one more request, nothing skipped.
    const second = await run();
    assert.equal(second.outcome, 'log-inconsistent');
    assert.equal(store.states.get('v2')?.cursor, 256);
    assert.equal(bombed, 2);
  });
});
