/**
 * A signing record's tags on the Firestore emulator: a record that thousands of tags had grown past
 * Firestore's 1 MiB entity limit is claimed again (its tags bounded to the most recent TAGS_KEPT).
 * Found by review: every claim of such a record failed (retryable) until its push was dead-lettered.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import {
  FirestoreSigningStore,
  recordId,
  SIGNING_RECORDS,
  TAGS_KEPT,
} from '../../functions/state/signing-records.ts';
import { stackFirestore } from '../helpers/stack.ts';

describe('FirestoreSigningStore: bounded tags', () => {
  const firestore = stackFirestore();

  test('claims a record whose tags filled nearly 1 MiB, and bounds them', async () => {
    const repo = `us-docker.pkg.dev/acme-prod-project/containers/${'platform/'.repeat(8)}base-image`;
    const id = {
      image: `${repo}@sha256:${crypto.randomBytes(32).toString('hex')}`,
      keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
    };
    const store = new FirestoreSigningStore(firestore.db);
    const opts = (tag: string) => ({ leaseMs: 120_000, maxAttempts: 10, formats: ['cosign'], tag });
    assert.equal((await store.claim(id, 'a', opts(`${repo}:v0`))).status, 'claimed');
    await store.progress(id, 'a', {
      formats: { cosign: { attached: true } },
      state: 'attached',
      lease: null,
    });
    // As 4,225 earlier pushes' claims wrote it before the bound: as large as Firestore takes (one
    // more tag did not fit).
    const ref = firestore.db.collection(SIGNING_RECORDS).doc(recordId(id.image, id.keyVersion));
    const tags = Array.from({ length: 4225 }, (_, i) => `${repo}:nightly-${20160101 + i}-${'x'.repeat(100)}`);
    await ref.update({ tags });

    const next = `${repo}:nightly-new-${'y'.repeat(100)}`;
    const out = await store.claim(id, 'b', opts(next));
    assert.equal(out.status, 'done');
    const stored = (await ref.get()).data()!;
    assert.equal(stored['tags'].length, TAGS_KEPT);
    assert.equal(stored['tags'].at(-1), next);
    assert.equal(stored['tagsOmitted'], 4226 - TAGS_KEPT);
    // And stays claimable by pushes under new tags.
    assert.equal((await store.claim(id, 'c', opts(`${repo}:later`))).status, 'done');
  });
});
