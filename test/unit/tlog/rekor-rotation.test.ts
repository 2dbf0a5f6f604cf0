/**
 * The Rekor emulator's shard rotation, read by the real RekorV1Client as the public log's would
 * be: frozen trees listed in log info with their final signed tree heads, their entries still
 * served by global index and UUID with proofs in their own tree, consistency proofs by tree ID,
 * and a restarted emulator serving the same shards.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { type RekorServer, startRekorServer } from '../../../emulators/rekor/server.ts';
import { parseCheckpoint } from '../../../functions/tlog/checkpoint/checkpoint.ts';
import { LogIntegrityError } from '../../../functions/tlog/client/errors.ts';
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

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const pem = key.publicKey.export({ format: 'pem', type: 'spki' }).toString();

describe('Rekor emulator: shard rotation', () => {
  let log: TestLog;
  let rekor: RekorServer;
  let client: RekorV1Client;
  let counter = 0;
  const append = (c = client): Promise<LogEntry> =>
    c.append(hashedRekordProposal(key, Buffer.from(`rotated ${counter++}`)).body);
  const first: LogEntry[] = [];
  let frozenTreeId = '';

  before(async () => {
    log = await startTestLog('rekor-rotation');
    rekor = log.rekor;
    client = new RekorV1Client({ baseUrl: rekor.url, logKey: rekor.publicKeyPem, retries: 0 });
    for (let i = 0; i < 5; i++) first.push(await append());
    frozenTreeId = rekor.rotateV1().frozenTreeId;
  });
  after(async () => {
    await rekor.close(); // the restarted one, if it was; the first is closed by stop()
    await log.stop();
  });

  it('lists the frozen tree with its final signed tree head, verified by the client', async () => {
    const before = first.at(-1)!.verification!.inclusionProof!.checkpoint!;
    const info = await client.getLogInfo();
    assert.equal(info.indexOffset, 5);
    assert.equal(info.checkpoint.size, 0);
    const [shard] = info.inactiveShards;
    assert.equal(shard?.treeSize, 5);
    assert.equal(shard?.indexOffset, 0);
    assert.equal(shard?.origin, `127.0.0.1 - ${frozenTreeId}`);
    assert.equal(shard?.checkpoint?.size, 5);
    assert.equal(shard?.checkpoint?.note, before, "the frozen tree's last head, as its entries carried it");
    assert.notEqual(info.checkpoint.origin, shard?.origin);
  });

  it("serves the frozen tree's entries by global index and by UUID, proven in that tree", async () => {
    const entry = await append();
    assert.equal(entry.logIndex, 5, 'numbered on from the frozen tree');
    assert.equal(entry.verification?.inclusionProof?.logIndex, 0);
    for (const old of [first[1]!, first[4]!]) {
      const byIndex = await client.getEntryByIndex(old.logIndex);
      assert.equal(byIndex.uuid, old.uuid);
      assert.equal(byIndex.verification?.inclusionProof?.treeSize, 5);
      assert.equal((await client.getEntryByUuid(old.uuid)).logIndex, old.logIndex, 'entry ID');
      assert.equal((await client.getEntryByUuid(old.uuid.slice(16))).logIndex, old.logIndex, 'bare UUID');
    }
    const [a, b] = await client.getEntries(4, 6);
    assert.deepEqual([a?.uuid, b?.uuid], [first[4]!.uuid, entry.uuid], 'a read across the two trees');
  });

  it('proves consistency in the tree a treeID names, and refuses one it does not serve', async () => {
    const info = await client.getLogInfo();
    const frozen = info.inactiveShards[0]!.checkpoint!;
    const note = first[1]!.verification!.inclusionProof!.checkpoint!;
    await client.verifyConsistency({ ...parseCheckpoint(note).checkpoint, note }, frozen);
    const other = await fetch(`${rekor.url}/api/v1/log/proof?firstSize=1&lastSize=2&treeID=7`);
    assert.equal(other.status, 400);
  });

  it('finds entries of every tree by hash and key (index search)', async () => {
    const res = await fetch(`${rekor.url}/api/v1/index/retrieve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        publicKey: {
          format: 'x509',
          content: key.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        },
      }),
    });
    const uuids = (await res.json()) as string[];
    assert.equal(uuids.length, 6);
    assert.equal(uuids[0], first[0]!.uuid);
  });

  it('serves the same shards after a restart', async () => {
    await rekor.close();
    rekor = await startRekorServer({ dataDir: log.dataDir });
    const restarted = new RekorV1Client({ baseUrl: rekor.url, logKey: rekor.publicKeyPem, retries: 0 });
    client = restarted; // the tests after this one read the restarted log
    const info = await restarted.getLogInfo();
    assert.equal(info.indexOffset, 5);
    assert.equal(info.inactiveShards[0]?.checkpoint?.size, 5);
    assert.equal((await restarted.getEntryByIndex(2)).uuid, first[2]!.uuid);
    assert.equal((await append(restarted)).logIndex, 5 + info.checkpoint.size);
  });

  it("a frozen tree's signed head contradicting its listing, or a tree listed twice, is the log contradicting itself", async () => {
    for (const edit of [
      (shards: ListedShard[]) => {
        shards[0]!.treeSize += 1;
      },
      (shards: ListedShard[]) => {
        shards[0]!.rootHash = '00'.repeat(32);
      },
      (shards: ListedShard[]) => {
        shards.push({ ...shards[0]! });
      },
    ]) {
      await assert.rejects(
        clientWithShardListings(rekor, edit).getLogInfo(),
        (err: unknown) => err instanceof LogIntegrityError && err.reason === 'log-info-mismatch',
      );
    }
  });

  it('a frozen tree whose head is missing or signed by another key is listed, named by its tree ID, with nothing to prove in it', async () => {
    for (const [edit, reason] of [
      [
        (shards: ListedShard[]) => {
          delete (shards[0] as Partial<ListedShard>).signedTreeHead;
        },
        /listed without a signed tree head/,
      ],
      [
        (shards: ListedShard[]) => {
          shards[0]!.signedTreeHead = signedByAnotherKey(shards[0]!.signedTreeHead);
        },
        /does not verify under the log's key/,
      ],
    ] as const) {
      const [shard] = (await clientWithShardListings(rekor, edit).getLogInfo()).inactiveShards;
      assert.equal(shard?.checkpoint, undefined);
      assert.equal(shard?.origin, `127.0.0.1 - ${frozenTreeId}`);
      assert.match(shard?.unverified ?? '', reason);
    }
  });

  it('a shrink fault shrinks the active tree only: frozen trees and the numbering after them stay', async () => {
    const size = (await client.getLogInfo()).checkpoint.size;
    rekor.faults.set({ shrinkBy: 1 });
    try {
      const info = await client.getLogInfo();
      assert.equal(info.checkpoint.size, size - 1);
      assert.equal(info.inactiveShards[0]?.checkpoint?.size, 5);
      assert.equal((await client.getEntryByIndex(4)).uuid, first[4]!.uuid);
      const search = await fetch(`${rekor.url}/api/v1/index/retrieve`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ publicKey: { format: 'x509', content: pem } }),
      });
      assert.equal(search.status, 200);
      assert.equal(((await search.json()) as string[]).length, 5 + size - 1);
      assert.throws(() => rekor.rotateV1(), /no rotation while a shrink fault is on/);
    } finally {
      rekor.faults.clear();
    }
  });
});
