/**
 * A frozen tree's size in the log's info is the log's unsigned word; the monitor already verified a
 * checkpoint of that tree. On the Rekor emulator: the tree the monitor scans is rotated out and
 * listed without a signed tree head, at a size below the checkpoint verified of it. Taking the
 * listing would leave an owned entry inside a verified checkpoint unscanned for good; it is the log
 * contradicting itself (log-inconsistent), and nothing moves until the log lists the tree honestly.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { logTreeChangedAlert } from '../../../functions/monitor-log/alerts.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { type ResolvedIdentity, resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { type RekorV1Reader, RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import type { LogEntry } from '../../../functions/tlog/client/types.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { clientWithShardListings, startTestLog, type TestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

describe('a frozen tree listed below the checkpoint verified of it', () => {
  let log: TestLog;
  let client: RekorV1Client;
  let store: MemoryMonitorStore;
  let alerts: MemoryAlertSink;
  let identities: ResolvedIdentity[];
  let counter = 0;
  const append = (key: typeof ours): Promise<LogEntry> =>
    client.append(hashedRekordProposal(key, Buffer.from(`frozen listing ${counter++}`)).body);

  const run = (reader: RekorV1Reader = client, maxEntriesPerRun = 1000) =>
    runMonitor({
      logs: [
        { name: 'rekor', log: new RekorV1Source({ client: reader, url: log.rekor.url }), startIndex: 0 },
      ],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
      limits: { batchSize: 10, maxEntriesPerRun },
    });

  /** Info listing the first frozen tree without its signed tree head, at `size` when given. */
  const headless = (size?: number) =>
    clientWithShardListings(log.rekor, (shards) => {
      delete (shards[0] as { signedTreeHead?: string }).signedTreeHead;
      if (size !== undefined) shards[0]!.treeSize = size;
    });

  /**
   * Tree A: two entries scanned, then one of theirs and one of ours; a run limited to one entry
   * verifies A at 4 and stops at 3. Then A is rotated out, the new tree still empty.
   */
  const verifiedBeyondCursor = async (): Promise<LogEntry> => {
    await append(theirs);
    await append(theirs);
    await run();
    await append(theirs);
    const owned = await append(ours);
    await run(client, 1);
    const state = store.states.get('rekor')!;
    assert.deepEqual([state.treeSize, state.cursor], [4, 3]);
    log.rekor.rotateV1();
    return owned;
  };

  beforeEach(async () => {
    log = await startTestLog('frozen-listing');
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
    identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
      Promise.reject(new Error('no KMS here')),
    );
    store = new MemoryMonitorStore();
    alerts = new MemoryAlertSink();
  });
  afterEach(() => log.stop());

  it('is the log contradicting itself: CRITICAL, nothing moves, and the owned entry is scanned once it is listed honestly', async () => {
    const owned = await verifiedBeyondCursor();
    const before = store.states.get('rekor')!;

    const lying = await run(headless(3));
    assert.equal(lying.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(lying));
    const [inconsistent] = alerts.ofKind('log-inconsistent');
    assert.equal(inconsistent?.severity, 'CRITICAL');
    assert.match(String(inconsistent?.evidence.verifierOutput), /at 3 entries, fewer than the 4/);
    assert.equal(inconsistent?.evidence.treeIndex, 3, 'the first entry the listing disowns');
    assert.deepEqual(inconsistent?.evidence.checkpoints?.[0], before.checkpoint);
    assert.equal(alerts.ofKind('log-tree-changed').length, 0, 'no move without the tree verified to its end');
    const after = store.states.get('rekor')!;
    assert.deepEqual([after.origin, after.treeSize, after.cursor], [before.origin, 4, 3]);

    const honest = await run();
    assert.equal(honest.ok, true, JSON.stringify(honest));
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [owned.logIndex],
    );
  });

  it('a tree kept pending is held to its verified size too: a later listing below it is log-inconsistent', async () => {
    const owned = await verifiedBeyondCursor();
    // Listed at its size, without a head: the tail is left, counted and kept pending.
    const moved = await run(headless());
    assert.equal(moved.ok, true, JSON.stringify(moved));
    const [changed] = alerts.ofKind('log-tree-changed');
    assert.equal(changed?.severity, 'HIGH');
    assert.match(changed?.summary ?? '', /leaving 1 entries of the old tree unscanned/);
    assert.deepEqual(store.states.get('rekor')?.previousShards[0]?.pending, { size: 4 });

    const lying = await run(headless(3));
    assert.equal(lying.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(lying));
    assert.match(
      String(alerts.ofKind('log-inconsistent')[0]?.evidence.verifierOutput),
      /at 3 entries, fewer than the 4/,
    );
    const pending = store.states.get('rekor')?.previousShards[0]?.pending;
    assert.equal(pending?.size, 4, 'still pending');
    assert.match(pending?.fault?.error ?? '', /at 3 entries, fewer than the 4/, 'and its state says why');
    assert.equal(pending?.fault?.alert, 'log-inconsistent:rekor');

    await run();
    assert.deepEqual(
      alerts.ofKind('rogue-signature').map((a) => a.evidence.logIndex),
      [owned.logIndex],
    );
    assert.equal(store.states.get('rekor')?.previousShards[0]?.pending, undefined);
  });
});

describe('the tree-change alert counts the old tree by what was verified of it', () => {
  const previous = { origin: 'log - 1', checkpoint: 'log - 1\n4\n...\n', cursor: 3, treeSize: 4 };
  const head = { origin: 'log - 2', size: 0, rootHash: Buffer.alloc(32), extensions: [], note: 'n' };

  const alertFor = (listedSize: number) =>
    logTreeChangedAlert({ name: 'L', url: 'u' }, previous, head, undefined, {
      old: { origin: 'log - 1', size: listedSize, unverified: 'it is listed without a signed tree head' },
      passedOver: [],
    });

  it('never below the verified size, whatever size the unsigned listing gives', () => {
    const alert = alertFor(3);
    assert.equal(alert.evidence['previousTreeSize'], 4);
    assert.match(alert.summary, /leaving 1 entries of the old tree unscanned/);
  });

  it('by the listing when it lists more (entries the tree gained before it froze)', () => {
    const alert = alertFor(9);
    assert.equal(alert.evidence['previousTreeSize'], 9);
    assert.match(alert.summary, /leaving 6 entries of the old tree unscanned/);
  });
});
