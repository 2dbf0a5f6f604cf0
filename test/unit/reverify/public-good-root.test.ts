/**
 * reverifyImages judges the watchlist with the public-good root refreshed through TUF on each pass
 * (verify/public-good-root.ts), from a real TUF repository served on 127.0.0.1
 * (test/helpers/tuf-repository.ts). A pass whose refresh fails (a tampered targets.json, an expired
 * timestamp) judges no watchlist tag: each is an error of the pass naming the mirror, its last
 * verdict and alerts stand, no signature alert is raised, and `verification-stale` follows once it
 * lasts; owned images are verified as usual, their cached verdicts untouched. Against a real
 * docker-registry and the Rekor emulator (test/helpers/reverify.ts).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SigsentryError } from '../../../functions/errors.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { loadReverifyConfig } from '../../../functions/reverify/config.ts';
import { type ReverifyDeps, reverifyOnce } from '../../../functions/reverify/core.ts';
import { createReverifyFromConfig } from '../../../functions/reverify/from-env.ts';
import { staleAlertKey } from '../../../functions/reverify/staleness.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import type { ImagePolicy } from '../../../functions/verify/policy.ts';
import {
  PublicGoodRootError,
  publicGoodRootCachePath,
  publicGoodRootSource,
} from '../../../functions/verify/public-good-root.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { MemoryTufVersionFloor } from '../../../functions/verify/tuf-version-floor.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';
import {
  PUBLIC_GOOD_TRUSTED_ROOT,
  STAGING_TRUSTED_ROOT,
  startTufRepository,
  type TufRepository,
} from '../../helpers/tuf-repository.ts';

const EMBEDDED = PUBLIC_GOOD_TRUSTED_ROOT;
const STAGING = STAGING_TRUSTED_ROOT;

const MINUTE = 60_000;
const IDENTITY = 'https://github.com/vendor/base/.github/workflows/release.yml@refs/heads/main';
const ISSUER = 'https://token.actions.githubusercontent.com';

describe('reverifyImages: the watchlist judged with the public-good root refreshed through TUF', () => {
  const harness = reverifyHarness('reverify-public-good-root');
  let repo: TufRepository;
  let cacheDir: string;
  /** An owned image, signed; a watchlisted one, unsigned (so a judged pass raises unsigned-image). */
  let owned: string;
  let vendor: string;

  before(async () => {
    repo = await startTufRepository(EMBEDDED);
    cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reverify-tuf-'));
    const signed = await harness.push('team/app', 'v1');
    await signImage(
      { registry: harness.registry, signer: harness.signer, rekorUrl: harness.rekor.url },
      signed,
    );
    await harness.push('vendor/base', 'v1', 'vendor');
    owned = harness.ref('team/app', 'v1');
    vendor = harness.ref('vendor/base', 'v1');
  });
  after(async () => {
    await repo?.stop();
    if (cacheDir) fs.rmSync(cacheDir, { recursive: true, force: true });
  });

  it('a pass whose root cannot be refreshed judges no watchlist tag, raises nothing for it, verifies owned images as usual, and goes stale', async () => {
    const logger = createMemoryLogger();
    const source = publicGoodRootSource({
      tuf: { mirror: repo.url, initialRoot: repo.initialRoot },
      logger,
      cacheDir,
      retries: 0,
    });
    const store = new MemoryTagStore();
    const unverified = new MemoryUnverifiedStore();
    const alerts = new RecordingAlertSink();
    const policy: ImagePolicy = {
      keys: [],
      identities: [{ subjectAlternativeName: IDENTITY, issuer: ISSUER }],
    };
    const t0 = Date.now();
    const at = (minutes: number) => new Date(t0 + minutes * MINUTE);
    /** A pass `minutes` after the first, as from-env.ts runs one: the root refreshed first. */
    const pass = async (minutes: number) => {
      const logs = [logKey(harness.rekor.url, harness.rekor.publicKeyPem)];
      let trust: ReverifyDeps['trust'] = { logs };
      let failure: SigsentryError | undefined;
      try {
        trust = { logs, publicGoodRoot: await source.forPass() };
      } catch (err) {
        assert.ok(err instanceof PublicGoodRootError);
        failure = err;
      }
      return await reverifyOnce(
        harness.deps({
          store,
          unverified,
          alerts,
          trust,
          watch: [`${harness.host}/team/**`],
          watchlist: [{ image: vendor, policy }],
          ...(failure ? { watchlistTrustFailure: failure } : {}),
          staleAfterMs: 60 * MINUTE,
          now: () => at(minutes),
        }),
      );
    };

    const first = await pass(0);
    assert.deepEqual(first.errors, []);
    assert.equal(statusOf(first, owned), 'valid');
    assert.equal(statusOf(first, vendor), 'unsigned');
    assert.deepEqual(alerts.openKinds(vendor), ['unsigned-image']);
    const judged = store.records.get(vendor)!;

    // targets.json altered after signing, to name another trusted root: refused.
    repo.publish(EMBEDDED, { tamperTargets: { tamperedTarget: STAGING } });
    const calls = alerts.calls.length;
    const tagCalls = alerts.tagCalls.length;
    const refused = await pass(30);
    assert.deepEqual(
      refused.errors.map((e) => e.ref),
      [vendor],
    );
    assert.match(
      refused.errors[0]!.error,
      new RegExp(`could not be refreshed through TUF from ${repo.url.replaceAll('.', '\\.')} \\(refused: `),
    );
    assert.equal(statusOf(refused, vendor), undefined, 'not judged');
    assert.deepEqual(alerts.tagCalls.slice(tagCalls), [], 'nothing raised or resolved about tags');
    assert.deepEqual(alerts.openKinds(vendor), ['unsigned-image'], 'its alert stands');
    assert.deepEqual(store.records.get(vendor), judged, 'its verdict stands');
    // Owned images do not depend on the public-good root: verified, their cached verdict reused.
    assert.deepEqual(
      refused.outcomes.map((o) => [o.ref, o.status, o.cached]),
      [[owned, 'valid', true]],
    );
    assert.deepEqual(refused.stale, []);

    // Still refused 80 minutes after the last verdict: stale, counted from that verdict.
    repo.expireTimestamp();
    const stale = await pass(80);
    assert.match(stale.errors[0]?.error ?? '', /\(expired: .*timestamp\.json is expired/);
    assert.deepEqual(
      stale.stale.map((s) => [s.subject, s.since]),
      [[vendor, judged.checkedAt]],
    );
    assert.ok(alerts.open.get(staleAlertKey()), 'verification-stale raised');
    assert.deepEqual(alerts.tagCalls.slice(tagCalls), [], 'and nothing about tags');
    assert.deepEqual(
      alerts.raisedSince(calls).map((a) => a.kind),
      ['verification-stale'],
    );

    // The repository publishes a good version: the next pass judges it again and resolves the alert.
    repo.publish(EMBEDDED);
    const back = await pass(90);
    assert.deepEqual(back.errors, []);
    assert.equal(statusOf(back, vendor), 'unsigned');
    assert.deepEqual(back.stale, []);
    assert.equal(alerts.open.get(staleAlertKey()), undefined, 'verification-stale resolved');
  });

  describe('built from its configuration (SIGSTORE_TUF_URL, SIGSTORE_TUF_ROOT)', () => {
    const run = async (
      tufEnv: Record<string, string>,
      stores: { store: MemoryTagStore; alerts: RecordingAlertSink },
    ) => {
      const config = loadReverifyConfig({
        GCP_PROJECT: 'p',
        SIGSENTRY_WATCH: `${harness.host}/team/**`,
        SIGSENTRY_PUBLIC_KEYS: harness.signer.publicKeyPem,
        REKOR_URL: harness.rekor.url,
        REKOR_PUBLIC_KEY: harness.rekor.publicKeyPem,
        SIGSENTRY_WATCHLIST: JSON.stringify([{ image: vendor, identity: IDENTITY, issuer: ISSUER }]),
        ...tufEnv,
      });
      const logger = createMemoryLogger();
      const floor = new MemoryTufVersionFloor();
      const runtime = await createReverifyFromConfig(config, {
        ...stores,
        logger,
        unverified: new MemoryUnverifiedStore(),
        tufVersionFloor: floor,
      });
      return { runtime, logger, floor };
    };

    it('refreshes from the configured repository on every pass; a refused refresh makes the watchlist tags errors, logged, and raises nothing', async () => {
      const fresh = await startTufRepository(EMBEDDED);
      const tuf = { SIGSTORE_TUF_URL: fresh.url, SIGSTORE_TUF_ROOT: fresh.initialRoot };
      const stores = { store: new MemoryTagStore(), alerts: new RecordingAlertSink() };
      try {
        const { runtime, logger, floor } = await run(tuf, stores);
        const first = await runtime.run();
        assert.deepEqual(first.errors, []);
        assert.deepEqual(floor.floors.get(fresh.url), { root: 1, timestamp: 1, snapshot: 1, targets: 1 });
        assert.equal(statusOf(first, vendor), 'unsigned');
        assert.equal(statusOf(first, owned), 'valid');
        assert.ok(fresh.paths.includes('/timestamp.json'), 'the repository was read');

        const mark = fresh.paths.length;
        const calls = stores.alerts.tagCalls.length;
        fresh.publish(EMBEDDED, { tamperTargets: { tamperedTarget: STAGING } });
        const second = await runtime.run();
        assert.ok(fresh.paths.slice(mark).includes('/timestamp.json'), 'refreshed again on the next pass');
        assert.deepEqual(
          second.errors.map((e) => e.ref),
          [vendor],
        );
        assert.ok(second.errors[0]!.error.includes(fresh.url));
        assert.equal(statusOf(second, owned), 'valid');
        assert.deepEqual(stores.alerts.tagCalls.slice(calls), [], 'nothing raised or resolved about tags');
        const line = logger.entries.find((e) => e['mirror'] === fresh.url);
        assert.equal(line?.severity, 'ERROR');
        assert.equal(line?.['reason'], 'refused');
      } finally {
        await fresh.stop();
        fs.rmSync(publicGoodRootCachePath({ mirror: fresh.url, initialRoot: fresh.initialRoot }), {
          recursive: true,
          force: true,
        });
      }
    });

    it('SIGSTORE_TUF_URL=none: the watchlist is judged with the embedded root (here, without network)', async () => {
      const stores = { store: new MemoryTagStore(), alerts: new RecordingAlertSink() };
      const { runtime } = await run({ SIGSTORE_TUF_URL: 'none' }, stores);
      const summary = await runtime.run();
      assert.deepEqual(summary.errors, []);
      assert.equal(statusOf(summary, vendor), 'unsigned');
    });
  });
});
