/**
 * The TUF version floor (verify/tuf-version-floor.ts) on the Firestore emulator: what instances
 * have trusted from a mirror only ever rises, role by role, whichever instance writes, and a
 * document that is not a floor is an error rather than no floor.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import {
  FirestoreTufVersionFloor,
  TUF_VERSIONS_COLLECTION,
} from '../../../functions/verify/tuf-version-floor.ts';
import { stackFirestore } from '../../helpers/stack.ts';

describe('FirestoreTufVersionFloor', () => {
  const firestore = stackFirestore();
  const freshMirror = () => `https://tuf.example/${crypto.randomUUID()}`;

  test('rises role by role and never falls, with instances writing at once', async () => {
    const mirror = freshMirror();
    const a = new FirestoreTufVersionFloor(firestore.db);
    const b = new FirestoreTufVersionFloor(firestore.db);
    assert.equal(await a.highest(mirror), undefined);
    await a.raise(mirror, { root: 2, timestamp: 10, snapshot: 5, targets: 3 });
    await Promise.all([
      a.raise(mirror, { root: 2, timestamp: 12, snapshot: 4, targets: 3 }),
      b.raise(mirror, { root: 3, timestamp: 11, snapshot: 6, targets: 2 }),
    ]);
    await b.raise(mirror, { root: 1, timestamp: 1, snapshot: 1, targets: 1 });
    assert.deepEqual(await b.highest(mirror), { root: 3, timestamp: 12, snapshot: 6, targets: 3 });
    assert.equal(await a.highest(freshMirror()), undefined, 'per mirror');
  });

  test('a document that is not a floor is an error, not the absence of one', async () => {
    const mirror = freshMirror();
    const floor = new FirestoreTufVersionFloor(firestore.db);
    await floor.raise(mirror, { root: 1, timestamp: 1, snapshot: 1, targets: 1 });
    const docs = await firestore.db.collection(TUF_VERSIONS_COLLECTION).where('mirror', '==', mirror).get();
    await docs.docs[0]!.ref.update({ versions: { root: 'one' } });
    await assert.rejects(
      floor.highest(mirror),
      /could not read the TUF versions trusted from .* not a version floor/,
    );
  });
});
