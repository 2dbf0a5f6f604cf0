/**
 * What passes keep failing on is alerted once it has gone without a verdict for longer than
 * `staleAfterMs` (`verification-stale`), and the alert is resolved once a pass gets past it. A real
 * registry behind a proxy that answers 503 for what a test names, and a real log emulator behind a
 * fetch that fails while the test holds the log "down". The pass clock is the test's.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { AlertInput } from '../../../functions/alerts/alert.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { type ReverifyDeps, reverifyOnce } from '../../../functions/reverify/core.ts';
import { createReverifyEntry } from '../../../functions/reverify/entry.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { inShard } from '../../../functions/reverify/inventory.ts';
import { staleAlertKey } from '../../../functions/reverify/staleness.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { LocalSigner } from '../../../functions/signing/local-signer.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startProxy, startRegistry, type TestProxy, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import { signImage } from '../../helpers/sign-image.ts';

const HOUR = 3_600_000;

const keptSubjects = (store: MemoryUnverifiedStore) =>
  [...store.subjects.values()].map((s) => s.subject).sort();
const STALE_AFTER = 24 * HOUR;

describe('reverifyOnce: what passes keep failing on is alerted (verification-stale)', () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let log: TestLog;
  let client: RegistryClient;
  /** Request paths the proxy answers 503 for, as a registry in an outage does. */
  const failing = new Set<string>();
  let logDown = false;
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signer = new LocalSigner(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());

  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.url, (req, res) => {
      if (!failing.has(req.url.pathname)) return false;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('service unavailable');
      return true;
    });
    log = await startTestLog('reverify-stale', { unrelatedFirstEntry: true });
    client = new RegistryClient({ allowedHosts: [proxy.host] });
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await log.stop();
  });

  const logFetch: typeof fetch = (input, init) =>
    logDown ? Promise.reject(new TypeError('fetch failed: connect ECONNREFUSED')) : fetch(input, init);

  /** One watched repository prefix, its own stores, alert sink and clock. */
  function scenario(prefix: string) {
    const store = new MemoryTagStore();
    const unverified = new MemoryUnverifiedStore();
    const alerts = new RecordingAlertSink();
    const start = Date.now();
    const deps = (hoursLater: number, overrides: Partial<ReverifyDeps> = {}): ReverifyDeps => ({
      registry: client,
      store,
      unverified,
      alerts,
      trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] },
      ownedPolicy: { keys: [expectedKeyFromPem(signer.publicKeyPem)], identities: [] },
      watch: [`${proxy.host}/${prefix}/**`],
      watchlist: [],
      inclusion: new InclusionRechecker({
        client: new RekorV1Client({
          baseUrl: log.rekor.url,
          logKey: log.rekor.publicKeyPem,
          fetch: logFetch,
        }),
        baseUrl: log.rekor.url,
        fetch: logFetch,
      }),
      logger: createMemoryLogger(),
      concurrency: 4,
      staleAfterMs: STALE_AFTER,
      now: () => new Date(start + hoursLater * HOUR),
      ...overrides,
    });
    const at = (hoursLater: number) => new Date(start + hoursLater * HOUR).toISOString();
    const staleAlert = (key = staleAlertKey()): AlertInput | undefined => alerts.open.get(key);
    return { store, unverified, alerts, deps, at, staleAlert };
  }

  const ref = (repository: string, tag: string) => `${proxy.host}/${repository}:${tag}`;

  it('a signed tag whose log re-check keeps failing is alerted a day after its last verdict, and resolved when the log is back', async () => {
    const { store, unverified, deps, at, staleAlert } = scenario('log-down');
    const pushed = await registry.pushImage('log-down/app', 'v1');
    await signImage(
      { registry: client, signer, rekorUrl: log.rekor.url },
      { host: proxy.host, repository: 'log-down/app', digest: pushed.digest },
    );
    const tag = ref('log-down/app', 'v1');
    const first = await reverifyOnce(deps(0));
    assert.deepEqual(first.errors, []);
    assert.equal(first.byStatus.valid, 1);

    logDown = true;
    try {
      const halfway = await reverifyOnce(deps(12));
      assert.deepEqual(
        halfway.errors.map((e) => e.ref),
        [tag],
      );
      assert.deepEqual(halfway.stale, [], 'within the day: an error of the pass, not yet an alert');
      assert.equal(staleAlert(), undefined);

      const dayLater = await reverifyOnce(deps(24));
      assert.deepEqual(
        dayLater.stale.map((s) => [s.subject, s.kind, s.since]),
        [[tag, 'tag', at(0)]],
        'unverified since its last verdict',
      );
      const alert = staleAlert();
      assert.ok(alert, 'verification-stale is raised');
      assert.equal(alert.kind, 'verification-stale');
      assert.equal(alert.severity, 'HIGH');
      assert.match(alert.summary, /^1 tag not re-verified for over 24 h; the oldest, .+, since /);
      assert.equal(alert.evidence['unverifiedCount'], 1);
      assert.match(String(alert.evidence['verifierOutput']), /ECONNREFUSED/);
      assert.equal(store.records.get(tag)?.status, 'valid', 'its last verdict stands');
      assert.equal(store.records.get(tag)?.checkedAt, at(0));
      assert.deepEqual(
        [...unverified.subjects.values()].map((s) => [s.subject, s.since]),
        [[tag, at(0)]],
        'kept since its last verdict',
      );
    } finally {
      logDown = false;
    }

    const back = await reverifyOnce(deps(25));
    assert.deepEqual(back.errors, []);
    assert.deepEqual(back.stale, []);
    assert.equal(staleAlert(), undefined, 'resolved');
  });

  it('a tag never verified and a repository that cannot be listed count from the first pass that failed on them', async () => {
    const { unverified, deps: watched, at, staleAlert } = scenario('never');
    await registry.pushImage('never/new', 'v1');
    await registry.pushImage('never/unlisted', 'v1');
    await registry.pushImage('pinned/app', 'v1');
    const tag = ref('never/new', 'v1');
    const repository = `${proxy.host}/never/unlisted`;
    // A watchlist tag is taken up without a listing.
    const pinned = ref('pinned/app', 'v1');
    const policy = {
      keys: [],
      identities: [{ subjectAlternativeName: 'release@vendor', issuer: 'https://idp' }],
    };
    const deps = (hoursLater: number) => watched(hoursLater, { watchlist: [{ image: pinned, policy }] });
    const paths = [
      '/v2/never/new/manifests/v1',
      '/v2/never/unlisted/tags/list',
      '/v2/pinned/app/manifests/v1',
    ];
    for (const p of paths) failing.add(p);
    try {
      const first = await reverifyOnce(deps(0));
      assert.deepEqual(first.errors.map((e) => e.ref).sort(), [repository, tag, pinned].sort());
      assert.deepEqual(first.stale, []);
      assert.deepEqual(
        [...unverified.subjects.values()].map((s) => [s.subject, s.kind, s.since]).sort(),
        [
          [repository, 'listing', at(0)],
          [tag, 'tag', at(0)],
          [pinned, 'tag', at(0)],
        ].sort(),
      );

      const later = await reverifyOnce(deps(23));
      assert.deepEqual(later.stale, [], 'counted from the first failing pass, not the last');
      assert.equal(staleAlert(), undefined);

      const dayLater = await reverifyOnce(deps(24));
      assert.deepEqual(
        dayLater.stale.map((s) => [s.subject, s.kind, s.since]),
        [
          [repository, 'listing', at(0)],
          [tag, 'tag', at(0)],
          [pinned, 'tag', at(0)],
        ].sort((a, b) => a[0]!.localeCompare(b[0]!)),
      );
      assert.match(staleAlert()?.summary ?? '', /^2 tags and 1 repository or registry not re-verified/);
    } finally {
      for (const p of paths) failing.delete(p);
    }

    const healed = await reverifyOnce(deps(25));
    assert.deepEqual(healed.errors, []);
    assert.equal(healed.byStatus.unsigned, 3, 'every tag has a verdict now');
    assert.equal(unverified.subjects.size, 0, 'and nothing is left failing');
    assert.equal(staleAlert(), undefined);
  });

  it('a failure that clears within the day is forgotten: failing again later counts afresh', async () => {
    const { unverified, deps, at, staleAlert } = scenario('flaky');
    await registry.pushImage('flaky/app', 'v1');
    const repository = `${proxy.host}/flaky/app`;
    const path = '/v2/flaky/app/tags/list';
    const failingAt = async (hoursLater: number) => {
      failing.add(path);
      try {
        return await reverifyOnce(deps(hoursLater));
      } finally {
        failing.delete(path);
      }
    };
    await failingAt(0);
    assert.deepEqual(keptSubjects(unverified), [repository]);
    const listed = await reverifyOnce(deps(6));
    assert.deepEqual(listed.errors, []);
    assert.equal(unverified.subjects.size, 0, 'listed again: forgotten');

    const again = await failingAt(29);
    assert.deepEqual(again.stale, [], 'failing since 29 h, not since the first failure');
    assert.equal([...unverified.subjects.values()].find((s) => s.subject === repository)?.since, at(29));
    const dayAfter = await failingAt(53);
    assert.deepEqual(
      dayAfter.stale.map((s) => [s.subject, s.since]),
      [[repository, at(29)]],
    );
    assert.ok(staleAlert());
  });

  it('a tag no longer in its listed repository is forgotten, and a pass of one shard leaves the other shard its own', async () => {
    const { unverified, deps, at, staleAlert } = scenario('sharded');
    // Two tags, one in each of two shards.
    const tags: Array<string | undefined> = [undefined, undefined];
    for (let i = 0; tags.includes(undefined); i++) {
      const candidate = `t${i}`;
      const shard = inShard(ref('sharded/app', candidate), { index: 0, count: 2 }) ? 0 : 1;
      if (tags[shard] === undefined) tags[shard] = candidate;
    }
    const [t0, t1] = tags as [string, string];
    const [tag0, tag1] = [ref('sharded/app', t0), ref('sharded/app', t1)];
    for (const t of [t0, t1]) await registry.pushImage('sharded/app', t);
    const paths = [t0, t1].map((t) => `/v2/sharded/app/manifests/${t}`);
    for (const p of paths) failing.add(p);
    const shard = (index: number) => ({ shard: { index, count: 2 } });
    try {
      await reverifyOnce(deps(0), shard(0));
      assert.deepEqual(keptSubjects(unverified), [tag0]);
      await reverifyOnce(deps(1), shard(1));
      assert.deepEqual(keptSubjects(unverified), [tag0, tag1].sort());
      failing.delete(paths[0]!);
      // Shard 1's pass a day later alerts on its own tag only, and leaves shard 0's record alone.
      const one = await reverifyOnce(deps(25), shard(1));
      assert.deepEqual(
        one.stale.map((s) => [s.subject, s.since]),
        [[tag1, at(1)]],
      );
      assert.ok(staleAlert(staleAlertKey({ index: 1, count: 2 })));
      assert.equal(staleAlert(staleAlertKey({ index: 0, count: 2 })), undefined);
      assert.ok(keptSubjects(unverified).includes(tag0));
      const zero = await reverifyOnce(deps(25), shard(0));
      assert.deepEqual(zero.errors, []);
      assert.ok(!keptSubjects(unverified).includes(tag0), 'verified by its own shard');
    } finally {
      for (const p of paths) failing.delete(p);
    }
    // The failing tag is deleted: its repository is listed without it, and its record goes.
    const digest = (await client.resolve({ host: proxy.host, repository: 'sharded/app', tag: t1 })).digest;
    assert.ok(await client.deleteManifest({ host: proxy.host, repository: 'sharded/app' }, digest));
    const gone = await reverifyOnce(deps(26), shard(1));
    assert.deepEqual(gone.errors, []);
    assert.equal(unverified.subjects.size, 0);
    assert.equal(staleAlert(staleAlertKey({ index: 1, count: 2 })), undefined, 'and its alert is resolved');
  });

  it('a watchlisted tag that keeps answering 404 goes stale; a listed tag deleted meanwhile is forgotten', async () => {
    const { unverified, deps: watched, at, staleAlert } = scenario('withdrawn');
    const withdrawn = ref('vendor/withdrawn', 'v1');
    const policy = {
      keys: [],
      identities: [{ subjectAlternativeName: 'release@vendor', issuer: 'https://idp' }],
    };
    // The watchlist alone: a watch rule with nothing pushed under it would be a failure of its own.
    const deps = (hoursLater: number) =>
      watched(hoursLater, { watch: [], watchlist: [{ image: withdrawn, policy }] });
    const first = await reverifyOnce(deps(0));
    assert.deepEqual(first.gone, [withdrawn]);
    assert.deepEqual(keptSubjects(unverified), [withdrawn]);
    const dayLater = await reverifyOnce(deps(24));
    assert.deepEqual(
      dayLater.stale.map((s) => [s.subject, s.since, s.error]),
      [[withdrawn, at(0), `${withdrawn} answered 404 when resolved`]],
    );
    assert.ok(staleAlert());
  });

  it('a tag another pass is verifying, or whose verdict was stored without its alerts delivered, is not kept as unverified', async () => {
    const { store, unverified, alerts, deps } = scenario('verified-elsewhere');
    await registry.pushImage('verified-elsewhere/app', 'v1');
    // Every verdict is superseded by "another pass": VERDICT_CONTENDED.
    const contended = await reverifyOnce(
      deps(0, {
        store: {
          load: (refs) => store.load(refs),
          recordedTags: (repository, limit) => store.recordedTags(repository, limit),
          recordedTagsOfHost: (host, limit) => store.recordedTagsOfHost(host, limit),
          put: async () => 'superseded',
          renewDelivery: async () => false,
          finishDelivery: async () => false,
          reopenDelivery: async () => {},
        },
      }),
    );
    assert.match(contended.errors[0]?.error ?? '', /other passes stored a verdict/);
    assert.deepEqual(keptSubjects(unverified), []);
    // The unsigned tag's alert cannot be delivered: ALERT_DELIVERY_FAILED, its verdict stored.
    const failing = Object.assign(Object.create(alerts) as RecordingAlertSink, {
      raise: async (alert: AlertInput) => {
        if (alert.kind !== 'verification-stale') throw new Error('webhook down');
        await alerts.raise(alert);
      },
    });
    const undelivered = await reverifyOnce(deps(1, { alerts: failing }));
    assert.match(undelivered.errors[0]?.error ?? '', /delivering its alerts failed/);
    assert.deepEqual(keptSubjects(unverified), []);
  });

  it('a pass whose follow-up fails says so, and reverifyImages answers 500 for it', async () => {
    const { unverified, deps } = scenario('follow-up');
    await registry.pushImage('follow-up/app', 'v1');
    unverified.list = async () => {
      throw new DependencyError('firestore', 'reading the subjects failed: unavailable');
    };
    const summary = await reverifyOnce(deps(0));
    assert.equal(summary.unverifiedFollowUp, 'failed');
    assert.deepEqual(
      summary.errors.map((e) => e.ref),
      [staleAlertKey()],
    );
    let status = 0;
    const entry = createReverifyEntry({ logger: createMemoryLogger(), run: async () => summary });
    await entry(
      { method: 'POST', body: {} },
      {
        status(code) {
          status = code;
          return this;
        },
        json: (body) => body,
      },
    );
    assert.equal(status, 500);
  });

  it('a verdict made under another configuration (a manual pass) does not count as verified', async () => {
    const { deps, at } = scenario('other-config');
    const pushed = await registry.pushImage('other-config/app', 'v1');
    await signImage(
      { registry: client, signer, rekorUrl: log.rekor.url },
      { host: proxy.host, repository: 'other-config/app', digest: pushed.digest },
    );
    const tag = ref('other-config/app', 'v1');
    assert.equal((await reverifyOnce(deps(0))).byStatus.valid, 1);
    logDown = true;
    try {
      await reverifyOnce(deps(6));
      // A manual pass (no follow-up) under another policy: the tag is judged unsigned under it,
      // and that verdict is stored.
      const other = await reverifyOnce(
        deps(18, { ownedPolicy: { keys: [], identities: [] }, inclusion: undefined, unverified: undefined }),
      );
      assert.equal(other.byStatus.unsigned, 1);
      const dayLater = await reverifyOnce(deps(24));
      assert.deepEqual(
        dayLater.stale.map((s) => [s.subject, s.since]),
        [[tag, at(0)]],
        'still unverified under this configuration since its verdict at 0 h',
      );
    } finally {
      logDown = false;
    }
  });
});
