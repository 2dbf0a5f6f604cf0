/**
 * A log that holds its key can publish a checkpoint of any size, consistent with the last one (it
 * makes the new tiles up). A fan-out plan holds a bounded number of shards whatever the backlog: a
 * 2^30-entry growth once meant 10,738 shard messages, 2^40 a heap out of memory, 2^52 an
 * `Invalid array length` saved with the plan, failing every later run with no alert. The growth is
 * reported with both sizes; the rest of a backlog is planned by later runs as the cursor advances.
 *
 * The huge tree is a tile log (the real RekorV2Client reading it) whose leaves are all the same, so
 * every subtree of one height has one hash and tiles of any tree are made on the spot. The plan
 * after plan scan is on the Rekor emulator.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import {
  DEFAULT_LIMITS,
  type MonitorDeps,
  runMonitor,
  runMonitorShard,
} from '../../../functions/monitor-log/core.ts';
import { MemoryShardStore, type ShardMessage } from '../../../functions/monitor-log/fan-out.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { TiledLogSource } from '../../../functions/monitor-log/tiled-source.ts';
import { formatCheckpointBody } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { ed25519NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { RekorV2Client } from '../../../functions/tlog/client/rekor-v2.ts';
import { hashChildren, hashLeaf, rootAt } from '../../../functions/tlog/merkle/index.ts';
import { parseTilePath, TILE_HEIGHT } from '../../../functions/tlog/tiles/path.ts';
import { TiledTree } from '../../../functions/tlog/tiles/reader.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();
const ownedIdentities = (): Promise<ResolvedIdentity[]> =>
  resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
    Promise.reject(new Error('no KMS here')),
  );

/** A tile log of `size` identical leaves, resized at will: consistent, and as large as asked. */
function madeUpTileLog() {
  const origin = 'made-up.log';
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const perfect: Buffer[] = [Buffer.from(hashLeaf(Buffer.from('{}')))];
  for (let h = 1; h < 64; h++) perfect.push(Buffer.from(hashChildren(perfect[h - 1]!, perfect[h - 1]!)));
  const tile = (level: number, width: number) =>
    Buffer.concat(Array.from({ length: width }, () => perfect[TILE_HEIGHT * level]!));
  const tree = new TiledTree(async (k) => tile(k.level, k.width));
  const noteAt = async (n: number) => {
    const rootHash = Buffer.from(await tree.compute(n, (r) => rootAt(r, n)));
    return signNote(
      formatCheckpointBody({ origin, size: n, rootHash, extensions: [] }),
      ed25519NoteSigner(origin, privateKey),
    );
  };
  let size = 256;
  const fetch = (async (input: string | URL) => {
    const path = new URL(String(input)).pathname.slice(1);
    if (path === 'checkpoint') return new Response(await noteAt(size));
    const ref = parseTilePath(path);
    if (ref?.kind === 'hashes') return new Response(tile(ref.level, ref.width));
    return new Response('not found', { status: 404 });
  }) as typeof globalThis.fetch;
  const reader = new RekorV2Client({
    baseUrl: 'http://made-up.invalid',
    logKey: publicKey,
    origin,
    fetch,
    retries: 0,
  });
  return {
    source: new TiledLogSource({ reader, url: 'http://made-up.invalid', bundlesPerBatch: 4 }),
    noteAt,
    grow: (n: number) => {
      size = n;
    },
  };
}

/** The monitor of a made-up log, fan-out on, its shard messages counted. */
async function monitorOfMadeUpLog(limits: MonitorDeps['limits'] = {}) {
  const log = madeUpTileLog();
  const store = new MemoryMonitorStore();
  const shards = new MemoryShardStore();
  const published: ShardMessage[] = [];
  const logger = createMemoryLogger();
  const deps: MonitorDeps = {
    logs: [{ name: 'v2', log: log.source }],
    store,
    alerts: new MemoryAlertSink(),
    records: new StaticSigningRecordLookup(),
    identities: await ownedIdentities(),
    logger,
    limits,
    fanOut: { store: shards, dispatcher: { dispatch: async (m) => void published.push(...m) } },
  };
  const first = await runMonitor(deps); // starts at the tree's size: 256
  assert.equal(first.logs[0]?.outcome, 'scanned', JSON.stringify(first));
  return { log, store, shards, published, logger, deps, state: () => store.states.get('v2')! };
}

describe('a log that grows to an absurd size, consistently', () => {
  for (const exponent of [30, 52]) {
    it(`2^${exponent} entries: one plan of at most maxShardsPerPlan shards, an error line with both sizes, and the next run unharmed`, async () => {
      const t = await monitorOfMadeUpLog();
      t.log.grow(2 ** exponent);
      const grown = await runMonitor(t.deps);
      assert.equal(grown.logs[0]?.outcome, 'fanned-out', JSON.stringify(grown));
      const maxShards = DEFAULT_LIMITS.maxShardsPerPlan;
      assert.equal(t.published.length, maxShards);
      const plan = t.state().fanOut!;
      assert.deepEqual([plan.start, plan.end], [256, 256 + maxShards * DEFAULT_LIMITS.shardSize]);
      assert.equal(t.state().cursor, 256);

      const line = t.logger.entries.find((e) => e.severity === 'ERROR' && /implausibly/.test(e.message));
      assert.ok(line, 'the growth is reported');
      assert.deepEqual([line['previousTreeSize'], line['treeSize']], [256, 2 ** exponent]);

      const next = await runMonitor(t.deps);
      assert.equal(next.logs[0]?.outcome, 'fanned-out', JSON.stringify(next));
      assert.equal(t.published.length, maxShards, 'nothing published again before the leases run out');
    });
  }

  it('a plan saved before plans were bounded (2^52 entries) is driven by its first shards, finished at their end, and the rest planned again', async () => {
    const t = await monitorOfMadeUpLog({ maxShardsPerPlan: 3 });
    const huge = 2 ** 52;
    t.log.grow(huge);
    const note = await t.log.noteAt(huge);
    const shardSize = 100_000;
    // What the old code saved: the plan over the whole backlog, the huge checkpoint verified.
    t.store.states.set('v2', {
      ...t.state(),
      checkpoint: note,
      treeSize: huge,
      fanOut: { id: 'old-plan', checkpoint: note, start: 256, end: huge, shardSize, createdAt: '' },
    });

    const resumed = await runMonitor(t.deps);
    assert.equal(resumed.logs[0]?.outcome, 'fanned-out', JSON.stringify(resumed));
    assert.deepEqual(
      t.published.map((m) => m.start),
      [256, 256 + shardSize, 256 + 2 * shardSize],
    );
    // A message of the old plan past its bound is stale: acknowledged, nothing materialised.
    const beyond = await runMonitorShard(t.deps, { log: 'v2', plan: 'old-plan', start: 256 + 7 * shardSize });
    assert.match(beyond.skipped ?? '', /no fan-out in progress holds this shard/);

    for (const record of t.shards.records.values()) {
      Object.assign(record, { state: 'done', cursor: record.end });
    }
    const moved = await runMonitor(t.deps);
    assert.equal(moved.logs[0]?.outcome, 'fanned-out', JSON.stringify(moved));
    const bound = 256 + 3 * shardSize;
    assert.equal(t.state().cursor, bound, 'the cursor moves to the end of the bounded part only');
    const plan = t.state().fanOut!;
    assert.notEqual(plan.id, 'old-plan');
    assert.deepEqual([plan.start, plan.end], [bound, bound + 3 * shardSize]);
    assert.equal(
      [...t.shards.records.values()].filter((r) => r.plan === 'old-plan').length,
      0,
      'its shard records are removed',
    );
  });
});

describe('a backlog larger than one plan, on the Rekor emulator', () => {
  let log: TestLog;
  let client: RekorV1Client;
  before(async () => {
    log = await startTestLog('fan-out-bound');
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
  });
  after(() => log.stop());

  it('is scanned plan after plan, each of at most maxShardsPerPlan shards, every owned entry once', async () => {
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const queue: ShardMessage[] = [];
    const deps: MonitorDeps = {
      logs: [{ name: 'rekor', log: new RekorV1Source({ client, url: log.rekor.url }), startIndex: 0 }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities: await ownedIdentities(),
      logger: createMemoryLogger(),
      limits: { batchSize: 10, fanOutAbove: 5, shardSize: 4, maxShardsPerPlan: 2 },
      fanOut: { store: new MemoryShardStore(), dispatcher: { dispatch: async (m) => void queue.push(...m) } },
    };
    const owned: number[] = [];
    for (let i = 0; i < 24; i++) {
      const key = i % 4 === 0 ? ours : theirs;
      const entry = await client.append(hashedRekordProposal(key, Buffer.from(`bound ${i}`)).body);
      if (key === ours) owned.push(entry.logIndex);
    }

    const plans: number[][] = [];
    for (let run = 0; run < 10; run++) {
      const result = await runMonitor(deps);
      if (result.logs[0]?.outcome === 'scanned') break;
      assert.equal(result.logs[0]?.outcome, 'fanned-out', JSON.stringify(result));
      const messages = queue.splice(0);
      plans.push(messages.map((m) => m.start));
      for (const message of messages) await runMonitorShard(deps, message);
    }
    assert.deepEqual(plans, [
      [0, 4],
      [8, 12],
      [16, 20],
    ]);
    assert.equal(store.states.get('rekor')?.cursor, 24);
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      owned,
    );
  });
});
