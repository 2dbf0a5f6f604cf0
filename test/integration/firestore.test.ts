import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Firestore } from '@google-cloud/firestore';
import { type TestStack, testStack } from '../helpers/stack.ts';

describe('the Firestore emulator through @google-cloud/firestore', () => {
  let stack: TestStack;
  let db: Firestore;
  before(() => {
    stack = testStack();
    db = new Firestore({ projectId: stack.env.GCP_PROJECT });
  });
  after(() => db.terminate());

  test('a document round-trips, including a transaction update', async () => {
    const ref = db.collection('roundtrip').doc(crypto.randomUUID());
    await ref.set({ digest: `sha256:${'b'.repeat(64)}`, state: 'claimed', attempts: 1, at: new Date(0) });
    await db.runTransaction(async (tx) => {
      const snap = await tx.get(ref);
      tx.update(ref, { attempts: (snap.get('attempts') as number) + 1, state: 'attached' });
    });
    const got = (await ref.get()).data();
    assert.deepEqual(
      { ...got, at: (got?.at as { toDate(): Date } | undefined)?.toDate().toISOString() },
      { digest: `sha256:${'b'.repeat(64)}`, state: 'attached', attempts: 2, at: '1970-01-01T00:00:00.000Z' },
    );
  });

  test('a precondition stops a second create of the same document', async () => {
    const ref = db.collection('roundtrip').doc(crypto.randomUUID());
    await ref.create({ owner: 'first' });
    await assert.rejects(ref.create({ owner: 'second' }), /ALREADY_EXISTS|already exists/i);
    assert.equal((await ref.get()).get('owner'), 'first');
  });
});
