/**
 * A Rekor v1 log rotating its shard while the monitor follows it, on the Rekor emulator: the active
 * tree is frozen (listed in log info with its final signed tree head) and new entries go to a new
 * tree numbered on from it. Entries the frozen tree gained after the monitor's last run are its
 * tail: they must be scanned before the monitor moves on, or a signature made with an owned key
 * just before a rotation would never be seen.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError, InvalidInputError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import {
  type MonitorDeps,
  type MonitorLimits,
  runMonitor,
  runMonitorShard,
} from '../../../functions/monitor-log/core.ts';
import { MemoryShardStore, type ShardMessage } from '../../../functions/monitor-log/fan-out.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { type RekorV1Reader, RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import type { LogEntry } from '../../../functions/tlog/client/types.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import {
  clientWithShardListings,
  type ListedShard,
  signedByAnotherKey,
  startTestLog,
  type TestLog,
} from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

describe('a Rekor v1 shard rotation while the monitor follows the log', () => {
  let log: TestLog;
  let client: RekorV1Client;
  let counter = 0;
  const append = (key: typeof ours): Promise<LogEntry> =>
    client.append(hashedRekordProposal(key, Buffer.from(`rotation ${counter++}`)).body);
  const appendMany = async (n: number) => {
    for (let i = 0; i < n; i++) await append(theirs);
  };

  let store: MemoryMonitorStore;
  let alerts: MemoryAlertSink;
  let identities: ResolvedIdentity[];
  /**
   * The monitor's dependencies, with a fresh source each time (as each instance builds its own: a
   * fan-out shard's has learnt no offsets).
   */
  const depsWith = (
    limits: Partial<MonitorLimits>,
    fanOut?: MonitorDeps['fanOut'],
    reader: RekorV1Reader = client,
  ): MonitorDeps => ({
    logs: [{ name: 'rekor', log: new RekorV1Source({ client: reader, url: log.rekor.url }) }],
    store,
    alerts,
    records: new StaticSigningRecordLookup(),
    identities,
    logger: createMemoryLogger(),
    limits,
    ...(fanOut !== undefined ? { fanOut } : {}),
  });
  const run = () => runMonitor(depsWith({ batchSize: 4 }));

  /** A client reading the log through info whose frozen shards `which` have heads signed by another key. */
  const otherKeyFor = (which: number[]) =>
    clientWithShardListings(log.rekor, (shards) => {
      for (const i of which) shards[i]!.signedTreeHead = signedByAnotherKey(shards[i]!.signedTreeHead);
    });

  /** 45 entries, every tenth by the owned key (a backlog above queuedFanOut's threshold); the owned ones' indexes. */
  const appendBacklog = async (): Promise<number[]> => {
    const owned: number[] = [];
    for (let i = 0; i < 45; i++) {
      const entry = await append(i % 10 === 0 ? ours : theirs);
      if (i % 10 === 0) owned.push(entry.logIndex);
    }
    return owned;
  };

  /** Fan-out of backlogs over 30 entries in shards of 20, their messages queued for the test to hand out. */
  const queuedFanOut = () => {
    const queue: ShardMessage[] = [];
    const fanOut = {
      store: new MemoryShardStore(),
      dispatcher: { dispatch: async (m: readonly ShardMessage[]) => void queue.push(...m) },
    };
    return { queue, deps: () => depsWith({ batchSize: 10, fanOutAbove: 30, shardSize: 20 }, fanOut) };
  };

  /**
   * Tree A scanned to 2, then its tail of one owned entry; B frozen with 3 entries, the first owned;
   * C active with one owned entry. The monitor has not run since A's first two entries.
   */
  const threeTrees = async () => {
    await appendMany(2);
    await run();
    const inFirst = await append(ours);
    log.rekor.rotateV1();
    const inMiddle = await append(ours);
    await appendMany(2);
    const middle = log.rekor.rotateV1();
    const inLast = await append(ours);
    return { inFirst, inMiddle, inLast, middle };
  };

  beforeEach(async () => {
    log = await startTestLog('shard-rotation');
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
    identities = await resolveIdentities(
      [{ type: 'publicKey', pem: pemOf(ours.publicKey), name: 'release key' }],
      () => Promise.reject(new Error('no KMS here')),
    );
    store = new MemoryMonitorStore();
    alerts = new MemoryAlertSink();
  });
  afterEach(() => log.stop());

  it("scans the frozen tree's tail, then follows the new tree in the same run", async () => {
    await appendMany(3);
    assert.equal((await run()).ok, true); // starts at the tree's size: 3
    const tail = await append(ours); // signed with an owned key just before the rotation
    await appendMany(5);
    const rotation = log.rekor.rotateV1();
    assert.equal(rotation.frozenTreeSize, 9);
    await appendMany(2);
    const afterRotation = await append(ours);

    const result = await run();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.logs[0]?.outcome, 'scanned');
    assert.equal(result.logs[0]?.scanned, 6 + 3, 'the six tail entries, then the new tree');
    const rogue = alerts.ofKind('rogue-signature');
    assert.deepEqual(
      rogue.map((a) => a.evidence.logIndex),
      [tail.logIndex, afterRotation.logIndex],
    );
    assert.equal(afterRotation.logIndex, 9 + 2, 'numbered on from the frozen tree');
    assert.equal(rogue[1]?.evidence.treeIndex, 2, 'and named by its index in the new tree');

    const [changed] = alerts.ofKind('log-tree-changed');
    assert.equal(changed?.severity, 'MEDIUM', 'a rotation the log announces, with nothing left unscanned');
    assert.equal(changed?.evidence.previousTreeFrozen, true);
    assert.equal(changed?.evidence.previousTreeSize, 9);
    assert.match(changed?.summary ?? '', /frozen at 9 entries/);

    const state = store.states.get('rekor')!;
    assert.equal(state.origin.endsWith(` - ${rotation.treeId}`), true, state.origin);
    assert.equal(state.cursor, 3);
    assert.deepEqual(
      state.previousShards.map((s) => [s.origin.endsWith(` - ${rotation.frozenTreeId}`), s.cursor]),
      [[true, 9]],
    );

    assert.equal((await run()).logs[0]?.scanned, 0, 'nothing scanned twice');
    assert.equal(alerts.ofKind('log-tree-changed').length, 1);
  });

  it('a run cut short in the tail goes on with it in the next run, never skipping to the new tree', async () => {
    await run();
    const tail: LogEntry[] = [];
    for (let i = 0; i < 3; i++) {
      tail.push(await append(ours));
      await appendMany(3);
    }
    log.rekor.rotateV1();
    await appendMany(1);
    const limited = () => runMonitor(depsWith({ batchSize: 4, maxEntriesPerRun: 5 }));
    const first = await limited();
    assert.equal(first.logs[0]?.outcome, 'partial');
    assert.equal(store.states.get('rekor')?.cursor, 5, 'still in the frozen tree');
    assert.equal(alerts.ofKind('log-tree-changed').length, 0);
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [tail[0]!.logIndex, tail[1]!.logIndex],
    );
    const second = await run();
    assert.equal(second.logs[0]?.outcome, 'scanned', JSON.stringify(second));
    assert.equal(second.logs[0]?.scanned, 7 + 1, 'the rest of the tail, then the new tree');
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      tail.map((e) => e.logIndex),
      'each owned entry of the tail once',
    );
    assert.equal(alerts.ofKind('log-tree-changed').length, 1);
  });

  it('two rotations between runs: the tail, the whole middle tree, then the active one', async () => {
    const { inFirst, inMiddle, inLast, middle } = await threeTrees();

    const result = await run();
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inFirst.logIndex, inMiddle.logIndex, inLast.logIndex],
    );
    assert.deepEqual(
      alerts.ofKind('log-tree-changed').map((a) => a.severity),
      ['MEDIUM', 'MEDIUM'],
    );
    assert.equal(middle.frozenTreeSize, 3);
    assert.equal(store.states.get('rekor')?.previousShards.length, 2);
  });

  it('a run through several trees reads the log info, and verifies the heads it lists, once', async () => {
    const { inLast } = await threeTrees();
    let infoReads = 0;
    const counting: RekorV1Reader = {
      getLogInfo: () => {
        infoReads++;
        return client.getLogInfo();
      },
      verifyConsistency: (a, b) => client.verifyConsistency(a, b),
      verifySignedEntryTimestamp: (e) => client.verifySignedEntryTimestamp(e),
      scanEntries: (start, end, keep) => client.scanEntries(start, end, keep),
    };
    const result = await runMonitor(depsWith({ batchSize: 4 }, undefined, counting));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.logs[0]?.trees?.length, 3, 'the tail, the middle tree, the active one');
    assert.ok(alerts.ofKind('rogue-signature').some((a) => a.evidence.logIndex === inLast.logIndex));
    assert.equal(infoReads, 1, 'one read (each listed head verified once), not one per tree');
  });

  it('a tail too large for one run is fanned out against the frozen head; shard instances scan it, then the run moves on', async () => {
    await run();
    const owned = await appendBacklog();
    log.rekor.rotateV1();
    const inNew = await append(ours);
    const { queue, deps } = queuedFanOut();
    const planned = await runMonitor(deps());
    assert.equal(planned.logs[0]?.outcome, 'fanned-out', JSON.stringify(planned));
    assert.equal(store.states.get('rekor')?.fanOut?.end, 45, "the plan ends at the frozen tree's end");
    assert.equal(queue.length, 3);
    for (const message of queue.splice(0)) {
      assert.equal((await runMonitorShard(deps(), message)).outcome, 'scanned');
    }
    const finished = await runMonitor(deps());
    assert.equal(finished.ok, true, JSON.stringify(finished));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [...owned, inNew.logIndex],
    );
    assert.equal(alerts.ofKind('log-tree-changed')[0]?.severity, 'MEDIUM');
  });

  it('a frozen tree after it whose head does not verify is not scanned, and the alert (HIGH) names it', async () => {
    const { inFirst, inMiddle, inLast, middle } = await threeTrees();
    const result = await runMonitor(depsWith({ batchSize: 4 }, undefined, otherKeyFor([1])));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inFirst.logIndex, inLast.logIndex],
    );
    const [changed] = alerts.ofKind('log-tree-changed');
    assert.equal(changed?.severity, 'HIGH');
    assert.match(
      changed?.summary ?? '',
      new RegExp(
        ` - ${middle.frozenTreeId}" \\(3 entries: its signed tree head \\(origin "[^"]+"\\) does not verify`,
      ),
    );
    assert.deepEqual(changed?.evidence.unscannedTrees, [
      {
        origin: `127.0.0.1 - ${middle.frozenTreeId}`,
        size: 3,
        reason: `its signed tree head (origin "127.0.0.1 - ${middle.frozenTreeId}") does not verify under the log's key`,
      },
    ]);
    assert.deepEqual(
      store.states.get('rekor')?.previousShards.map((t) => t.pending),
      [undefined, { size: 3 }],
      'the tree passed over is kept pending',
    );
    assert.equal(
      (await runMonitor(depsWith({ batchSize: 4 }, undefined, otherKeyFor([1])))).logs[0]?.scanned,
      0,
    );
    // Once its head verifies, the tree passed over is scanned, and nothing else again.
    const later = await run();
    assert.equal(later.ok, true, JSON.stringify(later));
    assert.equal(later.logs[0]?.scanned, 3);
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inFirst.logIndex, inLast.logIndex, inMiddle.logIndex],
    );
    assert.equal(
      store.states.get('rekor')?.previousShards.some((t) => t.pending !== undefined),
      false,
    );
    assert.equal((await run()).logs[0]?.scanned, 0);
  });

  it('the tree being scanned listed frozen with a head that does not verify: its tail is left, counted, and the next tree followed (HIGH)', async () => {
    await appendMany(2);
    await run();
    await append(ours);
    await appendMany(2);
    log.rekor.rotateV1();
    const inNew = await append(ours);
    const result = await runMonitor(depsWith({ batchSize: 4 }, undefined, otherKeyFor([0])));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inNew.logIndex],
    );
    const [changed] = alerts.ofKind('log-tree-changed');
    assert.equal(changed?.severity, 'HIGH');
    assert.match(
      changed?.summary ?? '',
      /leaving 3 entries of the old tree unscanned \(the log lists it frozen, but its signed tree head \(origin "[^"]+"\) does not verify/,
    );
    assert.equal(changed?.evidence.previousTreeSize, 5, 'its size as listed');
    // Once the old tree's head verifies, its tail is scanned against it.
    const later = await run();
    assert.equal(later.logs[0]?.scanned, 3, JSON.stringify(later));
    assert.equal(alerts.ofKind('rogue-signature').length, 2, 'the owned entry of the tail too');
    assert.equal(store.states.get('rekor')?.previousShards[0]?.cursor, 5);
  });

  it('a backfill (--from) while a tail is pending counts in the old tree, and is not carried into the next', async () => {
    await appendMany(6);
    await run();
    const tail = await append(ours);
    log.rekor.rotateV1();
    await appendMany(3);
    const result = await runMonitor({ ...depsWith({ batchSize: 4 }), from: 4 });
    assert.equal(result.ok, true, JSON.stringify(result.logs[0]));
    assert.equal(result.logs[0]?.scanned, 3 + 3, 'the old tree from 4 to its end, then the new tree');
    assert.equal(result.logs[0]?.from, 4, 'the run reports where it started');
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [tail.logIndex],
    );
  });

  it('the entries a run may scan are shared by the trees it takes up', async () => {
    await run();
    await appendMany(5);
    log.rekor.rotateV1();
    await appendMany(5);
    const capped = () => runMonitor(depsWith({ batchSize: 5, maxEntriesPerRun: 5 }));
    const first = await capped();
    assert.equal(first.logs[0]?.scanned, 5);
    assert.equal(first.logs[0]?.outcome, 'partial', 'the next tree is left to the next run');
    const second = await capped();
    assert.equal(second.logs[0]?.scanned, 5);
    assert.equal(second.logs[0]?.outcome, 'scanned');
    assert.equal(store.states.get('rekor')?.cursor, 5);
  });

  it('a fan-out plan in progress when the tree is rotated out is finished, then its tail, then the new tree', async () => {
    await run();
    const owned = await appendBacklog();
    const { queue, deps } = queuedFanOut();
    assert.equal((await runMonitor(deps())).logs[0]?.outcome, 'fanned-out');
    const tail = await append(ours);
    log.rekor.rotateV1();
    const inNew = await append(ours);
    const [firstShard, ...rest] = queue.splice(0);
    assert.equal((await runMonitorShard(deps(), firstShard!)).outcome, 'scanned');
    assert.equal((await runMonitor(deps())).logs[0]?.outcome, 'fanned-out', 'the plan is not finished');
    for (const message of [...rest, ...queue.splice(0)]) await runMonitorShard(deps(), message);
    const done = await runMonitor(deps());
    assert.equal(done.ok, true, JSON.stringify(done));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [...owned, tail.logIndex, inNew.logIndex],
    );
  });

  it('the old tree listed without a head, then an empty frozen tree and a verified one: the tail is counted, each later tree scanned', async () => {
    await append(theirs);
    await run();
    await append(ours); // in the tail of the tree that will lose its head
    log.rekor.rotateV1();
    log.rekor.rotateV1(); // an empty tree frozen at once
    const inThird = await append(ours);
    log.rekor.rotateV1();
    const inActive = await append(ours);
    const headless = clientWithShardListings(log.rekor, (shards) => {
      delete (shards[0] as Partial<ListedShard>).signedTreeHead;
    });
    const result = await runMonitor(depsWith({ batchSize: 4 }, undefined, headless));
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inThird.logIndex, inActive.logIndex],
    );
    assert.deepEqual(
      alerts.ofKind('log-tree-changed').map((a) => a.severity),
      ['HIGH', 'MEDIUM', 'MEDIUM'],
    );
    assert.match(
      alerts.ofKind('log-tree-changed')[0]!.summary,
      /leaving 1 entries of the old tree unscanned \(the log lists it frozen, but it is listed without a signed tree head\)/,
    );
    assert.equal(result.logs[0]?.trees?.length, 4, 'the run names each tree it moved through');
  });

  it('a log whose info lists a tree twice is the log contradicting itself: CRITICAL, and nothing moves', async () => {
    await append(theirs);
    await run();
    log.rekor.rotateV1();
    await append(ours);
    const before = store.states.get('rekor')!;
    const twice = clientWithShardListings(log.rekor, (shards) => {
      shards.push({ ...shards[0]! });
    });
    const result = await runMonitor(depsWith({ batchSize: 4, timeBudgetMs: 5_000 }, undefined, twice));
    assert.equal(result.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(result));
    assert.equal(alerts.ofKind('log-inconsistent')[0]?.severity, 'CRITICAL');
    assert.equal(store.states.get('rekor')?.origin, before.origin);
    assert.equal(alerts.ofKind('rogue-signature').length, 0);
  });

  it('the tree-change alert not recorded: the state does not move, and the next run raises it', async () => {
    await append(theirs);
    await run();
    log.rekor.rotateV1();
    await append(ours);
    const before = store.states.get('rekor')!;
    const failing: MonitorDeps['alerts'] = {
      raise: async (alert) => {
        if (alert.kind === 'log-tree-changed') throw new Error('Firestore unavailable');
        await alerts.raise(alert);
      },
      resolve: (key, reason) => alerts.resolve(key, reason),
    };
    const first = await runMonitor({ ...depsWith({ batchSize: 4 }), alerts: failing });
    assert.equal(first.logs[0]?.outcome, 'failed');
    assert.equal(store.states.get('rekor')?.origin, before.origin);
    assert.equal((await run()).ok, true);
    assert.equal(alerts.ofKind('log-tree-changed').length, 1);
    assert.equal(alerts.ofKind('rogue-signature').length, 1);
  });

  it('a backfill (--from) when the old tree is done and the next not started is refused before anything moves', async () => {
    await run();
    await appendMany(5);
    log.rekor.rotateV1();
    await appendMany(5);
    assert.equal(
      (await runMonitor(depsWith({ batchSize: 5, maxEntriesPerRun: 5 }))).logs[0]?.outcome,
      'partial',
    );
    const before = store.states.get('rekor')!;
    const backfill = await runMonitor({ ...depsWith({ batchSize: 5 }), from: 2 });
    assert.equal(backfill.logs[0]?.outcome, 'failed');
    assert.ok(backfill.logs[0]?.error instanceof InvalidInputError);
    assert.match(String(backfill.logs[0]?.error), /cannot start while the log moves from tree/);
    assert.equal(store.states.get('rekor')?.origin, before.origin);
    assert.equal(alerts.ofKind('log-tree-changed').length, 0);
  });

  /** B (3 entries, one owned) passed over, its head not verifying then; C active. */
  const passOverMiddle = async () => {
    const { inMiddle } = await threeTrees();
    const moved = await runMonitor(depsWith({ batchSize: 4 }, undefined, otherKeyFor([1])));
    assert.equal(moved.ok, true, JSON.stringify(moved));
    assert.deepEqual(
      store.states.get('rekor')?.previousShards.map((t) => t.pending),
      [undefined, { size: 3 }],
    );
    return { inMiddle };
  };

  it('pending trees and the followed tree share the entries a run may scan, the pending ones at most half', async () => {
    await passOverMiddle();
    await appendMany(4);
    const capped = await runMonitor(depsWith({ batchSize: 4, maxEntriesPerRun: 3 }));
    assert.equal(capped.logs[0]?.scanned, 3, JSON.stringify(capped));
    assert.equal(capped.logs[0]?.outcome, 'partial');
    assert.equal(store.states.get('rekor')?.previousShards[1]?.cursor, 1, 'one for the pending tree');
    assert.equal(store.states.get('rekor')?.cursor, 1 + 2, 'two for the followed one');
  });

  it('a pending tree whose entries cannot be read stays pending and does not hold the followed tree back', async () => {
    await passOverMiddle();
    const inActive = await append(ours);
    const unreadable: RekorV1Reader = {
      getLogInfo: () => client.getLogInfo(),
      verifyConsistency: (a, b) => client.verifyConsistency(a, b),
      verifySignedEntryTimestamp: (e) => client.verifySignedEntryTimestamp(e),
      scanEntries: (start, end, keep) =>
        start < 6 && end > 3
          ? Promise.reject(new DependencyError('rekor', "the frozen shard's entries are not served"))
          : client.scanEntries(start, end, keep),
    };
    const result = await runMonitor(depsWith({ batchSize: 4 }, undefined, unreadable));
    assert.equal(result.logs[0]?.outcome, 'partial', JSON.stringify(result));
    assert.ok(alerts.ofKind('rogue-signature').some((a) => a.evidence.logIndex === inActive.logIndex));
    assert.deepEqual(store.states.get('rekor')?.previousShards[1]?.pending, { size: 3 });
  });

  it('a pending tree whose tail fails its proofs: CRITICAL, it stays pending saying why, and the followed tree is scanned in the same run', async () => {
    const { inMiddle } = await passOverMiddle();
    const middle = store.states.get('rekor')!.previousShards[1]!.origin;
    const inActive = await append(ours);
    // The log serves the pending tree's owned entry rewritten: it fails its inclusion proof.
    log.rekor.faults.set({ rewriteEntry: inMiddle.logIndex });
    const logger = createMemoryLogger();
    const faulty = await runMonitor({ ...depsWith({ batchSize: 4 }), logger });
    assert.equal(faulty.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(faulty));
    const [inconsistent] = alerts.ofKind('log-inconsistent');
    assert.equal(inconsistent?.severity, 'CRITICAL');
    const rogue = () => alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex);
    assert.ok(rogue().includes(inActive.logIndex), 'the followed tree is scanned in the same run');
    assert.ok(!rogue().includes(inMiddle.logIndex));
    assert.equal(store.states.get('rekor')?.cursor, 2, 'the followed tree scanned to its end');
    const left = store.states.get('rekor')!.previousShards[1]!;
    assert.equal(left.origin, middle);
    assert.equal(left.cursor, 0);
    assert.equal(left.pending?.size, 3, 'it stays pending');
    assert.equal(left.pending?.fault?.error, inconsistent?.evidence.verifierOutput, 'its state says why');
    assert.equal(left.pending?.fault?.alert, 'log-inconsistent:rekor');
    const since = left.pending?.fault?.since;
    assert.ok(
      logger.entries.some(
        (l) =>
          l.severity === 'ERROR' &&
          l['origin'] === middle &&
          /failed a log integrity check .*it stays pending, and the followed tree is scanned/.test(l.message),
      ),
      'an ERROR names the tree',
    );

    // Still faulty: the same alert (one record), the tree still pending since then, the followed tree scanned.
    const later = await append(ours);
    const again = await run();
    assert.equal(again.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(again));
    assert.equal(alerts.ofKind('log-inconsistent').length, 1);
    assert.ok(rogue().includes(later.logIndex));
    assert.equal(store.states.get('rekor')!.previousShards[1]!.pending?.fault?.since, since);

    // Served honestly again: the tail is scanned, and the tree is no longer pending.
    log.rekor.faults.clear();
    const honest = await run();
    assert.equal(honest.ok, true, JSON.stringify(honest));
    assert.ok(rogue().includes(inMiddle.logIndex));
    const done = store.states.get('rekor')!.previousShards[1]!;
    assert.deepEqual([done.cursor, done.pending], [3, undefined]);
  });

  it('a tree passed over is kept under its listed tree ID, whatever origin its unverified head claims', async () => {
    await appendMany(2);
    await run();
    log.rekor.rotateV1();
    const inMiddle = await append(ours);
    await appendMany(2);
    const middle = log.rekor.rotateV1();
    await append(theirs);
    const garbled = clientWithShardListings(log.rekor, (shards) => {
      const note = signedByAnotherKey(shards[1]!.signedTreeHead);
      shards[1]!.signedTreeHead = note.replace(/^[^\n]*/, 'elsewhere - 42');
    });
    assert.equal((await runMonitor(depsWith({ batchSize: 4 }, undefined, garbled))).ok, true);
    assert.equal(store.states.get('rekor')?.previousShards[1]?.origin, `127.0.0.1 - ${middle.frozenTreeId}`);
    await run();
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inMiddle.logIndex],
      'scanned once its real head verifies',
    );
  });

  it('a frozen tree that does not extend what was verified of it is the log rewriting history: nothing moves', async () => {
    await appendMany(2);
    await run();
    await append(ours);
    const before = store.states.get('rekor')!;
    log.rekor.rotateV1();
    // Every tree head the log signs now has another root: the frozen tree's too.
    log.rekor.faults.set({ splitView: true });
    const result = await run();
    assert.equal(result.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(result));
    const [inconsistent] = alerts.ofKind('log-inconsistent');
    assert.equal(inconsistent?.severity, 'CRITICAL');
    assert.equal(alerts.ofKind('log-tree-changed').length, 0);
    const after = store.states.get('rekor')!;
    assert.equal(after.origin, before.origin);
    assert.equal(after.cursor, before.cursor);
    assert.equal(after.checkpoint, before.checkpoint);
  });
});
