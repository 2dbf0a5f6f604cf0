/**
 * A signing record's `tags` stay bounded (TAGS_KEPT, the most recently added, and a count of those
 * dropped): a digest re-tagged thousands of times (a reproducible nightly build tagged by date) once
 * grew its record past Firestore's 1 MiB entity limit, after which every claim of it failed (a
 * retryable error, so each push was retried until dead-lettered). Found by review.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decideClaim,
  SCHEMA_VERSION,
  type SigningRecord,
  TAGS_KEPT,
} from '../../../functions/state/signing-records.ts';

const REPO = `us-docker.pkg.dev/acme-prod-project/containers/${'platform/'.repeat(8)}base-image`;
const IMAGE = `${REPO}@sha256:${'c'.repeat(64)}`;
const ID = {
  image: IMAGE,
  keyVersion: 'projects/p/locations/global/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
};
const opts = (tag: string) => ({ leaseMs: 120_000, maxAttempts: 10, formats: ['cosign'], tag });
const nightly = (i: number) => `${REPO}:nightly-${20160101 + i}-${'x'.repeat(100)}`;
/** Firestore's limit on a document, which the record as JSON approximates from below. */
const ENTITY_LIMIT = 1_048_576;

function attached(tags: string[], extra: Partial<SigningRecord> = {}): SigningRecord {
  return {
    schemaVersion: SCHEMA_VERSION,
    image: IMAGE,
    digest: IMAGE.slice(IMAGE.indexOf('@') + 1),
    keyVersion: ID.keyVersion,
    state: 'attached',
    attempts: 1,
    lease: null,
    formats: { cosign: { attached: true, signature: 'c2ln' } },
    tags,
    createdAt: 1,
    updatedAt: 1,
    ...extra,
  };
}

/** Applies a claim's write as the store does (an update of the fields, or the whole record). */
function claim(existing: SigningRecord, tag: string, now = 2) {
  const { outcome, write } = decideClaim(structuredClone(existing), ID, 'owner', opts(tag), now);
  return { outcome, write, record: write === undefined ? existing : { ...existing, ...write } };
}

describe('signing record tags', () => {
  it('keeps a record that 4,225 tags had grown past 1 MiB claimable: its next write is bounded', () => {
    const tags = Array.from({ length: 4225 }, (_, i) => nightly(i));
    const existing = attached(tags);
    assert.ok(
      Buffer.byteLength(JSON.stringify(existing)) > ENTITY_LIMIT,
      'the seeded record is past the limit',
    );
    const { outcome, write, record } = claim(existing, `${REPO}:nightly-new-${'y'.repeat(100)}`);
    assert.equal(outcome.status, 'done');
    assert.ok(write !== undefined, 'the new tag is written');
    assert.equal(record.tags.length, TAGS_KEPT);
    assert.equal(record.tags.at(-1), `${REPO}:nightly-new-${'y'.repeat(100)}`, 'the new tag is kept');
    assert.equal(record.tags[0], nightly(4225 - TAGS_KEPT + 1), 'the oldest are dropped');
    assert.equal(record.tagsOmitted, 4225 + 1 - TAGS_KEPT);
    assert.ok(Buffer.byteLength(JSON.stringify(write)) < 64 * 1024, 'the write is small');
  });

  it('keeps the most recently added tags as pushes add them, and counts the rest', () => {
    let record = attached([nightly(0)]);
    for (let i = 1; i < 5000; i++) record = claim(record, nightly(i), 2 + i).record;
    assert.equal(record.tags.length, TAGS_KEPT);
    assert.deepEqual(
      record.tags,
      Array.from({ length: TAGS_KEPT }, (_, k) => nightly(5000 - TAGS_KEPT + k)),
    );
    assert.equal(record.tagsOmitted, 5000 - TAGS_KEPT);
    assert.ok(Buffer.byteLength(JSON.stringify(record)) < 64 * 1024);
  });

  it('writes nothing for a tag it lists already, and adds a dropped tag pushed again anew', () => {
    let record = attached([]);
    for (let i = 0; i < TAGS_KEPT + 5; i++) record = claim(record, nightly(i)).record;
    assert.equal(claim(record, nightly(TAGS_KEPT)).write, undefined, 'listed: no write');
    const again = claim(record, nightly(0));
    assert.ok(again.write !== undefined);
    assert.equal(again.record.tags.at(-1), nightly(0));
    assert.equal(again.record.tags.length, TAGS_KEPT);
    assert.equal(again.record.tagsOmitted, 6);
  });

  it('bounds the tags of every kind of claim: a first claim, a taken-over lease, a give-up', () => {
    const many = Array.from({ length: 300 }, (_, i) => nightly(i));
    const first = decideClaim(undefined, ID, 'a', opts(nightly(0)), 1);
    assert.deepEqual(first.write?.tags, [nightly(0)]);
    assert.equal(first.write?.tagsOmitted, undefined, 'nothing dropped, no count');

    const claimed = { ...attached(many), state: 'claimed' as const, formats: {}, attempts: 2 };
    const takeover = decideClaim(claimed, ID, 'b', opts(nightly(300)), 5);
    assert.equal(takeover.outcome.status, 'claimed');
    assert.equal(takeover.write?.tags?.length, TAGS_KEPT);
    assert.equal(takeover.write?.tagsOmitted, 301 - TAGS_KEPT);

    const exhausted = decideClaim({ ...claimed, attempts: 10 }, ID, 'b', opts(nightly(300)), 5);
    assert.equal(exhausted.outcome.status, 'exhausted');
    assert.equal(exhausted.write?.tags?.length, TAGS_KEPT);
    assert.equal(exhausted.write?.tagsOmitted, 301 - TAGS_KEPT);
  });
});
