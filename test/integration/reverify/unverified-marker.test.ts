import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, it } from 'node:test';
import { FirestoreUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { stackFirestore } from '../../helpers/stack.ts';

describe('FirestoreUnverifiedStore unjudged marker', () => {
  const firestore = stackFirestore();
  it('marks a subject kept already, its since kept; a new one kept marked; unmarked add leaves the mark', async () => {
    const store = new FirestoreUnverifiedStore(firestore.db);
    const a = `127.0.0.1:5000/marker-${crypto.randomUUID()}/app:v1`;
    const b = `127.0.0.1:5000/marker-${crypto.randomUUID()}/app:v1`;
    const mine = async () =>
      (await store.list())
        .filter((s) => s.subject === a || s.subject === b)
        .sort((x, y) => x.subject.localeCompare(y.subject));
    await store.add([{ subject: a, kind: 'tag', since: '2026-12-01T00:00:00.000Z' }]);
    await store.add([
      { subject: a, kind: 'tag', since: '2026-12-02T00:00:00.000Z', unjudged: true },
      { subject: b, kind: 'tag', since: '2026-12-03T00:00:00.000Z', unjudged: true },
    ]);
    await store.add([{ subject: a, kind: 'tag', since: '2026-12-04T00:00:00.000Z' }]);
    const expected = [
      { subject: a, kind: 'tag', since: '2026-12-01T00:00:00.000Z', unjudged: true },
      { subject: b, kind: 'tag', since: '2026-12-03T00:00:00.000Z', unjudged: true },
    ].sort((x, y) => x.subject.localeCompare(y.subject));
    assert.deepEqual(await mine(), expected);
    await store.remove(expected as never);
    assert.deepEqual(await mine(), []);
  });
});
