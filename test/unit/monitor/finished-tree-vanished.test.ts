/**
 * A tree the monitor finished (a rotation the log announced: frozen, its final head verified, every
 * entry scanned) that the log later stops listing. Found by a review of the log-integrity checks
 * (LOW): a finished tree missing from the listing was passed over in silence, though a log dropping
 * closed history the monitor had checked is worth hearing of. Now it is a HIGH `log-tree-changed`
 * (`…:ORIGIN:vanished`) once, remembered in the state (`vanished`) until the log lists it again; a
 * listing that could not be read is not a listing without it. A later review (LOW): one log info
 * answer omitting the shard for a moment paged that HIGH at once; now the first listing without it
 * is remembered (`missingSince`), and the alert waits for the second in a row. A third review
 * (LOW): a log omitting the tree every other listing was never alerted, each listing with it
 * forgetting the omission; now an omission is forgotten only after three listings in a row include
 * the tree (`listedSinceMissing` counts them), and another omission before then is alerted. On the
 * Rekor emulator, its listing edited.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { abandonPendingTree } from '../../../functions/monitor-log/abandon-tree.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { type RekorV1Reader, RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore, type PreviousTree } from '../../../functions/monitor-log/state.ts';
import { parseCheckpoint } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { clientWithShardListings, startTestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

/** A log whose tree A (2 entries) was rotated out and finished by the monitor; tree B is followed. */
async function finished(name: string) {
  const log = await startTestLog(name);
  const client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
  let n = 0;
  const append = (k: typeof ours) => client.append(hashedRekordProposal(k, Buffer.from(`x ${n++}`)).body);
  const identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
    Promise.reject(new Error('no KMS')),
  );
  const store = new MemoryMonitorStore();
  const alerts = new MemoryAlertSink();
  const source = (reader: RekorV1Reader) => new RekorV1Source({ client: reader, url: log.rekor.url });
  const runOn = (source: MonitoredLog, sink: MemoryAlertSink = alerts) =>
    runMonitor({
      logs: [{ name: 'rekor', log: source, startIndex: 0 }],
      store,
      alerts: sink,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
      limits: { batchSize: 10 },
    });
  const run = (reader: RekorV1Reader, sink?: MemoryAlertSink) => runOn(source(reader), sink);
  await append(theirs);
  await append(theirs);
  assert.equal((await run(client)).ok, true);
  log.rekor.rotateV1();
  await append(theirs);
  assert.equal((await run(client)).ok, true);
  const tree = store.states.get('rekor')!.previousShards[0]!;
  assert.deepEqual([tree.cursor, tree.pending], [2, undefined], 'tree A finished');
  // The log no longer lists tree A (nothing is appended meanwhile: without A listed, the active
  // tree's global offset is not known, which these tests are not about).
  const dropping = clientWithShardListings(log.rekor, (shards) => void shards.splice(0, shards.length));
  const key = `log-tree-changed:rekor:${tree.origin}:vanished`;
  const raisedOf = () => alerts.raised.filter((a) => a.key === key);
  return { log, client, store, alerts, run, runOn, source, dropping, tree, key, raisedOf };
}

/** A sink that cannot record `vanished` alerts (its store is down). */
class FailingSink extends MemoryAlertSink {
  override async raise(input: AlertInput): Promise<void> {
    if (input.key?.endsWith(':vanished')) throw new Error('alert store unavailable');
    await super.raise(input);
  }
}

describe('a tree the monitor finished, no longer listed by the log', () => {
  it('HIGH once across runs, naming the tree and the head it was finished at; listed again, held to it', async () => {
    const { log, client, store, alerts, run, dropping, tree, key, raisedOf } =
      await finished('vanished-once');
    try {
      const first = await run(dropping);
      assert.equal(first.ok, true, JSON.stringify(first));
      assert.equal(raisedOf().length, 0, 'one listing without it: not yet');
      const since = store.states.get('rekor')!.previousShards[0]!.missingSince;
      assert.equal(typeof since, 'string', 'remembered');
      const second = await run(dropping);
      assert.equal(second.ok, true, JSON.stringify(second));
      const [vanished, ...more] = raisedOf();
      assert.equal(more.length, 0);
      assert.equal(vanished?.severity, 'HIGH');
      assert.equal(vanished?.kind, 'log-tree-changed');
      const head = parseCheckpoint(tree.checkpoint).checkpoint;
      assert.match(
        vanished?.summary ?? '',
        new RegExp(
          `no longer lists tree "${tree.origin}", frozen at 2 entries \\(root ${head.rootHash.toString('hex')}\\) and scanned to its end \\(missing from two listings in a row, the first read at ${since}\\)`,
        ),
      );
      assert.deepEqual(vanished?.evidence.checkpoints, [tree.checkpoint]);
      assert.equal(vanished?.evidence.missingSince, since);
      assert.equal(vanished?.evidence.finishedTreeSize, 2);
      assert.equal(vanished?.evidence.finishedRootHash, head.rootHash.toString('hex'));
      assert.equal(vanished?.evidence.origin, tree.origin);
      const marked = store.states.get('rekor')!.previousShards[0]!;
      assert.equal(typeof marked.vanished, 'string', 'remembered in the state');
      assert.equal(marked.pending, undefined, 'still finished');

      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 1, 'not alerted again while it stays unlisted');
      assert.equal((await alerts.get(key))?.count, 1);

      // Listed again as it was finished: nothing to say, and it is held to that head again.
      assert.equal((await run(client)).ok, true);
      assert.equal(raisedOf().length, 1);
      const relisted = store.states.get('rekor')!.previousShards[0]!;
      assert.deepEqual([relisted.vanished, relisted.missingSince], [undefined, undefined], 'listed again');
      assert.equal(alerts.ofKind('log-inconsistent').length, 0);
      // Gone again, for two listings: a new disappearance, the same incident counted up.
      assert.equal((await run(dropping)).ok, true);
      assert.equal((await alerts.get(key))?.count, 1);
      assert.equal((await run(dropping)).ok, true);
      assert.equal((await alerts.get(key))?.count, 2);
    } finally {
      await log.stop();
    }
  });

  it('one listing without it is remembered, not alerted; three listings in a row with it (by name, or unnamed at its size) forget it', async () => {
    const { log, client, store, run, dropping, tree, raisedOf } = await finished('vanished-glitch');
    try {
      const stored = (): PreviousTree => store.states.get('rekor')!.previousShards[0]!;
      const unnamed = clientWithShardListings(log.rekor, (shards) => {
        const { treeID: _, signedTreeHead: __, ...rest } = shards[0]!;
        shards[0] = rest as (typeof shards)[0];
      });
      assert.equal((await run(dropping)).ok, true);
      const first = stored().missingSince;
      assert.equal(typeof first, 'string', 'the first listing without it is remembered');
      assert.equal(raisedOf().length, 0, 'not alerted');
      // The record the code before `listedSinceMissing` wrote too: it loads as "the latest listing
      // omitted it".
      assert.deepEqual(Object.keys(stored()).sort(), ['checkpoint', 'cursor', 'missingSince', 'origin']);
      assert.equal(stored().vanished, undefined);
      assert.equal((await run(client)).ok, true);
      assert.deepEqual([stored().missingSince, stored().listedSinceMissing], [first, 1], 'listed once: kept');
      // An unnamed tree of its size may be it: that counts as a listing with it.
      assert.equal((await run(unnamed)).ok, true);
      assert.deepEqual([stored().missingSince, stored().listedSinceMissing], [first, 2]);
      assert.equal((await run(client)).ok, true);
      assert.deepEqual(stored(), tree, 'three in a row: forgotten');
      // Omitted once again after that: a new blip, not the second of a pattern.
      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 0, 'an omission long forgotten does not count');
      const since = stored().missingSince;
      assert.equal(typeof since, 'string');
      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 1, 'two in a row: alerted');
      assert.equal(raisedOf()[0]?.evidence.missingSince, since, 'since the first of the two');
      assert.equal(raisedOf()[0]?.evidence.listedBetween, 0);
    } finally {
      await log.stop();
    }
  });

  it('omitted every other listing, or with fewer than three listings with it between: HIGH at the second omission', async () => {
    const { log, client, store, alerts, run, dropping, tree, key, raisedOf } =
      await finished('vanished-intermittent');
    try {
      const stored = (): PreviousTree => store.states.get('rekor')!.previousShards[0]!;
      const unnamed = clientWithShardListings(log.rekor, (shards) => {
        const { treeID: _, signedTreeHead: __, ...rest } = shards[0]!;
        shards[0] = rest as (typeof shards)[0];
      });
      assert.equal((await run(dropping)).ok, true);
      const since = stored().missingSince;
      assert.equal((await run(client)).ok, true);
      assert.equal(raisedOf().length, 0);
      assert.equal((await run(dropping)).ok, true);
      const [vanished, ...more] = raisedOf();
      assert.equal(more.length, 0);
      assert.equal(vanished?.severity, 'HIGH');
      assert.match(
        vanished?.summary ?? '',
        new RegExp(
          `no longer lists tree "${tree.origin}", .* \\(missing from the listing read at ${since}, listed in the next one, missing again now\\)`,
        ),
      );
      assert.equal(vanished?.evidence.missingSince, since, 'since the first omission');
      assert.equal(vanished?.evidence.listedBetween, 1);
      assert.equal(typeof stored().vanished, 'string', 'remembered in the state');
      assert.equal(stored().listedSinceMissing, undefined);

      // Listed again after the alert: forgotten at once, held to its head; then omitted, listed
      // twice (unnamed, by name) and omitted again: the same incident counted up.
      assert.equal((await run(client)).ok, true);
      assert.deepEqual(stored(), tree, 'listed again after the alert');
      assert.equal((await run(dropping)).ok, true);
      assert.equal((await alerts.get(key))?.count, 1, 'one omission: not yet');
      assert.equal((await run(unnamed)).ok, true);
      assert.equal((await run(client)).ok, true);
      assert.equal((await run(dropping)).ok, true);
      assert.equal((await alerts.get(key))?.count, 2);
      assert.equal(raisedOf()[1]?.evidence.listedBetween, 2);
      assert.equal(alerts.ofKind('log-inconsistent').length, 0);
    } finally {
      await log.stop();
    }
  });

  it('a count left on the tree without an omission (a rollback, a hand edit) does not carry into a new one', async () => {
    const { log, client, store, run, dropping, raisedOf } = await finished('vanished-leftover-count');
    try {
      const state = store.states.get('rekor')!;
      state.previousShards[0] = { ...state.previousShards[0]!, listedSinceMissing: 2 };
      assert.equal((await run(dropping)).ok, true);
      assert.equal(
        store.states.get('rekor')!.previousShards[0]!.listedSinceMissing,
        undefined,
        'a first omission',
      );
      assert.equal((await run(client)).ok, true);
      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 1, 'the second omission, one listing between, is alerted');
      assert.equal(raisedOf()[0]?.evidence.listedBetween, 1);
    } finally {
      await log.stop();
    }
  });

  it('a listing that could not be read is not a listing without it; the next one read is', async () => {
    const { client, store, run, runOn, source, dropping, raisedOf, log } =
      await finished('vanished-read-fails');
    try {
      const before = structuredClone(store.states.get('rekor')!);
      const reading = source(client);
      const unreadable: MonitoredLog = {
        url: reading.url,
        getCheckpoint: () => reading.getCheckpoint(),
        verifyConsistency: (a, b) => reading.verifyConsistency(a, b),
        readEntries: (s, e, h) => reading.readEntries(s, e, h),
        frozenTrees: () => Promise.reject(new DependencyError('rekor', 'log info: 503 Service Unavailable')),
      };
      const failed = await runOn(unreadable);
      assert.equal(failed.ok, false, 'the run fails, to be tried again');
      assert.equal(raisedOf().length, 0, 'nothing alerted');
      assert.deepEqual(store.states.get('rekor')!.previousShards, before.previousShards, 'nothing marked');
      // The log info not read at all (the same read gives the checkpoint and the listing).
      const unreachable: RekorV1Reader = {
        getLogInfo: () => Promise.reject(new DependencyError('rekor', 'log info: connection reset')),
        verifyConsistency: (a, b) => client.verifyConsistency(a, b),
        verifySignedEntryTimestamp: (e) => client.verifySignedEntryTimestamp(e),
        scanEntries: (s, e, keep) => client.scanEntries(s, e, keep),
      };
      assert.equal((await run(unreachable)).ok, false);
      assert.equal(raisedOf().length, 0);

      assert.equal((await run(dropping)).ok, true);
      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 1, 'two listings read and verified without the tree are alerted');
    } finally {
      await log.stop();
    }
  });

  it('from a state written before `vanished`: the tree still listed says nothing, gone is alerted once', async () => {
    const { log, client, store, run, dropping, raisedOf } = await finished('vanished-old-state');
    try {
      // As an older monitor wrote it: no `vanished`, no `listedFrozen`, no growth record.
      const old = store.states.get('rekor')!;
      delete old.listedFrozen;
      delete old.growth;
      for (const s of old.previousShards) assert.equal('vanished' in s, false);
      assert.equal((await run(client)).ok, true);
      assert.equal(raisedOf().length, 0);
      assert.equal(store.states.get('rekor')!.previousShards[0]!.vanished, undefined);
      assert.equal((await run(dropping)).ok, true);
      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 1);
    } finally {
      await log.stop();
    }
  });

  it('an alert that cannot be recorded fails the run and marks nothing: the next run raises it', async () => {
    const { log, store, run, dropping, raisedOf } = await finished('vanished-sink-fails');
    try {
      assert.equal((await run(dropping)).ok, true);
      const failing = await run(dropping, new FailingSink());
      assert.equal(failing.ok, false);
      assert.equal(store.states.get('rekor')!.previousShards[0]!.vanished, undefined, 'not marked');
      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 1);
      assert.equal(typeof store.states.get('rekor')!.previousShards[0]!.vanished, 'string');
    } finally {
      await log.stop();
    }
  });

  it('listed without a name at its size (its head unreadable), or with a head that does not verify: not alerted', async () => {
    const { log, run, raisedOf } = await finished('vanished-unnamed');
    try {
      const unnamed = clientWithShardListings(log.rekor, (shards) => {
        const { treeID: _, signedTreeHead: __, ...rest } = shards[0]!;
        shards[0] = rest as (typeof shards)[0];
      });
      assert.equal((await unnamed.getLogInfo()).inactiveShards[0]?.origin, undefined, 'unnamed');
      assert.equal((await run(unnamed)).ok, true);
      const unverified = clientWithShardListings(log.rekor, (shards) => {
        const { signedTreeHead: _, ...rest } = shards[0]!;
        shards[0] = rest as (typeof shards)[0];
      });
      assert.equal((await run(unverified)).ok, true);
      assert.equal(raisedOf().length, 0);
    } finally {
      await log.stop();
    }
  });

  it('a tree an operator abandoned is not a finished one: not alerted when unlisted', async () => {
    const { log, store, run, dropping, tree, raisedOf } = await finished('vanished-abandoned');
    try {
      // As an unannounced move leaves a tree: pending, then given up by an operator.
      const state = store.states.get('rekor')!;
      state.previousShards = state.previousShards.map((s) => ({ ...s, pending: { size: 2 } }));
      await abandonPendingTree(store, { log: 'rekor', origin: tree.origin, reason: 'never listed again' });
      assert.notEqual(store.states.get('rekor')!.previousShards[0]!.abandoned, undefined);
      assert.equal((await run(dropping)).ok, true);
      assert.equal((await run(dropping)).ok, true);
      assert.equal(raisedOf().length, 0);
    } finally {
      await log.stop();
    }
  });
});
