/**
 * A tree change the log does not announce, on the Rekor emulator: tree A was verified at 10 entries,
 * then grew to 15 (entry 12 signed with an owned key) before the log moved to tree B without listing
 * A as frozen (an operator's roll-out in progress, one odd answer). The monitor cannot know A's final size then: it raises
 * log-tree-changed (HIGH) saying entries past the verified size may be unseen, keeps A pending, and
 * scans A's tail once the log lists A frozen with a final head that verifies and extends what was
 * verified of it. Before, A was stored as done and entry 12 was never read.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { loadKeys } from '../../../emulators/rekor/keys.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError, InvalidInputError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { abandonPendingTree } from '../../../functions/monitor-log/abandon-tree.ts';
import { logTreeChangedAlert } from '../../../functions/monitor-log/alerts.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { type RekorV1Reader, RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { formatCheckpointBody, parseCheckpoint } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import type { LogEntry } from '../../../functions/tlog/client/types.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { clientWithShardListings, startTestLog, type TestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

describe('the tail of a tree left by a move the log does not announce', () => {
  let log: TestLog;
  let client: RekorV1Client;
  let store: MemoryMonitorStore;
  let alerts: MemoryAlertSink;
  let identities: ResolvedIdentity[];
  let logger: ReturnType<typeof createMemoryLogger>;
  let counter = 0;
  const append = (key: typeof ours): Promise<LogEntry> =>
    client.append(hashedRekordProposal(key, Buffer.from(`unannounced ${counter++}`)).body);

  /** `indexOffset`: the new tree's first global index, for info that lists no frozen shard to give it. */
  const run = (reader: RekorV1Reader = client, indexOffset?: number) =>
    runMonitor({
      logs: [
        {
          name: 'rekor',
          log: new RekorV1Source({
            client: reader,
            url: log.rekor.url,
            ...(indexOffset !== undefined ? { indexOffset } : {}),
          }),
        },
      ],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger,
      limits: { batchSize: 4 },
    });

  /**
   * A run reading info that does not list the tree the monitor was in (yet): no frozen shard at all,
   * so the new tree's first global index (after A's 15 entries) is the configured one.
   */
  const runUnlisted = () =>
    run(
      clientWithShardListings(log.rekor, (shards) => {
        shards.splice(0);
      }),
      15,
    );
  /** A verified at 10 (the cursor there), then 5 more with ours at index 12; rotated; B has one of ours. */
  const grownThenMoved = async () => {
    for (let i = 0; i < 10; i++) await append(theirs);
    assert.equal((await run()).ok, true); // the first run starts at the tree size: 10
    assert.deepEqual([store.states.get('rekor')?.treeSize, store.states.get('rekor')?.cursor], [10, 10]);
    await append(theirs);
    await append(theirs);
    const inTail = await append(ours);
    assert.equal(inTail.logIndex, 12);
    await append(theirs);
    await append(theirs);
    log.rekor.rotateV1();
    const inNew = await append(ours);
    return { inTail, inNew };
  };

  beforeEach(async () => {
    log = await startTestLog('unannounced-rotation');
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
    identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
      Promise.reject(new Error('no KMS here')),
    );
    store = new MemoryMonitorStore();
    alerts = new MemoryAlertSink();
    logger = createMemoryLogger();
  });
  afterEach(() => log.stop());

  it('not listed: HIGH, saying what past the verified size may be unseen; scanned once the log lists its verified final head', async () => {
    const { inTail, inNew } = await grownThenMoved();

    const moved = await runUnlisted();
    assert.equal(moved.ok, true, JSON.stringify(moved));
    const [changed] = alerts.ofKind('log-tree-changed');
    assert.equal(changed?.severity, 'HIGH');
    assert.match(changed?.summary ?? '', /past the 10 entries verified of it may be unseen/);
    assert.match(
      changed?.summary ?? '',
      /kept pending, and scanned to its final head once the log lists it frozen/,
    );
    assert.equal(changed?.evidence['previousTreePending'], true);
    assert.equal(changed?.evidence['previousTreeVerifiedSize'], 10);
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inNew.logIndex],
      'the new tree is followed meanwhile',
    );
    const left = store.states.get('rekor')?.previousShards[0];
    assert.equal(left?.cursor, 10);
    assert.deepEqual(left?.pending, { size: 10 }, 'kept pending: its final size is unknown');

    // Still not listed: nothing to prove the tail against; it stays pending, and a WARNING says so.
    assert.equal((await runUnlisted()).logs[0]?.scanned, 0);
    assert.deepEqual(store.states.get('rekor')?.previousShards[0]?.pending, { size: 10 });
    assert.ok(
      logger.entries.some((l) => l.severity === 'WARNING' && /still cannot be proven/.test(l.message)),
    );

    // Listed frozen with its final head (15 entries), consistent with the 10 verified: the tail is read.
    const listed = await run();
    assert.equal(listed.ok, true, JSON.stringify(listed));
    assert.equal(listed.logs[0]?.scanned, 5, 'entries 10–14 of the old tree');
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inNew.logIndex, inTail.logIndex],
    );
    const done = store.states.get('rekor')?.previousShards[0];
    assert.equal(done?.cursor, 15);
    assert.equal(done?.pending, undefined);
    assert.equal(alerts.ofKind('log-tree-changed').length, 1, 'the move is alerted once');

    assert.equal((await run()).logs[0]?.scanned, 0, 'nothing scanned twice');
  });

  it('a later frozen head that does not extend what was verified is log-inconsistent, and the tree stays pending; the new tree is scanned meanwhile', async () => {
    const { inTail, inNew } = await grownThenMoved();
    assert.equal((await runUnlisted()).ok, true);
    // Signed with an owned key in the tree followed now, while the old one is listed forked.
    const meanwhile = await append(ours);
    // The old tree listed with a final head the log's key signed over another history: a fork.
    const signer = rekorV1NoteSigner('127.0.0.1', loadKeys(log.dataDir).v1);
    const forked = clientWithShardListings(log.rekor, (shards) => {
      const [frozen] = shards;
      const origin = parseCheckpoint(frozen!.signedTreeHead).checkpoint.origin;
      const rootHash = createHash('sha256').update('another history').digest();
      frozen!.rootHash = rootHash.toString('hex');
      frozen!.signedTreeHead = signNote(
        formatCheckpointBody({ origin, size: frozen!.treeSize, rootHash, extensions: [] }),
        signer,
      );
    });
    const result = await run(forked);
    assert.equal(result.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(result));
    assert.equal(alerts.ofKind('log-inconsistent')[0]?.severity, 'CRITICAL');
    assert.match(
      String(alerts.ofKind('log-inconsistent')[0]?.evidence.verifierOutput),
      /size 15 does not extend size 10/,
    );
    const left = store.states.get('rekor')?.previousShards[0];
    assert.equal(left?.pending?.size, 10);
    assert.match(left?.pending?.fault?.error ?? '', /size 15 does not extend size 10/, 'its state says why');
    assert.equal(left?.cursor, 10, 'nothing read against it');
    assert.ok(!alerts.ofKind('rogue-signature').some((a) => a.evidence.logIndex === inTail.logIndex));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inNew.logIndex, meanwhile.logIndex],
      'the followed tree is scanned in the same run',
    );
    assert.ok(
      logger.entries.some(
        (l) =>
          l.severity === 'ERROR' &&
          /failed a log integrity check .*it stays pending/.test(l.message) &&
          l['origin'] === left?.origin,
      ),
      'an ERROR names the tree',
    );
  });
  it('a consistency proof for it that cannot be read now: it stays pending, and the new tree is scanned meanwhile', async () => {
    const { inTail, inNew } = await grownThenMoved();
    assert.equal((await runUnlisted()).ok, true);
    const origin = store.states.get('rekor')!.previousShards[0]!.origin;
    const meanwhile = await append(ours);
    const noProof: RekorV1Reader = {
      getLogInfo: () => client.getLogInfo(),
      verifyConsistency: (a, b) =>
        a.origin === origin
          ? Promise.reject(new DependencyError('rekor', 'consistency proof: connection reset'))
          : client.verifyConsistency(a, b),
      verifySignedEntryTimestamp: (e) => client.verifySignedEntryTimestamp(e),
      scanEntries: (start, end, keep) => client.scanEntries(start, end, keep),
    };
    const result = await run(noProof);
    assert.equal(result.logs[0]?.outcome, 'partial', JSON.stringify(result));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inNew.logIndex, meanwhile.logIndex],
    );
    assert.deepEqual(store.states.get('rekor')?.previousShards[0]?.pending, { size: 10 }, 'no fault: a read');
    assert.equal(alerts.ofKind('log-inconsistent').length, 0);

    assert.equal((await run()).ok, true);
    assert.ok(alerts.ofKind('rogue-signature').some((a) => a.evidence.logIndex === inTail.logIndex));
  });

  it('abandoned by an operator: no longer pending nor warned about, its tail never scanned, the reason kept', async () => {
    const { inNew } = await grownThenMoved();
    assert.equal((await runUnlisted()).ok, true);
    const origin = store.states.get('rekor')!.previousShards[0]!.origin;
    const abandoned = await abandonPendingTree(
      store,
      { log: 'rekor', origin, reason: 'shard retired by the log operator' },
      () => new Date('2026-12-03T12:00:00Z'),
    );
    assert.deepEqual(abandoned, {
      log: 'rekor',
      origin,
      cursor: 10,
      size: 10,
      at: '2026-12-03T12:00:00.000Z',
      reason: 'shard retired by the log operator',
    });
    const left = store.states.get('rekor')!.previousShards[0]!;
    assert.equal(left.pending, undefined);
    assert.deepEqual(left.abandoned, {
      at: '2026-12-03T12:00:00.000Z',
      reason: 'shard retired by the log operator',
      size: 10,
    });
    logger.entries.length = 0;
    assert.equal((await runUnlisted()).ok, true);
    assert.equal(
      logger.entries.some((l) => /still cannot be proven/.test(l.message)),
      false,
      'no WARNING about it any more',
    );
    // Even once the log lists it frozen, an abandoned tree's tail is not read.
    const listed = await run();
    assert.equal(listed.ok, true, JSON.stringify(listed));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [inNew.logIndex],
    );
    // A second time: nothing of that origin is pending now, and the answer says what is.
    await assert.rejects(
      abandonPendingTree(store, { log: 'rekor', origin, reason: 'again' }),
      (err: unknown) =>
        err instanceof InvalidInputError && /has no pending tree .*; pending: none/.test(err.message),
    );
  });
});

describe('the tree-change alert on a log that lists no frozen trees', () => {
  it('says the tail is scanned only if the log returns to the tree', () => {
    const previous = { origin: 'log - 1', checkpoint: 'log - 1\n4\n...\n', cursor: 4, treeSize: 4 };
    const head = { origin: 'log - 2', size: 0, rootHash: Buffer.alloc(32), extensions: [], note: 'n' };
    const alert = logTreeChangedAlert({ name: 'L', url: 'u' }, previous, head, undefined, undefined, {
      listsFrozenTrees: false,
    });
    assert.equal(alert.severity, 'HIGH');
    assert.match(alert.summary, /past the 4 entries verified of it may be unseen/);
    assert.match(
      alert.summary,
      /lists no frozen trees, so they are scanned only if the log returns to that tree/,
    );
  });
});
