/**
 * A frozen tree the log kept out of its listing, then listed (with a head that verifies) before the
 * tree the monitor follows: history the monitor was never shown. Found by an adversarial review of
 * the log checks: it was neither scanned nor alerted. Now it is alerted once (HIGH), not scanned;
 * the trees listed when the monitor first read the listing, and those it moves through, are not.
 * On the Rekor emulator, its listing edited.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import type { FrozenTree, MonitoredLog } from '../../../functions/monitor-log/log-source.ts';
import { type RekorV1Reader, RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { formatCheckpointBody } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { rekorV1NoteSigner } from '../../../functions/tlog/checkpoint/keys.ts';
import { signNote, type VerifiedCheckpoint } from '../../../functions/tlog/checkpoint/verify.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { clientWithShardListings, startTestLog } from '../../helpers/rekor.ts';

const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

describe('a frozen tree the log lists only after the monitor started', () => {
  const setup = async (name: string) => {
    const log = await startTestLog(name);
    const client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
    let n = 0;
    const append = (k: typeof ours) => client.append(hashedRekordProposal(k, Buffer.from(`x ${n++}`)).body);
    // Tree X: a signature made with the owned key, then X frozen and tree T active.
    await append(theirs);
    await append(ours);
    log.rekor.rotateV1();
    await append(theirs);
    const identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
      Promise.reject(new Error('no KMS')),
    );
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const run = (reader: RekorV1Reader) =>
      runMonitor({
        logs: [{ name: 'rekor', log: new RekorV1Source({ client: reader, url: log.rekor.url }) }],
        store,
        alerts,
        records: new StaticSigningRecordLookup(),
        identities,
        logger: createMemoryLogger(),
        limits: { batchSize: 10 },
      });
    const hiding = clientWithShardListings(log.rekor, (shards) => void shards.splice(0, shards.length));
    return { log, client, append, store, alerts, run, hiding };
  };

  it('hidden at the first run, listed later: HIGH once, naming the tree, not scanned', async () => {
    const { log, client, append, store, alerts, run, hiding } = await setup('hidden-frozen-tree');
    try {
      assert.equal((await run(hiding)).ok, true);
      assert.deepEqual(store.states.get('rekor')?.listedFrozen, [], 'nothing listed at the first run');
      for (let i = 0; i < 3; i++) await append(theirs);
      const x = (await client.getLogInfo()).inactiveShards[0]!;
      const shown = await run(client);
      assert.equal(shown.ok, true, JSON.stringify(shown));
      const [appeared, ...more] = alerts.ofKind('log-tree-changed');
      assert.equal(more.length, 0);
      assert.equal(appeared?.severity, 'HIGH');
      assert.equal(appeared?.key, `log-tree-changed:rekor:${x.origin}:appeared`);
      assert.match(
        appeared?.summary ?? '',
        /lists a frozen tree .* of 2 entries that it did not list before/,
      );
      assert.deepEqual(appeared?.evidence.checkpoints, [x.checkpoint!.note]);
      assert.equal(alerts.ofKind('rogue-signature').length, 0, 'its entries are not scanned');
      assert.deepEqual(store.states.get('rekor')?.listedFrozen, [x.origin]);
      await run(client);
      assert.equal(alerts.ofKind('log-tree-changed')[0]?.count, 1, 'alerted once');
    } finally {
      await log.stop();
    }
  });

  it('listed from the first run: history before the monitor, nothing alerted', async () => {
    const { log, client, append, store, alerts, run } = await setup('listed-frozen-tree');
    try {
      assert.equal((await run(client)).ok, true);
      await append(theirs);
      assert.equal((await run(client)).ok, true);
      assert.deepEqual(alerts.raised, []);
      assert.equal(store.states.get('rekor')?.listedFrozen?.length, 1);
    } finally {
      await log.stop();
    }
  });
});

describe('a log listing more frozen trees than the state remembers (1,000)', () => {
  it('those past it are not told from trees listed before: never alerted as appeared, run after run', async () => {
    // A log as the monitor reads it (heads taken as verified): 1,002 frozen trees, an empty active one.
    const signer = rekorV1NoteSigner('log', theirs.privateKey);
    const head = (origin: string, size: number): VerifiedCheckpoint => {
      const checkpoint = { origin, size, rootHash: Buffer.alloc(32, size), extensions: [] };
      return { ...checkpoint, note: signNote(formatCheckpointBody(checkpoint), signer) };
    };
    const frozen: FrozenTree[] = Array.from({ length: 1002 }, (_, i) => ({
      origin: `log - ${i}`,
      size: 1,
      checkpoint: head(`log - ${i}`, 1),
    }));
    const log: MonitoredLog = {
      url: 'https://log.example',
      getCheckpoint: async () => head('log - active', 0),
      verifyConsistency: async () => {},
      frozenTrees: async () => frozen,
      readEntries: async () => [],
    };
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const identities = await resolveIdentities([{ type: 'publicKey', pem: pemOf(ours.publicKey) }], () =>
      Promise.reject(new Error('no KMS')),
    );
    const run = () =>
      runMonitor({
        logs: [{ name: 'many', log }],
        store,
        alerts,
        records: new StaticSigningRecordLookup(),
        identities,
        logger: createMemoryLogger(),
      });
    const first = await run();
    assert.equal(first.ok, true, JSON.stringify(first));
    assert.equal(store.states.get('many')?.listedFrozen?.length, 1000);
    for (let i = 0; i < 2; i++) {
      const later = await run();
      assert.equal(later.ok, true, JSON.stringify(later));
    }
    assert.deepEqual(alerts.raised, []);
  });
});
