/**
 * The tag verdict store on the Firestore emulator, for what review found: a verdict of a tag with
 * thousands of signatures, by others or forgeries claiming the owned key, is stored (its listing
 * bounded, the rest counted; before, Firestore refused the record, over 1 MiB), and a delivery claim is renewed only by the pass whose claim it still is, and
 * re-opened, lapsed, by a pass that lost it after raising late.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { describe, test } from 'node:test';
import { FirestoreTagStore, type TagRecord } from '../../../functions/reverify/store.ts';
import { omittedOf, type SignatureFinding } from '../../../functions/verify/verdict.ts';
import { verdictOf } from '../../../functions/verify/verifier.ts';
import { stackFirestore } from '../../helpers/stack.ts';
import { tagRecord } from '../../helpers/tag-record.ts';

describe('FirestoreTagStore: bounded verdicts and delivery claims', () => {
  const firestore = stackFirestore();
  const freshRef = () => `127.0.0.1:5000/tag-store/${crypto.randomUUID()}:prod`;
  const loadOne = async (store: FirestoreTagStore, ref: string) => (await store.load([ref])).get(ref);
  const digestA = `sha256:${'a'.repeat(64)}`;
  const digestB = `sha256:${'b'.repeat(64)}`;
  const delivery = (id: string, previous: TagRecord['status'] = 'valid') => ({
    id,
    until: new Date(Date.now() + 60_000).toISOString(),
    previous: { status: previous, digest: digestB },
  });

  test('stores the verdict of a tag with 7,000 foreign signatures', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    const image = { host: '127.0.0.1:5000', repository: 'third/party', digest: digestA };
    const findings: SignatureFinding[] = Array.from({ length: 7000 }, () => ({
      layout: 'bundle',
      location: `sha256:${crypto.randomBytes(32).toString('hex')}`,
      outcome: 'foreign',
      reason: 'signed by a key the policy does not name',
    }));
    const verdict = verdictOf(image, findings, { signatureManifest: null, referrers: digestB }, new Date());
    const record: TagRecord = {
      ...tagRecord(ref, verdict.status, digestA, verdict.reasons),
      findings: verdict.findings,
      ...(verdict.foreignOmitted ? { foreignOmitted: verdict.foreignOmitted } : {}),
    };
    assert.equal(await store.put(record, undefined), 'stored');
    const stored = await loadOne(store, ref);
    assert.equal(stored?.status, 'unsigned');
    assert.equal(stored?.findings.length, 50);
    assert.equal(stored?.foreignOmitted, 6950);
  });

  test('stores, and stores again over itself, the verdict of a tag with 5,000 forgeries', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    const image = { host: '127.0.0.1:5000', repository: 'team/app', digest: digestA };
    const forgeries: SignatureFinding[] = Array.from({ length: 5000 }, () => ({
      layout: 'cosign',
      location: `sha256:${crypto.randomBytes(32).toString('hex')}`,
      outcome: 'invalid',
      reason: 'the signature does not verify under the expected key',
    }));
    // 60 signatures by a disabled key version, each attached twice: 50 listed, the rest counted.
    const disabled: SignatureFinding[] = Array.from({ length: 120 }, (_, i) => ({
      layout: 'bundle',
      location: `sha256:${crypto.randomBytes(32).toString('hex')}`,
      outcome: 'key-disabled',
      keyVersion: 'projects/p/locations/l/keyRings/r/cryptoKeys/k/cryptoKeyVersions/1',
      keyState: 'DISABLED',
      log: [
        {
          logId: 'f'.repeat(64),
          logIndex: i % 60,
          integratedTime: 1_790_000_000,
          kind: 'dsse',
          bodyHash: 'e'.repeat(64),
          inclusion: ['inclusion-proof'],
        },
      ],
    }));
    const fingerprint = { signatureManifest: digestB, referrers: digestB };
    const verdict = verdictOf(image, [...forgeries, ...disabled], fingerprint, new Date());
    const record: TagRecord = {
      ...tagRecord(ref, verdict.status, digestA, verdict.reasons),
      findings: verdict.findings,
      ...omittedOf(verdict),
    };
    assert.equal(await store.put(record, undefined), 'stored');
    const stored = await loadOne(store, ref);
    assert.equal(stored?.status, 'invalid');
    assert.deepEqual(stored?.oursOmitted, { invalid: 4950, 'key-disabled': 20 });
    assert.deepEqual(stored?.findings, verdict.findings);
    assert.equal(stored?.findings.filter((f) => f.copies === 1).length, 50);
    // Judged again from the stored record, the same verdict; stored over it (an update), the same.
    const again = verdictOf(
      image,
      stored!.findings,
      verdict.evidence,
      new Date(verdict.evidence.checkedAt),
      [],
      stored,
    );
    assert.deepEqual(again, verdict);
    assert.equal(await store.put({ ...record, checkedAt: new Date().toISOString() }, stored), 'stored');
    assert.deepEqual((await loadOne(store, ref))?.oursOmitted, { invalid: 4950, 'key-disabled': 20 });
  });

  test('renews a claim only while the stored record carries it', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    const mine = { ...tagRecord(ref, 'unsigned', digestA), delivery: delivery('mine') };
    assert.equal(await store.put(mine, undefined), 'stored');
    const until = new Date(Date.now() + 120_000).toISOString();
    assert.equal(await store.renewDelivery(mine, until), true);
    assert.equal((await loadOne(store, ref))?.delivery?.until, until);
    assert.equal(await store.renewDelivery({ ...mine, delivery: delivery('theirs') }, until), false);

    // Another pass takes the tag (its basis loaded after the renewal): the claim is no longer ours.
    const basis = await loadOne(store, ref);
    assert.equal(await store.put(tagRecord(ref, 'valid', digestB), basis), 'stored');
    assert.equal(await store.renewDelivery(mine, until), false);
    assert.equal(await store.finishDelivery(mine), false);
    assert.equal((await loadOne(store, ref))?.delivery, undefined, 'nothing written');
  });

  test('a renewal supersedes a verdict judged against the record before it', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    const mine = { ...tagRecord(ref, 'unsigned', digestA), delivery: delivery('mine') };
    await store.put(mine, undefined);
    const other = new FirestoreTagStore(firestore.db);
    const before = await loadOne(other, ref);
    assert.equal(await store.renewDelivery(mine, new Date(Date.now() + 60_000).toISOString()), true);
    assert.equal(await other.put(tagRecord(ref, 'valid', digestB), before), 'superseded');
    assert.equal(await store.finishDelivery(mine), true);
    assert.equal((await loadOne(store, ref))?.delivery, undefined);
  });

  test('re-opens the stored verdict, lapsed, for a pass that lost its claim', async () => {
    const ref = freshRef();
    const store = new FirestoreTagStore(firestore.db);
    const mine = { ...tagRecord(ref, 'unsigned', digestA), delivery: delivery('mine') };
    await store.put(mine, undefined);
    await store.put(tagRecord(ref, 'valid', digestB), await loadOne(store, ref));
    const at = new Date().toISOString();
    await store.reopenDelivery(mine, at);
    const stored = await loadOne(store, ref);
    assert.equal(stored?.status, 'valid');
    assert.equal(stored?.delivery?.until, at);
    assert.deepEqual(stored?.delivery?.previous, { status: 'unsigned', digest: digestA });
    assert.notEqual(stored?.delivery?.id, 'mine');

    // Its own verdict still stored: its own change is the one owed.
    const ref2 = freshRef();
    const own = { ...tagRecord(ref2, 'unsigned', digestA), delivery: delivery('own', 'valid') };
    await store.put(own, undefined);
    await store.put(tagRecord(ref2, 'unsigned', digestA), await loadOne(store, ref2));
    await store.reopenDelivery(own, at);
    assert.deepEqual((await loadOne(store, ref2))?.delivery?.previous, { status: 'valid', digest: digestB });
  });
});
