/**
 * A tree the monitor finished (a rotation the log announced: frozen, its final head verified, every
 * entry scanned) is closed for good. Found by an adversarial review of the log checks: the log could
 * list it again with a larger signed head that extends it (an entry signed with an owned key
 * appended to closed history, later entries renumbered by one) or another head of the same size (a
 * fork), and no run noticed: the listing of a finished tree was never read again. Now each run
 * holds it to the head it was finished at: a fork is log-inconsistent, growth a HIGH alert with the
 * tree kept pending again. On the Rekor emulator, the listing rewritten and signed with its key.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadKeys } from '../../../emulators/rekor/keys.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { type RekorV1Reader, RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { formatCheckpointBody, parseCheckpoint } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { canonicalJson } from '../../../functions/tlog/entries/canonical.ts';
import {
  consistencyProof,
  hashLeaf,
  MemoryLevels,
  rootAt,
  verifyConsistency,
} from '../../../functions/tlog/merkle/index.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { clientWithShardListings, startTestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

/**
 * A log whose tree A (2 entries, none ours) was rotated out and finished by the monitor, then listed
 * frozen with a head over `leaves` (given A's two real leaf hashes), signed with the log's key.
 */
async function finishedThenRelisted(name: string, leaves: (real: Buffer[]) => Buffer[]) {
  const log = await startTestLog(name);
  const client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
  let n = 0;
  const append = (k: typeof ours) => client.append(hashedRekordProposal(k, Buffer.from(`x ${n++}`)).body);
  const identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
    Promise.reject(new Error('no KMS')),
  );
  const store = new MemoryMonitorStore();
  const alerts = new MemoryAlertSink();
  const run = (reader: RekorV1Reader) =>
    runMonitor({
      logs: [
        { name: 'rekor', log: new RekorV1Source({ client: reader, url: log.rekor.url }), startIndex: 0 },
      ],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
      limits: { batchSize: 10 },
    });
  await append(theirs);
  await append(theirs);
  assert.equal((await run(client)).ok, true);
  log.rekor.rotateV1();
  await append(theirs);
  assert.equal((await run(client)).ok, true);
  const finished = store.states.get('rekor')!.previousShards[0]!;
  assert.deepEqual([finished.cursor, finished.pending], [2, undefined], 'tree A finished');
  const aEntries = await client.getEntries(0, 2);
  const listed = leaves(aEntries.map((e) => Buffer.from(e.uuid.slice(-64), 'hex')));
  const relisted = { size: listed.length };
  const levels = new MemoryLevels(listed);
  const root = Buffer.from(rootAt(levels, relisted.size));
  const oldFinal = parseCheckpoint(finished.checkpoint).checkpoint;
  const note = signNote(
    formatCheckpointBody({
      origin: finished.origin,
      size: relisted.size,
      rootHash: root,
      extensions: oldFinal.extensions,
    }),
    rekorV1NoteSigner('127.0.0.1', loadKeys(log.dataDir).v1),
  );
  const relistedClient = clientWithShardListings(log.rekor, (shards) => {
    shards[0]!.treeSize = relisted.size;
    shards[0]!.rootHash = root.toString('hex');
    shards[0]!.signedTreeHead = note;
  });
  assert.equal(
    (await relistedClient.getLogInfo()).inactiveShards[0]!.checkpoint?.size,
    relisted.size,
    'its head verifies',
  );
  await append(theirs);
  // The log renumbers the entries after the relisted tree (it controls the global numbering).
  const shift = relisted.size - 2;
  const reader: RekorV1Reader = {
    getLogInfo: () => relistedClient.getLogInfo(),
    // The log serves a true consistency proof for the history it now claims for tree A.
    verifyConsistency: async (a, b) =>
      a.origin === finished.origin && b.origin === finished.origin
        ? verifyConsistency(a.size, b.size, consistencyProof(levels, a.size, b.size), a.rootHash, b.rootHash)
        : relistedClient.verifyConsistency(a, b),
    verifySignedEntryTimestamp: (e) => relistedClient.verifySignedEntryTimestamp(e),
    scanEntries: (s, e, keep) =>
      relistedClient.scanEntries(s - shift, e - shift, (entry, body) =>
        keep({ ...entry, logIndex: entry.logIndex + shift }, body),
      ),
  };
  return { log, store, alerts, origin: finished.origin, run: () => run(reader) };
}

describe('a tree the monitor finished, listed again with another head', () => {
  it('grown by an entry signed with an owned key: HIGH, and the tree is pending again from where it was finished', async () => {
    const rogue = Buffer.from(canonicalJson(hashedRekordProposal(ours, Buffer.from('rogue')).body));
    const { log, store, alerts, origin, run } = await finishedThenRelisted('finished-grows', (real) => [
      ...real,
      hashLeaf(rogue),
    ]);
    try {
      const before = alerts.raised.length;
      await run();
      const grew = alerts.raised
        .slice(before)
        .find((a) => a.key === `log-tree-changed:rekor:${origin}:grew:3`);
      assert.equal(grew?.severity, 'HIGH', JSON.stringify(alerts.raised.slice(before)));
      assert.match(
        grew?.summary ?? '',
        /frozen at 2 entries and scanned to its end, with a new final head of 3 entries/,
      );
      const tree = store.states.get('rekor')!.previousShards.find((s) => s.origin === origin);
      assert.equal(tree?.cursor, 2, 'its new tail is to be scanned from where it was finished');
      assert.equal(tree?.pending?.size, 3, 'pending again, to its new head');
      // The tail is read in the same run. This emulator cannot serve the entry the grown head claims,
      // so the read fails its proof (CRITICAL); a log serving it has it matched as any entry. The
      // tree stays pending, its state saying why.
      assert.match(alerts.ofKind('log-inconsistent')[0]?.summary ?? '', /entry 2 is proven at another index/);
      assert.match(tree?.pending?.fault?.error ?? '', /entry 2 is proven at another index/);
    } finally {
      await log.stop();
    }
  });

  it('of the same size with another root (a fork): CRITICAL log-inconsistent, the finished tree as it was', async () => {
    const forged = hashLeaf(
      Buffer.from(canonicalJson(hashedRekordProposal(ours, Buffer.from('forged')).body)),
    );
    const { log, store, alerts, run } = await finishedThenRelisted('finished-forks', (real) => [
      real[0]!,
      forged,
    ]);
    try {
      const before = structuredClone(store.states.get('rekor')!);
      const result = await run();
      assert.equal(result.logs[0]?.outcome, 'log-inconsistent', JSON.stringify(result.logs[0]));
      assert.equal(alerts.ofKind('log-inconsistent')[0]?.severity, 'CRITICAL');
      const after = store.states.get('rekor')!;
      assert.deepEqual(after.previousShards, before.previousShards, 'the finished tree stands as it was');
      assert.equal(after.cursor, before.cursor);
    } finally {
      await log.stop();
    }
  });
});
