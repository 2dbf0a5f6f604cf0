/**
 * The deletions signOnPush records (FirestoreDeletionStore) on the Firestore emulator: what a DELETE
 * leaves in `deletions`, as the TTL policy and a later push read it; the newest deletion of a
 * reference kept whatever order its messages are handled in, concurrent ones included.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { Timestamp } from '@google-cloud/firestore';
import {
  DELETION_TTL_MS,
  DELETIONS,
  deletionId,
  FirestoreDeletionStore,
} from '../../functions/state/deletion-records.ts';
import { stackFirestore } from '../helpers/stack.ts';

describe('FirestoreDeletionStore on the emulator', () => {
  const firestore = stackFirestore();
  const freshDigest = () =>
    `127.0.0.1:5000/deletions/${crypto.randomUUID()}@sha256:${crypto.randomBytes(32).toString('hex')}`;
  const doc = (reference: string) => firestore.db.collection(DELETIONS).doc(deletionId(reference));

  test('records a deletion with its publish time, the time recorded and a TTL timestamp, and finds it', async () => {
    const store = new FirestoreDeletionStore(firestore.db);
    const reference = freshDigest();
    const publishedAt = Date.parse('2026-12-04T10:00:02.000Z');
    const before = Date.now();
    await store.record({ reference, kind: 'digest', publishedAt });

    const stored = (await doc(reference).get()).data()!;
    assert.equal(stored['reference'], reference);
    assert.equal(stored['kind'], 'digest');
    assert.equal(stored['publishedAt'], publishedAt);
    assert.ok(stored['recordedAt'] >= before && stored['recordedAt'] <= Date.now());
    // A Firestore timestamp, which is what a TTL policy reads (a number would never expire).
    assert.ok(stored['expireAt'] instanceof Timestamp);
    assert.equal(stored['expireAt'].toMillis(), stored['recordedAt'] + DELETION_TTL_MS);

    const found = await store.find(reference);
    assert.equal(found?.reference, reference);
    assert.equal(found?.publishedAt, publishedAt);
    assert.ok(found?.expireAt instanceof Date);
    assert.equal(found.expireAt.getTime(), stored['recordedAt'] + DELETION_TTL_MS);
    assert.equal(await store.find(freshDigest()), undefined, 'a reference never deleted');
  });

  test('a tag deleted again keeps its newest deletion, whatever order the messages come in', async () => {
    const store = new FirestoreDeletionStore(firestore.db);
    const reference = `127.0.0.1:5000/deletions/${crypto.randomUUID()}:latest`;
    const t = Date.parse('2026-12-04T10:00:00.000Z');
    await store.record({ reference, kind: 'tag', publishedAt: t + 2_000 });
    await store.record({ reference, kind: 'tag', publishedAt: t }); // older, handled late
    assert.equal((await store.find(reference))?.publishedAt, t + 2_000);
    await store.record({ reference, kind: 'tag', publishedAt: t + 60_000 }); // deleted again
    assert.equal((await store.find(reference))?.publishedAt, t + 60_000);
  });

  test('of 8 deletions of one reference recorded at once, the newest is kept', async () => {
    const stores = Array.from({ length: 8 }, () => new FirestoreDeletionStore(firestore.db));
    const reference = freshDigest();
    const t = Date.parse('2026-12-04T10:00:00.000Z');
    const times = [5, 1, 7, 3, 0, 6, 2, 4].map((i) => t + i * 1_000);
    await Promise.all(
      stores.map((store, i) => store.record({ reference, kind: 'digest', publishedAt: times[i]! })),
    );
    assert.equal((await stores[0]!.find(reference))?.publishedAt, t + 7_000);
  });

  test('a document of another reference under the id explains nothing', async () => {
    const store = new FirestoreDeletionStore(firestore.db);
    const reference = freshDigest();
    await doc(reference).set({ reference: freshDigest(), kind: 'digest', recordedAt: Date.now() });
    assert.equal(await store.find(reference), undefined);
  });
});
