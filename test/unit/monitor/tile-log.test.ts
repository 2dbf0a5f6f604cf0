import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { TiledLogSource } from '../../../functions/monitor-log/tiled-source.ts';
import type { VerifiedCheckpoint } from '../../../functions/tlog/checkpoint/index.ts';
import { RekorV2Client } from '../../../functions/tlog/client/rekor-v2.ts';
import { appendV2Entry, keyPairSigner } from '../../helpers/log-entries.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** Entries 0..599 of the v2 log; ours at these indexes, theirs elsewhere. */
const SIZE = 600;
const OURS = [5, 300, 555];

describe('runMonitor on a tile log (Rekor v2) in the emulator', () => {
  let dir: string;
  let server: RekorServer;
  let requests: string[] = [];

  /** A monitored v2 log whose requests are counted, `bundlesPerBatch` bundles to a batch. */
  const source = (bundlesPerBatch: number) => {
    const reader = new RekorV2Client({
      baseUrl: server.url,
      logKey: server.v2PublicKeyPem,
      retries: 0,
      concurrency: bundlesPerBatch,
      fetch: (url, init) => {
        requests.push(new URL(String(url)).pathname);
        return fetch(url, init);
      },
    });
    return new TiledLogSource({ reader, url: server.url, bundlesPerBatch });
  };

  const run = async (bundlesPerBatch: number, startIndex: number) => {
    const alerts = new MemoryAlertSink();
    const store = new MemoryMonitorStore();
    const identities = await resolveIdentities(
      [
        {
          type: 'publicKey',
          pem: ours.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          name: 'release key',
        },
      ],
      () => Promise.reject(new Error('no KMS here')),
    );
    const result = await runMonitor({
      logs: [{ name: 'v2', log: source(bundlesPerBatch), startIndex }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
    });
    return { result, alerts, cursor: store.states.get('v2')?.cursor };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'monitor-v2-'));
    server = await startRekorServer({ dataDir: dir });
    const writer = new RekorV2Client({ baseUrl: server.url, logKey: server.v2PublicKeyPem });
    const [ourSigner, theirSigner] = [keyPairSigner(ours), keyPairSigner(theirs)];
    for (let i = 0; i < SIZE; i++) {
      assert.equal(await appendV2Entry(writer, OURS.includes(i) ? ourSigner : theirSigner), i);
    }
  });
  afterEach(() => {
    server.faults.clear();
    requests = [];
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('scans from inside a bundle to the head, alerts on each owned entry once, and fetches each bundle once', async () => {
    // One bundle per batch: a batch ending inside a bundle would make the next fetch it again.
    const { result, alerts, cursor } = await run(1, 100);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.logs[0]?.scanned, SIZE - 100);
    assert.equal(cursor, SIZE);
    assert.deepEqual(
      alerts
        .ofKind('rogue-signature')
        .map((a) => a.evidence.logIndex)
        .sort((a, b) => Number(a) - Number(b)),
      [300, 555],
    );
    const bundles = requests.filter((p) => p.includes('/tile/entries/'));
    assert.deepEqual(bundles.sort(), ['/tile/entries/000', '/tile/entries/001', '/tile/entries/002.p/88']);
  });

  it('reads several bundles per batch with the same result', async () => {
    const { result, alerts, cursor } = await run(4, 0);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.logs[0]?.scanned, SIZE);
    assert.equal(cursor, SIZE);
    assert.equal(alerts.ofKind('rogue-signature').length, OURS.length);
    assert.equal(requests.filter((p) => p.includes('/tile/entries/')).length, 3);
  });

  it('an entry rewritten in its bundle stops the scan at that bundle with log-inconsistent, naming the entry', async () => {
    server.faults.set({ rewriteEntry: 400 });
    const { result, alerts, cursor } = await run(1, 0);
    assert.equal(result.logs[0]?.outcome, 'log-inconsistent');
    assert.equal(cursor, 256, 'the bundles before it are done; the one holding it is not');
    assert.equal(alerts.ofKind('log-inconsistent')[0]?.evidence.logIndex, 400);
  });

  it('a smaller checkpoint proven a prefix of the verified tree is a stale view (a cache): a notice, nothing moves; a forked one is log-inconsistent', async () => {
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const logger = createMemoryLogger();
    const identities = await resolveIdentities(
      [{ type: 'publicKey', pem: ours.publicKey.export({ format: 'pem', type: 'spki' }).toString() }],
      () => Promise.reject(new Error('no KMS here')),
    );
    const deps = {
      logs: [{ name: 'v2', log: source(4), startIndex: 590 }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger,
    };
    assert.equal((await runMonitor(deps)).logs[0]?.outcome, 'scanned');
    const verified = store.states.get('v2')!;
    assert.equal(verified.treeSize, SIZE);

    server.faults.set({ shrinkBy: 44 }); // the checkpoint of size 556, as a lagging cache serves it
    const stale = await runMonitor(deps);
    assert.equal(stale.logs[0]?.outcome, 'scanned');
    assert.equal(stale.ok, true);
    assert.equal(alerts.ofKind('log-inconsistent').length, 0, 'no false CRITICAL');
    assert.equal(store.states.get('v2')?.checkpoint, verified.checkpoint, 'the verified checkpoint stands');
    assert.equal(store.states.get('v2')?.cursor, verified.cursor);
    assert.ok(
      logger.entries.some((l) => l.severity === 'NOTICE' && /older than one verified/.test(l.message)),
    );

    server.faults.set({ shrinkBy: 44, splitView: true }); // smaller, and not a prefix: the log shrank
    const forked = await runMonitor(deps);
    assert.equal(forked.logs[0]?.outcome, 'log-inconsistent');
    assert.equal(alerts.ofKind('log-inconsistent').length, 1);
    assert.equal(store.states.get('v2')?.checkpoint, verified.checkpoint);
  });
  it('a smaller checkpoint whose proof cannot be read now (an outage) fails the run, tried again by the next: no CRITICAL', async () => {
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const identities = await resolveIdentities(
      [{ type: 'publicKey', pem: ours.publicKey.export({ format: 'pem', type: 'spki' }).toString() }],
      () => Promise.reject(new Error('no KMS here')),
    );
    // Found by review: the stale-view check took any failure for a failed proof, so one 503 while
    // a cache served an older checkpoint paged CRITICAL "the log shrank".
    let outage = false;
    const tiles = source(4);
    // Every read of the log fails; a proof asked for backwards is refused before any read, as the
    // client refuses it (the log shrank).
    const log = Object.assign(Object.create(tiles) as TiledLogSource, {
      verifyConsistency: (older: VerifiedCheckpoint, next: VerifiedCheckpoint) =>
        outage && older.size <= next.size
          ? Promise.reject(new DependencyError('rekor', 'reading a tile failed: HTTP 503'))
          : tiles.verifyConsistency(older, next),
    });
    const deps = {
      logs: [{ name: 'v2', log, startIndex: 590 }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
    };
    assert.equal((await runMonitor(deps)).logs[0]?.outcome, 'scanned');
    const verified = store.states.get('v2')!;
    server.faults.set({ shrinkBy: 44 });
    outage = true;
    const down = await runMonitor(deps);
    assert.equal(down.logs[0]?.outcome, 'failed');
    assert.match(String((down.logs[0]?.error as Error)?.message), /HTTP 503/);
    assert.equal(alerts.ofKind('log-inconsistent').length, 0, 'no false CRITICAL');
    assert.equal(store.states.get('v2')?.checkpoint, verified.checkpoint);
    outage = false;
    assert.equal((await runMonitor(deps)).logs[0]?.outcome, 'scanned', 'the next run proves the stale view');
    assert.equal(alerts.ofKind('log-inconsistent').length, 0);
  });
});
