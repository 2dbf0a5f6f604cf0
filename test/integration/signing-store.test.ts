/**
 * The signing record's lease on the Firestore emulator: one claim wins a race, only the lease
 * holder records progress, and a holder whose lease was taken over learns it on its next write,
 * whichever path that write takes (the one conditional write, or the transaction behind it).
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import type { Timestamp } from '@google-cloud/firestore';
import {
  FirestoreSigningStore,
  LeaseLostError,
  recordId,
  SIGNING_RECORDS,
} from '../../functions/state/signing-records.ts';
import { stackFirestore } from '../helpers/stack.ts';

describe('FirestoreSigningStore on the emulator', () => {
  const firestore = stackFirestore();

  const freshId = () => ({
    image: `127.0.0.1:5000/store/${crypto.randomUUID()}@sha256:${crypto.randomBytes(32).toString('hex')}`,
    keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
  });
  const opts = { leaseMs: 60_000, maxAttempts: 5 };
  /** A record signed and attached in the cosign format only, as a rule did before a format was added. */
  const attachedInCosign = async (store: FirestoreSigningStore, id: ReturnType<typeof freshId>) => {
    const claim = await store.claim(id, 'a', { leaseMs: 1_000, maxAttempts: 10, formats: ['cosign'] });
    assert.equal(claim.status, 'claimed');
    await store.progress(id, 'a', {
      formats: { cosign: { signature: 'c2ln', attached: true } },
      state: 'attached',
      lease: null,
    });
  };
  const read = async (id: ReturnType<typeof freshId>) =>
    (await firestore.db.collection(SIGNING_RECORDS).doc(recordId(id.image, id.keyVersion)).get()).data();

  test('of 12 instances claiming one record at once, exactly one holds the lease', async () => {
    const id = freshId();
    const outcomes = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        new FirestoreSigningStore(firestore.db).claim(id, `instance-${i}`, opts),
      ),
    );
    const claimed = outcomes.filter((o) => o.status === 'claimed');
    assert.equal(claimed.length, 1, JSON.stringify(outcomes.map((o) => o.status)));
    assert.ok(outcomes.every((o) => o.status === 'claimed' || o.status === 'busy'));
    const record = await read(id);
    assert.equal(record?.['attempts'], 1);
    assert.equal(
      record?.['lease']?.owner,
      (claimed[0] as { record: { lease: { owner: string } } }).record.lease.owner,
    );
  });

  test('the holder records its progress; another owner cannot', async () => {
    const id = freshId();
    const holder = new FirestoreSigningStore(firestore.db);
    assert.equal((await holder.claim(id, 'a', opts)).status, 'claimed');
    await holder.progress(id, 'a', { formats: { cosign: { signature: 'c2ln' } } });
    await holder.progress(id, 'a', { formats: { cosign: { signature: 'c2ln', attached: true } } });
    assert.deepEqual((await read(id))?.['formats'], { cosign: { signature: 'c2ln', attached: true } });

    await assert.rejects(
      new FirestoreSigningStore(firestore.db).progress(id, 'b', { state: 'attached' }),
      LeaseLostError,
    );
    assert.equal((await read(id))?.['state'], 'claimed');

    await holder.progress(id, 'a', { state: 'attached', lease: null });
    const done = await new FirestoreSigningStore(firestore.db).claim(id, 'c', {
      ...opts,
      tag: '127.0.0.1:5000/store/x:v1',
    });
    assert.equal(done.status, 'done');
    assert.deepEqual((await read(id))?.['tags'], ['127.0.0.1:5000/store/x:v1']);
  });

  test('an attached record is claimed again, with a fresh count, for a format the rule added since', async () => {
    const id = freshId();
    const holder = new FirestoreSigningStore(firestore.db);
    await attachedInCosign(holder, id);
    const store = new FirestoreSigningStore(firestore.db);
    assert.equal((await store.claim(id, 'b', { ...opts, formats: ['cosign'] })).status, 'done');
    const more = await store.claim(id, 'b', { ...opts, formats: ['bundle', 'cosign'] });
    assert.equal(more.status, 'claimed');
    assert.equal((more as { record: { attempts: number } }).record.attempts, 1);
    assert.deepEqual((await read(id))?.['formats'], { cosign: { signature: 'c2ln', attached: true } });
    assert.equal(
      (await new FirestoreSigningStore(firestore.db).claim(id, 'c', { ...opts, formats: ['bundle'] })).status,
      'busy',
      'one signing of the new format at a time',
    );
  });

  test('an attached record that runs out of attempts for a format added since stays attached, the format listed as given up', async () => {
    const id = freshId();
    let clock = Date.now();
    const store = new FirestoreSigningStore(firestore.db, () => clock);
    const both = { leaseMs: 1_000, maxAttempts: 2, formats: ['bundle', 'cosign'] };
    await attachedInCosign(store, id);
    for (let attempt = 1; attempt <= 2; attempt++) {
      const claim = await store.claim(id, `bundle-${attempt}`, both);
      assert.equal(claim.status, 'claimed');
      assert.equal(claim.status === 'claimed' && claim.record.attempts, attempt);
      assert.equal((await read(id))?.['state'], 'attached', 'attached in cosign while the bundle is tried');
      assert.deepEqual((await read(id))?.['adding'], ['bundle']);
      clock += 5_000; // the attempt failed (or died) and its lease ran out
    }
    const exhausted = await store.claim(id, 'bundle-3', { ...both, tag: '127.0.0.1:5000/store/x:v2' });
    assert.equal(exhausted.status, 'exhausted');
    assert.equal(exhausted.status === 'exhausted' && exhausted.record.state, 'attached');
    const given = await read(id);
    assert.equal(given?.['state'], 'attached');
    assert.deepEqual(given?.['failedFormats'], ['bundle']);
    assert.deepEqual(given?.['adding'], []);
    assert.equal(given?.['lease'], null);
    assert.deepEqual(given?.['formats'], { cosign: { signature: 'c2ln', attached: true } });
    assert.deepEqual(given?.['tags'], ['127.0.0.1:5000/store/x:v2']);

    // A later push: a fresh, bounded count for the bundle; the record stays attached.
    const again = await store.claim(id, 'later', both);
    assert.equal(again.status, 'claimed');
    assert.equal(again.status === 'claimed' && again.record.attempts, 1);
    assert.equal((await read(id))?.['state'], 'attached');
    await store.progress(id, 'later', {
      formats: {
        cosign: { signature: 'c2ln', attached: true },
        bundle: { signature: 'YnVu', attached: true },
      },
      state: 'attached',
      lease: null,
      adding: [],
      failedFormats: [],
    });
    assert.equal((await store.claim(id, 'next', both)).status, 'done');
  });

  test('a record written failed while attached in a format (before failed meant attached in none) is claimed for the format it lacks', async () => {
    const id = freshId();
    await firestore.db
      .collection(SIGNING_RECORDS)
      .doc(recordId(id.image, id.keyVersion))
      .create({
        schemaVersion: 1,
        image: id.image,
        digest: id.image.slice(id.image.indexOf('@') + 1),
        keyVersion: id.keyVersion,
        state: 'failed',
        attempts: 5,
        lease: null,
        formats: { cosign: { signature: 'c2ln', attached: true }, bundle: { signature: 'YnVu' } },
        tags: [],
        createdAt: 1,
        updatedAt: 1,
      });
    const claim = await new FirestoreSigningStore(firestore.db).claim(id, 'a', {
      ...opts,
      formats: ['bundle', 'cosign'],
    });
    assert.equal(claim.status, 'claimed', 'not "exhausted" as an image never signed');
    assert.equal(claim.status === 'claimed' && claim.record.attempts, 1);
    const record = await read(id);
    assert.equal(record?.['state'], 'attached');
    assert.deepEqual(record?.['adding'], ['bundle']);
    assert.deepEqual(record?.['formats']?.['bundle'], { signature: 'YnVu' }, 'its signature kept for reuse');
  });

  test("a give-up is timed by Firestore's clock: an instance's clock an hour ahead refuses no push published after it (found by review)", async () => {
    const id = freshId();
    let ahead = Date.now() + 3_600_000;
    const store = new FirestoreSigningStore(firestore.db, () => ahead);
    const both = { leaseMs: 1_000, maxAttempts: 1, formats: ['bundle', 'cosign'] };
    await attachedInCosign(store, id);
    assert.equal((await store.claim(id, 'bundle-1', both)).status, 'claimed');
    ahead += 5_000; // the attempt failed and its lease ran out
    const published = Date.now();
    assert.equal(
      (await store.claim(id, 'bundle-2', { ...both, publishedAt: published - 60_000 })).status,
      'exhausted',
    );
    const failedAt = (await read(id))?.['failedAt'] as Timestamp;
    assert.ok(Math.abs(failedAt.toMillis() - Date.now()) < 60_000, 'the server time, not the instance clock');
    // A message published before the give-up finds it given up; one published after starts a count.
    assert.equal(
      (await store.claim(id, 'old', { ...both, publishedAt: published - 30_000 })).status,
      'exhausted',
    );
    const later = await store.claim(id, 'later', { ...both, publishedAt: failedAt.toMillis() + 1_000 });
    assert.equal(later.status, 'claimed');
    assert.equal(later.status === 'claimed' && later.record.attempts, 1);
  });

  test('a holder whose expired lease was taken over loses it at its next write', async () => {
    const id = freshId();
    let clock = Date.now();
    const first = new FirestoreSigningStore(firestore.db, () => clock);
    assert.equal((await first.claim(id, 'first', { ...opts, leaseMs: 1_000 })).status, 'claimed');
    await first.progress(id, 'first', { formats: { bundle: { signature: 'Zmlyc3Q=' } } });

    clock += 5_000; // the first attempt stalled past its lease
    const second = new FirestoreSigningStore(firestore.db, () => clock);
    const takeover = await second.claim(id, 'second', opts);
    assert.equal(takeover.status, 'claimed');
    assert.equal(takeover.status === 'claimed' && takeover.record.attempts, 2);
    // What the first attempt stored is handed over, not lost.
    assert.deepEqual(takeover.status === 'claimed' && takeover.record.formats, {
      bundle: { signature: 'Zmlyc3Q=' },
    });

    await assert.rejects(
      first.progress(id, 'first', { formats: { bundle: { signature: 'b3ZlcndyaXR0ZW4=' } } }),
      LeaseLostError,
    );
    await second.progress(id, 'second', { state: 'attached', lease: null });
    const record = await read(id);
    assert.equal(record?.['state'], 'attached');
    assert.deepEqual(record?.['formats'], { bundle: { signature: 'Zmlyc3Q=' } });
  });

  test('a write whose answer was lost leaves the holder able to go on', async () => {
    const id = freshId();
    const store = new FirestoreSigningStore(firestore.db);
    assert.equal((await store.claim(id, 'a', opts)).status, 'claimed');
    // The holder's own write lands while its answer goes missing (another client of the same
    // owner writing stands in for it): the remembered update time is now stale.
    await firestore.db
      .collection(SIGNING_RECORDS)
      .doc(recordId(id.image, id.keyVersion))
      .update({ formats: { cosign: { signature: 'bG9zdA==' } } });
    await store.progress(id, 'a', { formats: { cosign: { signature: 'bG9zdA==', attached: true } } });
    await store.progress(id, 'a', { state: 'attached', lease: null });
    const record = await read(id);
    assert.equal(record?.['state'], 'attached');
    assert.deepEqual(record?.['formats'], { cosign: { signature: 'bG9zdA==', attached: true } });
  });

  test('after maxAttempts claims the record is marked failed and not claimed again', async () => {
    const id = freshId();
    let clock = Date.now();
    const store = new FirestoreSigningStore(firestore.db, () => clock);
    for (let i = 0; i < 2; i++) {
      assert.equal(
        (await store.claim(id, `attempt-${i}`, { leaseMs: 1_000, maxAttempts: 2 })).status,
        'claimed',
      );
      clock += 5_000;
    }
    const third = await store.claim(id, 'attempt-2', { leaseMs: 1_000, maxAttempts: 2 });
    assert.equal(third.status, 'exhausted');
    assert.equal((await read(id))?.['state'], 'failed');
    // A push under another tag is still refused, and its tag recorded.
    const tagged = await store.claim(id, 'attempt-3', {
      leaseMs: 1_000,
      maxAttempts: 2,
      tag: '127.0.0.1:5000/store/x:v2',
    });
    assert.equal(tagged.status, 'exhausted');
    assert.deepEqual((await read(id))?.['tags'], ['127.0.0.1:5000/store/x:v2']);
  });
});
