/**
 * followUnverified on its own: what a pass failed on, what it kept from earlier passes and what it
 * listed, judged over hours of passes, with the memory store and a recording sink. The cases a
 * failure hides (a listing above a kept subject failing), the subjects it must forget and keep, and
 * a store or sink that fails.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inShard, inventoryCovers } from '../../../functions/reverify/inventory.ts';
import {
  followUnverified,
  type PassFailure,
  type PassScope,
  staleAlertKey,
} from '../../../functions/reverify/staleness.ts';
import { MemoryUnverifiedStore, type UnverifiedSubject } from '../../../functions/reverify/unverified.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-12-01T00:00:00.000Z');
const at = (h: number) => new Date(T0 + h * HOUR).toISOString();
const HOST = 'registry.example:5000';
const REPO = `${HOST}/team/app`;
const TAG = `${REPO}:v1`;

const tagFails = (subject: string, lastVerifiedAt?: number): PassFailure => ({
  subject,
  kind: 'tag',
  error: 'log unreachable',
  ...(lastVerifiedAt === undefined ? {} : { lastVerifiedAt: at(lastVerifiedAt) }),
});
const listingFails = (subject: string): PassFailure => ({ subject, kind: 'listing', error: 'answered 503' });

function setup() {
  const store = new MemoryUnverifiedStore();
  const alerts = new RecordingAlertSink();
  const deps = { store, alerts, staleAfterMs: 24 * HOUR };
  /** One pass at hour h: its failures, what it listed, the tags it took up. */
  const pass = (h: number, scope: Partial<PassScope> = {}) =>
    followUnverified(deps, {
      at: new Date(T0 + h * HOUR),
      failures: [],
      listed: [HOST, REPO],
      tags: [],
      covers: () => true,
      ...scope,
    });
  const open = (key = staleAlertKey()) => alerts.open.get(key);
  const kept = () => [...store.subjects.values()].map((s) => s.subject).sort();
  return { store, alerts, pass, open, kept };
}

describe('followUnverified', () => {
  it('a stale tag stays stale when its repository then fails to list: the alert is not resolved, its since kept', async () => {
    const { pass, open } = setup();
    await pass(6, { failures: [tagFails(TAG, 0)], tags: [TAG] });
    assert.deepEqual(await pass(30, { failures: [tagFails(TAG, 0)], tags: [TAG] }), [
      { subject: TAG, kind: 'tag', since: at(0), error: 'log unreachable' },
    ]);
    assert.ok(open());
    const hidden = await pass(36, { failures: [listingFails(REPO)], listed: [HOST] });
    assert.deepEqual(
      hidden.map((s) => [s.subject, s.since]),
      [[TAG, at(0)]],
      'the tag is as unverified as before; the repository has failed for less than the limit',
    );
    assert.match(hidden[0]!.error, /^not listed: answered 503/);
    assert.ok(open(), 'still open');
  });

  it('a repository failing to list stays stale when its host then fails: the host does not restart its clock', async () => {
    const { pass, open } = setup();
    await pass(0, { failures: [listingFails(REPO)], listed: [HOST] });
    const stale = await pass(30, { failures: [listingFails(HOST)], listed: [] });
    assert.deepEqual(
      stale.map((s) => [s.subject, s.since]),
      [[REPO, at(0)]],
    );
    assert.ok(open());
  });

  it('a tag never verified stays kept under a failing listing, and counts from its first failure', async () => {
    const { pass, kept } = setup();
    await pass(0, { failures: [tagFails(TAG)], tags: [TAG] });
    await pass(6, { failures: [listingFails(REPO)], listed: [HOST] });
    assert.deepEqual(kept(), [REPO, TAG]);
    const stale = await pass(24, { failures: [listingFails(REPO)], listed: [HOST] });
    assert.deepEqual(
      stale.map((s) => [s.subject, s.since]),
      [[TAG, at(0)]],
    );
  });

  it('each shard keeps its own listings: one shard listing a repository does not clear another shard failing to', async () => {
    const { pass, open } = setup();
    const shard = (index: number) => ({ index, count: 2 });
    await pass(0, { failures: [listingFails(REPO)], listed: [HOST], shard: shard(1) });
    await pass(1, { shard: shard(0) });
    const stale = await pass(24, { failures: [listingFails(REPO)], listed: [HOST], shard: shard(1) });
    assert.deepEqual(
      stale.map((s) => [s.subject, s.since]),
      [[REPO, at(0)]],
    );
    assert.ok(open(staleAlertKey(shard(1))));
    assert.equal(open(staleAlertKey(shard(0))), undefined);
  });

  it('forgets what the configuration no longer watches, what left its host catalog, and listings of an old shard layout', async () => {
    const { store, pass, kept } = setup();
    const gone = `${HOST}/team/gone`;
    // A watchlisted repository on a host the pass does not list, since removed from the watchlist.
    const dropped = 'other.example/vendor/base';
    const subjects: UnverifiedSubject[] = [
      { subject: `${gone}:v1`, kind: 'tag', since: at(0) },
      { subject: gone, kind: 'listing', since: at(0), scope: 'all' },
      { subject: `${dropped}:v1`, kind: 'tag', since: at(0) },
      { subject: dropped, kind: 'listing', since: at(0), scope: 'all' },
      { subject: REPO, kind: 'listing', since: at(0), scope: 'shard-1-of-2' },
    ];
    await store.add(subjects);
    // The host's catalog was read without team/gone; vendor/base left the configuration.
    await pass(1, { covers: (s) => !s.subject.startsWith(dropped) });
    assert.deepEqual(kept(), []);
  });

  it('a returning subject counts from its new first failure, not from one forgotten', async () => {
    const { pass } = setup();
    await pass(0, { failures: [listingFails(REPO)], listed: [HOST] });
    await pass(6);
    const stale = await pass(1000, { failures: [listingFails(REPO)], listed: [HOST] });
    assert.deepEqual(stale, []);
  });

  it('a tag verified after it was kept counts from that verdict (another pass verified it meanwhile)', async () => {
    const { pass } = setup();
    await pass(0, { failures: [tagFails(TAG, 0)], tags: [TAG] });
    const stale = await pass(30, { failures: [tagFails(TAG, 20)], tags: [TAG] });
    assert.deepEqual(stale, [], 'since 20 h, not 0 h');
  });

  it('an overlapping pass keeping the same subject later does not move its since', async () => {
    const { store, pass } = setup();
    await pass(0, { failures: [tagFails(TAG)], tags: [TAG] });
    await store.add([{ subject: TAG, kind: 'tag', since: at(5) }]);
    assert.deepEqual(
      [...store.subjects.values()].map((s) => s.since),
      [at(0)],
    );
  });

  it('a narrower failure after a wider one counts from the wider one: a host, then its repository, then a tag', async () => {
    const { pass } = setup();
    await pass(0, { failures: [listingFails(HOST)], listed: [] });
    await pass(12, { failures: [listingFails(REPO)], listed: [HOST] });
    const stale = await pass(23, { failures: [tagFails(TAG)], tags: [TAG] });
    assert.deepEqual(stale, []);
    assert.deepEqual(
      (await pass(24, { failures: [tagFails(TAG)], tags: [TAG] })).map((s) => [s.subject, s.since]),
      [[TAG, at(0)]],
      'the tag, never verified, has been out of reach since its host failed',
    );
  });

  it('a pass under another shard count does not reset a listing that keeps failing', async () => {
    const { pass, open } = setup();
    await pass(0, { failures: [listingFails(REPO)], listed: [HOST] });
    await pass(26, { failures: [listingFails(REPO)], listed: [HOST] });
    assert.ok(open());
    const other = await pass(27, {
      failures: [listingFails(REPO)],
      listed: [HOST],
      shard: { index: 0, count: 2 },
    });
    assert.deepEqual(
      other.map((s) => [s.subject, s.since]),
      [[REPO, at(0)]],
      'the other layout inherits the since',
    );
    assert.deepEqual(
      (await pass(30, { failures: [listingFails(REPO)], listed: [HOST] })).map((s) => [s.subject, s.since]),
      [[REPO, at(0)]],
    );
    assert.ok(open(), 'not resolved');
  });

  it('a tag verified long ago and away since (deleted, unwatched) counts afresh on its first failure back', async () => {
    const { pass, store } = setup();
    assert.deepEqual(await pass(100, { failures: [tagFails(TAG, 0)], tags: [TAG] }), []);
    assert.deepEqual(
      [...store.subjects.values()].map((s) => s.since),
      [at(100)],
    );
  });

  it('a tag hidden by a failing listing counts from a verdict made since it was kept', async () => {
    const { pass } = setup();
    await pass(0, { failures: [tagFails(TAG, 0)], tags: [TAG] });
    const lastVerified = async (refs: readonly string[]) => new Map(refs.map((r) => [r, at(20)]));
    const stale = await pass(24, { failures: [listingFails(REPO)], listed: [HOST], lastVerified });
    assert.deepEqual(stale, [], 'verified at 20 h (a manual pass), not stale since 0 h');
  });

  it('a keep that fails does not stop the pass forgetting what it got past', async () => {
    const { store, pass, kept } = setup();
    await pass(0, { failures: [listingFails(REPO)], listed: [HOST] });
    store.add = async () => {
      throw new Error('write refused');
    };
    await assert.rejects(pass(6, { failures: [tagFails(TAG)], tags: [TAG] }), /write refused/);
    assert.deepEqual(kept(), [], 'the repository, listed, is forgotten');
  });

  it("a shard failing on a repository for the first time does not inherit a sibling shard's since", async () => {
    const { pass, open } = setup();
    const shard = (index: number) => ({ index, count: 2 });
    // Shard 1 keeps failing to list REPO (its clock frozen at 0 h); shard 0 lists it every hour.
    await pass(0, { failures: [listingFails(REPO)], listed: [HOST], shard: shard(1) });
    for (let h = 1; h <= 29; h++) await pass(h, { shard: shard(0) });
    const stale = await pass(30, { failures: [listingFails(REPO)], listed: [HOST], shard: shard(0) });
    assert.deepEqual(stale, [], 'shard 0 listed REPO at 29 h');
    assert.equal(open(staleAlertKey(shard(0))), undefined);
  });

  it('a tag whose repository failed under the old shard layout counts from its verdict on the new layout', async () => {
    const { pass } = setup();
    // Unsharded: REPO fails from 0 h (its tags last verified at -1 h).
    for (let h = 0; h <= 20; h += 4) await pass(h, { failures: [listingFails(REPO)], listed: [HOST] });
    // The shard count goes to 2; shard 0 lists REPO again, but a tag's log re-check fails.
    const shard = { index: 0, count: 2 };
    const tag = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `${REPO}:v${i}`).find((t) => inShard(t, shard))!;
    await pass(30, { failures: [tagFails(tag, -1)], tags: [tag], shard });
    const stale = await pass(31, { failures: [tagFails(tag, -1)], tags: [tag], shard });
    assert.deepEqual(
      stale.map((s) => [s.subject, s.since]),
      [[tag, at(-1)]],
      'unverified since -1 h, not counted afresh from 30 h',
    );
  });

  it('a store that cannot be read still alerts on stale tags with verdicts, resolves nothing, and throws', async () => {
    const { store, alerts, pass, open } = setup();
    store.list = async () => {
      throw new Error('firestore unavailable');
    };
    await assert.rejects(pass(30, { failures: [tagFails(TAG, 0)], tags: [TAG] }), /firestore unavailable/);
    assert.ok(open(), 'raised from what the pass knows');
    const calls = alerts.calls.length;
    await assert.rejects(pass(31, { tags: [TAG] }), /firestore unavailable/);
    assert.equal(alerts.calls.length, calls, 'not resolved without knowing what is kept');
  });

  it('a store that cannot be written does not hold the alert back, and throws', async () => {
    const { store, pass, open } = setup();
    await pass(0, { failures: [listingFails(REPO)], listed: [HOST] });
    store.add = async () => {
      throw new Error('write refused');
    };
    store.remove = store.add;
    await assert.rejects(
      pass(30, { failures: [listingFails(REPO), tagFails(TAG)], listed: [HOST], tags: [TAG] }),
      /write refused/,
    );
    assert.ok(open());
  });
});

describe('inventoryCovers: what a configuration watches at all', () => {
  const spec = {
    watch: [`${HOST}/team/**`],
    watchlist: [{ image: 'ghcr.example/vendor/base' }, { image: 'ghcr.example/vendor/tool:v2' }],
  };
  const covers = (subject: string, kind: 'tag' | 'listing') => inventoryCovers(spec, { subject, kind });

  it('covers the watched hosts, repositories and tags, and the watchlist', () => {
    assert.ok(covers(HOST, 'listing'));
    assert.ok(covers(REPO, 'listing'));
    assert.ok(covers(TAG, 'tag'));
    assert.ok(covers('ghcr.example/vendor/base', 'listing'));
    assert.ok(covers('ghcr.example/vendor/base:1.0', 'tag'));
    assert.ok(covers('ghcr.example/vendor/tool:v2', 'tag'));
  });

  it('does not cover what left it', () => {
    assert.ok(!covers(`${HOST}/other/app`, 'listing'));
    assert.ok(!covers(`${HOST}/other/app:v1`, 'tag'));
    assert.ok(!covers('ghcr.example', 'listing'), 'a watchlisted repository does not list its host');
    assert.ok(!covers('ghcr.example/vendor/tool:v3', 'tag'));
    assert.ok(!covers('ghcr.example/vendor/tool', 'listing'), 'a watchlisted tag is not listed');
  });
});

describe("followUnverified: a tag's unjudged alert", () => {
  const unjudgedFails = (subject: string, lastVerifiedAt?: number): PassFailure => ({
    ...tagFails(subject, lastVerifiedAt),
    unjudged: true,
  });
  const resolves = (alerts: RecordingAlertSink) =>
    alerts.calls.flatMap((c) =>
      c.op === 'resolve' && !c.key.startsWith('verification-stale') ? [c.key] : [],
    );

  it('is resolved by the pass that judges the tag, which forgets it; not by one that only passes it by', async () => {
    const { store, alerts, pass, kept } = setup();
    const other = `${REPO}:v2`;
    await pass(0, { failures: [unjudgedFails(TAG, 0), unjudgedFails(other, 0)], tags: [TAG, other] });
    assert.deepEqual(
      [...store.subjects.values()].map((s) => [s.subject, s.unjudged]),
      [
        [TAG, true],
        [other, true],
      ],
    );
    // TAG judged; `other` deleted since (its repository listed without it): forgotten, left open.
    await pass(1, { tags: [TAG], judged: [TAG] });
    assert.deepEqual(resolves(alerts), [`unjudged-signature:${TAG}`]);
    assert.deepEqual(kept(), []);
  });

  it('marks a tag kept already for another failure; an unmarked tag judged resolves nothing', async () => {
    const { store, alerts, pass } = setup();
    await pass(0, { failures: [tagFails(TAG, 0)], tags: [TAG] });
    await pass(1, { failures: [unjudgedFails(TAG, 0)], tags: [TAG] });
    assert.deepEqual(
      [...store.subjects.values()],
      [{ subject: TAG, kind: 'tag', since: at(0), unjudged: true }],
    );
    await pass(2, { tags: [TAG], judged: [TAG] });
    assert.deepEqual(resolves(alerts), [`unjudged-signature:${TAG}`]);

    const plain = `${REPO}:plain`;
    await pass(3, { failures: [tagFails(plain, 2)], tags: [plain] });
    await pass(4, { tags: [plain], judged: [plain] });
    assert.deepEqual(resolves(alerts), [`unjudged-signature:${TAG}`], 'nothing more');
  });

  it('a resolution that fails keeps the tag for the next pass that judges it, and throws', async () => {
    const { alerts, pass, kept } = setup();
    await pass(0, { failures: [unjudgedFails(TAG, 0)], tags: [TAG] });
    const resolve = alerts.resolve.bind(alerts);
    alerts.resolve = async (key, reason) => {
      if (key.startsWith('unjudged-signature:')) throw new Error('the alert record is unreachable');
      await resolve(key, reason);
    };
    await assert.rejects(pass(1, { tags: [TAG], judged: [TAG] }), /alert record is unreachable/);
    assert.deepEqual(kept(), [TAG]);
    alerts.resolve = resolve;
    await pass(2, { tags: [TAG], judged: [TAG] });
    assert.deepEqual(resolves(alerts), [`unjudged-signature:${TAG}`]);
    assert.deepEqual(kept(), []);
  });
});
