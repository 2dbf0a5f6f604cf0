/**
 * The tag verdict store on the Firestore emulator: a verdict is stored only over the record it was
 * judged against, so a pass that was overtaken by another learns it instead of overwriting a newer
 * verdict, and delivers no alert when it does.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import {
  FirestoreTagStore,
  TAG_SCHEMA_VERSION,
  TAGS_COLLECTION,
  type TagRecord,
  tagDocumentId,
} from '../../../functions/reverify/store.ts';
import { type TestStack, testStack } from '../../helpers/stack.ts';

describe('FirestoreTagStore on the emulator', () => {
  let stack: TestStack;
  let db: Firestore;
  before(() => {
    stack = testStack();
    db = new Firestore({ projectId: stack.env.GCP_PROJECT, ignoreUndefinedProperties: true });
  });
  after(async () => {
    await db.terminate();
  });

  const freshRef = () => `127.0.0.1:5000/tag-store/${crypto.randomUUID()}:prod`;
  const verdict = (
    ref: string,
    status: TagRecord['status'],
    digest = `sha256:${'a'.repeat(64)}`,
  ): TagRecord => ({
    schemaVersion: TAG_SCHEMA_VERSION,
    ref,
    source: 'owned',
    policy: 'policy',
    digest,
    status,
    reasons: [],
    findings: [],
    fingerprint: { signatureManifest: null, referrers: null },
    verifiedLayouts: [],
    checkedAt: new Date().toISOString(),
    changedAt: new Date().toISOString(),
    history: [],
  });
  const loadOne = async (store: FirestoreTagStore, ref: string) => (await store.load([ref])).get(ref);

  test('stores a verdict over the record it was judged against, and not over a newer one', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(db);
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

  test('of passes storing verdicts over one record at once, exactly one stores', async () => {
    const ref = freshRef();
    const first = new FirestoreTagStore(db);
    await first.put(verdict(ref, 'valid'), undefined);
    const passes = Array.from({ length: 6 }, () => new FirestoreTagStore(db));
    const bases = await Promise.all(passes.map((p) => loadOne(p, ref)));
    const outcomes = await Promise.all(
      passes.map((p, i) => p.put(verdict(ref, i % 2 === 0 ? 'unsigned' : 'missing'), bases[i])),
    );
    assert.equal(outcomes.filter((o) => o === 'stored').length, 1, outcomes.join(' '));
  });

  test('delivers a change only when it is stored: not when another verdict was stored first, not twice', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(db);
    await store.put(verdict(ref, 'valid'), undefined);
    const stale = await loadOne(store, ref);
    const fresh = await loadOne(store, ref);
    let delivered = 0;
    const deliver = async () => {
      delivered++;
    };
    assert.equal(await store.put(verdict(ref, 'unsigned'), fresh, deliver), 'stored');
    assert.equal(delivered, 1);
    assert.equal(await store.put(verdict(ref, 'valid'), stale, deliver), 'superseded');
    assert.equal(delivered, 1, 'the overtaken pass delivered nothing');
    assert.equal((await loadOne(store, ref))?.status, 'unsigned');
  });

  test('stores nothing when the delivery fails, and passes its error on', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(db);
    await store.put(verdict(ref, 'valid'), undefined);
    const basis = await loadOne(store, ref);
    const failure = new Error('alert sink down');
    await assert.rejects(
      store.put(verdict(ref, 'invalid'), basis, async () => {
        throw failure;
      }),
      (err) => err === failure,
    );
    assert.equal((await loadOne(store, ref))?.status, 'valid', 'retried on the next pass');
    assert.equal(await store.put(verdict(ref, 'invalid'), basis), 'stored', 'the record is unchanged');
  });

  test('takes a record of another schema version as none, and replaces it', async () => {
    const ref = freshRef();
    await db
      .collection(TAGS_COLLECTION)
      .doc(tagDocumentId(ref))
      .set({ schemaVersion: TAG_SCHEMA_VERSION + 1, ref });
    const store = new FirestoreTagStore(db);
    assert.equal(await loadOne(store, ref), undefined);
    assert.equal(await store.put(verdict(ref, 'valid'), undefined), 'stored');
    assert.equal((await loadOne(store, ref))?.status, 'valid');
  });

  test('refuses a basis it did not load', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(db);
    await assert.rejects(store.put(verdict(ref, 'valid'), verdict(ref, 'valid')), /did not load/);
  });
});
