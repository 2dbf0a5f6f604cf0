/**
 * The tag verdict store on the Firestore emulator: a verdict is stored only over the record it was
 * judged against, so a pass that was overtaken by another learns it instead of overwriting a newer
 * verdict; a claim on delivering a verdict's alerts is cleared only by the pass that made it.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import {
  FirestoreTagStore,
  TAG_SCHEMA_VERSION,
  TAGS_COLLECTION,
  type TagRecord,
  tagDocumentId,
} from '../../../functions/reverify/store.ts';
import { stackFirestore } from '../../helpers/stack.ts';
import { tagRecord } from '../../helpers/tag-record.ts';

describe('FirestoreTagStore on the emulator', () => {
  const firestore = stackFirestore();

  const freshRef = () => `127.0.0.1:5000/tag-store/${crypto.randomUUID()}:prod`;
  const verdict = (ref: string, status: TagRecord['status']) =>
    tagRecord(ref, status, `sha256:${'a'.repeat(64)}`);
  const loadOne = async (store: FirestoreTagStore, ref: string) => (await store.load([ref])).get(ref);

  test('lists the recorded tags of one repository, not of one whose name it begins or is inside', async () => {
    const repository = `127.0.0.1:5000/tag-store/${crypto.randomUUID()}`;
    const store = new FirestoreTagStore(firestore.db);
    const refs = [`${repository}:v1`, `${repository}:v2`, `${repository}:latest`];
    const others = [`${repository}2:v1`, `${repository}/sub:v1`, `${repository}-x:v1`];
    for (const ref of [...refs, ...others])
      assert.equal(await store.put(verdict(ref, 'valid'), undefined), 'stored');
    assert.deepEqual((await store.recordedTags(repository, 100)).sort(), [...refs].sort());
    assert.equal((await store.recordedTags(repository, 2)).length, 2, 'at most the limit');
  });

  test('lists the recorded tags of one host, not of one whose name it begins', async () => {
    const host = `tag-store-${crypto.randomUUID()}.example`;
    const store = new FirestoreTagStore(firestore.db);
    const refs = [`${host}/a:v1`, `${host}/a/b:v1`, `${host}/z:latest`];
    const others = [`${host}:5000/a:v1`, `${host}0/a:v1`, `${host}.x/a:v1`, `${host}-x/a:v1`];
    for (const ref of [...refs, ...others])
      assert.equal(await store.put(verdict(ref, 'valid'), undefined), 'stored');
    assert.deepEqual(await store.recordedTagsOfHost(host, 100), [...refs].sort());
    assert.deepEqual(
      await store.recordedTagsOfHost(host, 2),
      [...refs].sort().slice(0, 2),
      'at most the limit',
    );
    assert.deepEqual(await store.recordedTagsOfHost(`${host}:5000`, 100), [`${host}:5000/a:v1`]);
  });

  test('reads a repository’s recorded tags a page at a time, past one page and up to the limit', async () => {
    const repository = `127.0.0.1:5000/tag-store/${crypto.randomUUID()}`;
    const collection = firestore.db.collection(TAGS_COLLECTION);
    const refs = Array.from({ length: 1050 }, (_, i) => `${repository}:t${String(i).padStart(4, '0')}`);
    for (let i = 0; i < refs.length; i += 500) {
      const batch = firestore.db.batch();
      for (const ref of refs.slice(i, i + 500)) batch.set(collection.doc(crypto.randomUUID()), { ref });
      await batch.commit();
    }
    const store = new FirestoreTagStore(firestore.db);
    assert.deepEqual(await store.recordedTags(repository, 100_000), refs);
    assert.deepEqual(await store.recordedTags(repository, 1020), refs.slice(0, 1020));
  });

  test('stores a verdict over the record it was judged against, and not over a newer one', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    assert.equal(await store.put(verdict(ref, 'valid'), undefined), 'stored');
    assert.equal(
      await store.put(verdict(ref, 'unsigned'), undefined),
      'superseded',
      'a record appeared meanwhile',
    );

    const basis = await loadOne(store, ref);
    assert.equal(basis?.status, 'valid');
    assert.equal(await store.put(verdict(ref, 'unsigned'), basis), 'stored');
    // A second verdict judged against the same, now replaced, record.
    assert.equal(await store.put(verdict(ref, 'valid'), basis), 'superseded');
    assert.equal((await loadOne(store, ref))?.status, 'unsigned');
  });

  test('takes a record deleted since it was read as changed', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    await store.put(verdict(ref, 'valid'), undefined);
    const basis = await loadOne(store, ref);
    await firestore.db.collection(TAGS_COLLECTION).doc(tagDocumentId(ref)).delete();
    assert.equal(await store.put(verdict(ref, 'unsigned'), basis), 'superseded');
    assert.equal(await loadOne(store, ref), undefined);
    assert.equal(await store.put(verdict(ref, 'unsigned'), undefined), 'stored');
  });

  test('of passes storing verdicts over one record at once, exactly one stores', async () => {
    const ref = freshRef();
    const first = new FirestoreTagStore(firestore.db);
    await first.put(verdict(ref, 'valid'), undefined);
    const passes = Array.from({ length: 6 }, () => new FirestoreTagStore(firestore.db));
    const bases = await Promise.all(passes.map((p) => loadOne(p, ref)));
    const outcomes = await Promise.all(
      passes.map((p, i) => p.put(verdict(ref, i % 2 === 0 ? 'unsigned' : 'missing'), bases[i])),
    );
    assert.equal(outcomes.filter((o) => o === 'stored').length, 1, outcomes.join(' '));
  });

  test('clears a delivery claim only for the pass that made it, and a verdict stored without one removes it', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    const delivery = (id: string) => ({
      id,
      until: new Date(Date.now() + 60_000).toISOString(),
      previous: { status: 'valid' as const, digest: `sha256:${'b'.repeat(64)}` },
    });
    const claimed = { ...verdict(ref, 'unsigned'), delivery: delivery('mine') };
    assert.equal(await store.put(claimed, undefined), 'stored');
    assert.equal((await loadOne(store, ref))?.delivery?.id, 'mine');

    await store.finishDelivery({ ...claimed, delivery: delivery('theirs') });
    assert.equal((await loadOne(store, ref))?.delivery?.id, 'mine', 'another claim leaves it');
    await store.finishDelivery(claimed);
    assert.equal((await loadOne(store, ref))?.delivery, undefined);

    const again = { ...verdict(ref, 'invalid'), delivery: delivery('lapsed') };
    assert.equal(await store.put(again, await loadOne(store, ref)), 'stored');
    assert.equal(await store.put(verdict(ref, 'invalid'), await loadOne(store, ref)), 'stored');
    const stored = await loadOne(store, ref);
    assert.equal(stored?.status, 'invalid');
    assert.equal(stored?.delivery, undefined, 'the verdict without a claim replaced the lapsed one');
  });

  test('takes a record of another schema version as none, and replaces it', async () => {
    const ref = freshRef();
    await firestore.db
      .collection(TAGS_COLLECTION)
      .doc(tagDocumentId(ref))
      .set({ schemaVersion: TAG_SCHEMA_VERSION + 1, ref });
    const store = new FirestoreTagStore(firestore.db);
    assert.equal(await loadOne(store, ref), undefined);
    assert.equal(await store.put(verdict(ref, 'valid'), undefined), 'stored');
    assert.equal((await loadOne(store, ref))?.status, 'valid');
  });

  test('refuses a basis it did not load', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    await assert.rejects(store.put(verdict(ref, 'valid'), verdict(ref, 'valid')), /did not load/);
  });
});
