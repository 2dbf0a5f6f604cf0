/**
 * A Rekor v1 log after a shard rotation, as the public one is: entries are numbered across shards
 * (the active tree's first entry has the global index of the frozen shard's size), while
 * checkpoints and inclusion proofs count within the active tree, and log info lists the frozen
 * shard. The real clients read it from the Rekor emulator in that mode.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { runMonitor } from '../../../functions/monitor-log/core.ts';
import { resolveIdentities } from '../../../functions/monitor-log/identities.ts';
import { RekorV1Source } from '../../../functions/monitor-log/rekor-v1-source.ts';
import { StaticSigningRecordLookup } from '../../../functions/monitor-log/signing-lookup.ts';
import { MemoryMonitorStore } from '../../../functions/monitor-log/state.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { hashedRekordProposal } from '../../helpers/hashedrekord.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';

const FROZEN = 1000;
const ours = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const theirs = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pemOf = (k: KeyObject) => k.export({ format: 'pem', type: 'spki' }).toString();

describe('a sharded Rekor v1 log (global log indexes, proofs within the active tree)', () => {
  let log: TestLog;
  let client: RekorV1Client;
  let counter = 0;
  const append = (key: typeof ours) =>
    client.append(hashedRekordProposal(key, Buffer.from(`sharded ${counter++}`)).body);

  before(async () => {
    log = await startTestLog('sharded-rekor', { inactiveShardSize: FROZEN });
    client = new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem, retries: 0 });
  });
  after(() => log.stop());

  it('numbers entries across shards and proves them within the tree; log info lists the frozen shard', async () => {
    const entry = await append(theirs);
    const info = await client.getLogInfo();
    const local = info.checkpoint.size - 1;
    assert.equal(entry.logIndex, FROZEN + local);
    assert.equal(entry.verification?.inclusionProof?.logIndex, local);
    client.verifyEntry(entry); // its signed entry timestamp signs the global index
    assert.equal(info.inactiveShards.length, 1);
    assert.equal(info.inactiveShards[0]!.treeSize, FROZEN);
    assert.equal(info.inactiveShards[0]!.indexOffset, 0);
    assert.equal(info.indexOffset, FROZEN);
    assert.match(info.inactiveShards[0]!.origin ?? '', /^127\.0\.0\.1 - \d+$/);
    assert.notEqual(info.inactiveShards[0]!.origin, info.checkpoint.origin);
    const [read] = await client.getEntries(entry.logIndex, entry.logIndex + 1);
    assert.equal(read?.uuid, entry.uuid);
  });

  it("asks for consistency proofs in the checkpoints' own tree, by its tree ID", async () => {
    const asked: string[] = [];
    const spying = new RekorV1Client({
      baseUrl: log.rekor.url,
      logKey: log.rekor.publicKeyPem,
      retries: 0,
      fetch: (input, init) => {
        asked.push(String(input));
        return fetch(input, init);
      },
    });
    const before = await spying.getCheckpoint();
    await append(theirs);
    await spying.verifyConsistency(before, await spying.getCheckpoint());
    const treeId = /- (\d+)$/.exec(before.origin)![1];
    assert.ok(
      asked.some((url) => url.includes('/api/v1/log/proof?') && url.endsWith(`&treeID=${treeId}`)),
      asked.join('\n'),
    );
    const other = await fetch(`${log.rekor.url}/api/v1/log/proof?firstSize=1&lastSize=2&treeID=1`);
    assert.equal(other.status, 400, 'the emulator serves no other tree');
  });

  it('the monitor scans it with no index offset configured, and names entries by their global index', async () => {
    const identities = await resolveIdentities(
      [{ type: 'publicKey', pem: pemOf(ours.publicKey), name: 'release key' }],
      () => Promise.reject(new Error('no KMS here')),
    );
    const store = new MemoryMonitorStore();
    const alerts = new MemoryAlertSink();
    const deps = {
      logs: [{ name: 'sharded', log: new RekorV1Source({ client, url: log.rekor.url }) }],
      store,
      alerts,
      records: new StaticSigningRecordLookup(),
      identities,
      logger: createMemoryLogger(),
      limits: { batchSize: 20 },
    };
    await runMonitor(deps); // starts at the tree's current size
    const rogue = await append(ours);
    for (let i = 0; i < 25; i++) await append(theirs);
    const result = await runMonitor(deps);
    assert.equal(result.ok, true, JSON.stringify(result));
    assert.equal(result.logs[0]?.scanned, 26);
    const [alert] = alerts.ofKind('rogue-signature');
    assert.equal(alert?.evidence.logIndex, rogue.logIndex);
    assert.ok(rogue.logIndex >= FROZEN);
    assert.equal(alert?.evidence.uuid, rogue.uuid);
    assert.equal(
      alert?.evidence.treeIndex,
      rogue.logIndex - FROZEN,
      'and by its index in the tree (the cursor)',
    );
  });

  it("a shard scan's source reads the tree's entries without having read the log info itself, whatever offset is configured", async () => {
    const head = await client.getCheckpoint();
    for (const indexOffset of [undefined, 5]) {
      const source = new RekorV1Source({
        client,
        url: log.rekor.url,
        ...(indexOffset !== undefined ? { indexOffset } : {}),
      });
      const entries = await source.readEntries(0, 3, head);
      assert.deepEqual(
        entries.map((e) => e.logIndex),
        [FROZEN, FROZEN + 1, FROZEN + 2],
      );
    }
  });
});
