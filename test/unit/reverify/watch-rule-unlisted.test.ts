/**
 * A watch rule (glob) its host's catalog lists no repository for is a listing failure of its own,
 * every pass: an ERROR line naming the rule and the host, an error of the pass, kept as unverified
 * and alerted (`verification-stale`) once it has lasted `staleAfterMs`. Artifact Registry's
 * `/v2/_catalog` answers an empty list to a caller without resourcemanager.projects.get on the
 * project, and a typo in a glob matches nothing: either way, before this, the rule's repositories
 * were verified by no pass, in silence. A real registry behind a proxy whose catalog leaves out what
 * a test hides; the pass clock is the test's.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { type ReverifyDeps, reverifyOnce } from '../../../functions/reverify/core.ts';
import { InclusionRechecker } from '../../../functions/reverify/inclusion.ts';
import { staleAlertKey } from '../../../functions/reverify/staleness.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore, subjectIdentity } from '../../../functions/reverify/unverified.ts';
import { RekorV1Client } from '../../../functions/tlog/client/rekor-v1.ts';
import { expectedKeyFromPem } from '../../../functions/verify/policy.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { startProxy, startRegistry, type TestProxy, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';

const HOUR = 3_600_000;
const STALE_AFTER = 24 * HOUR;
const PUBLIC_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .publicKey.export({ type: 'spki', format: 'pem' })
  .toString();

describe('reverifyOnce: a watch rule the catalog lists nothing for is a listing failure', () => {
  let registry: TestRegistry;
  let proxy: TestProxy;
  let log: TestLog;
  let client: RegistryClient;
  /** Repository prefixes the proxy's catalog leaves out, as Artifact Registry's does without project-level visibility. */
  const hidden = new Set<string>();
  /** Request paths the proxy answers 503 for. */
  const failing = new Set<string>();

  before(async () => {
    registry = await startRegistry();
    proxy = await startProxy(registry.url, async (req, res) => {
      if (failing.has(req.url.pathname)) {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('service unavailable');
        return true;
      }
      if (req.url.pathname !== '/v2/_catalog' || hidden.size === 0) return false;
      const upstream = await fetch(new URL('/v2/_catalog?n=1000', registry.url));
      const { repositories } = (await upstream.json()) as { repositories: string[] };
      const shown = repositories.filter((r) => ![...hidden].some((p) => r === p || r.startsWith(`${p}/`)));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ repositories: shown }));
      return true;
    });
    log = await startTestLog('reverify-watch-rule', { unrelatedFirstEntry: true });
    client = new RegistryClient({ allowedHosts: [proxy.host] });
  });
  after(async () => {
    await proxy.stop();
    await registry.stop();
    await log.stop();
  });

  /** Its own stores, alert sink, logger and clock. */
  function scenario(watch: string[]) {
    const store = new MemoryTagStore();
    const unverified = new MemoryUnverifiedStore();
    const alerts = new RecordingAlertSink();
    const logger = createMemoryLogger();
    const start = Date.now();
    const deps = (hoursLater: number, overrides: Partial<ReverifyDeps> = {}): ReverifyDeps => ({
      registry: client,
      store,
      unverified,
      alerts,
      trust: { logs: [logKey(log.rekor.url, log.rekor.publicKeyPem)] },
      ownedPolicy: { keys: [expectedKeyFromPem(PUBLIC_KEY)], identities: [] },
      watch,
      watchlist: [],
      inclusion: new InclusionRechecker({
        client: new RekorV1Client({ baseUrl: log.rekor.url, logKey: log.rekor.publicKeyPem }),
        baseUrl: log.rekor.url,
      }),
      logger,
      concurrency: 4,
      staleAfterMs: STALE_AFTER,
      now: () => new Date(start + hoursLater * HOUR),
      ...overrides,
    });
    const at = (hoursLater: number) => new Date(start + hoursLater * HOUR).toISOString();
    const staleAlert = () => alerts.open.get(staleAlertKey());
    return { store, unverified, alerts, logger, deps, at, staleAlert };
  }

  const ruleErrors = (logger: ReturnType<typeof createMemoryLogger>, rule: string) =>
    logger.entries.filter((e) => e.severity === 'ERROR' && e['watchRule'] === rule);

  it('a catalog that leaves the watched repository out (Artifact Registry without projects.get): a failure naming the rule, alerted a day on, resolved once it is listed', async () => {
    await registry.pushImage('ar/prod/app', 'v1');
    await registry.pushImage('ar/prod/app', 'v2', 'second');
    const rule = `${proxy.host}/ar/prod/**`;
    const { store, unverified, logger, deps, at, staleAlert } = scenario([rule]);
    hidden.add('ar');
    try {
      const first = await reverifyOnce(deps(0));
      assert.equal(first.tags, 0);
      assert.deepEqual(
        first.errors.map((e) => e.ref),
        [rule],
        'the rule is an error of the pass',
      );
      const error = first.errors[0]!.error;
      assert.match(
        error,
        new RegExp(
          `watch rule ${reEscape(rule)} matches no repository in the catalog of ${reEscape(proxy.host)}`,
        ),
      );
      assert.match(error, /resourcemanager\.projects\.get/);
      assert.match(error, /roles\/browser/);
      assert.match(error, /nothing has been pushed/);
      assert.match(error, /typo/);
      const lines = ruleErrors(logger, rule);
      assert.equal(lines.length, 1, 'one ERROR line naming the rule');
      assert.equal(lines[0]!['host'], proxy.host);
      assert.match(lines[0]!.message, /matches no repository/);
      assert.deepEqual(
        [...unverified.subjects.values()].map((s) => [s.subject, s.kind, s.since, s.scope]),
        [[rule, 'watch-rule', at(0), 'all']],
      );
      assert.deepEqual(first.stale, []);
      assert.equal(staleAlert(), undefined);

      const again = await reverifyOnce(deps(12));
      assert.deepEqual(
        again.errors.map((e) => e.ref),
        [rule],
        'a failure every pass it lasts',
      );
      assert.equal(ruleErrors(logger, rule).length, 2);
      assert.deepEqual(again.stale, []);

      const dayLater = await reverifyOnce(deps(24));
      assert.deepEqual(
        dayLater.stale.map((s) => [s.subject, s.kind, s.since]),
        [[rule, 'watch-rule', at(0)]],
        'unverified since the first pass that listed nothing for it',
      );
      const alert = staleAlert();
      assert.ok(alert, 'verification-stale is raised');
      assert.equal(alert.kind, 'verification-stale');
      assert.match(alert.summary, /^1 watch rule matching no repository not re-verified for over 24 h/);
      assert.ok(alert.summary.includes(rule), 'the alert names the rule');
      assert.match(String(alert.evidence['verifierOutput']), /resourcemanager\.projects\.get/);
    } finally {
      hidden.delete('ar');
    }

    const listed = await reverifyOnce(deps(25));
    assert.deepEqual(listed.errors, []);
    assert.equal(listed.tags, 2);
    assert.equal(listed.byStatus.unsigned, 2, 'its tags are verified');
    assert.ok(store.records.get(`${proxy.host}/ar/prod/app:v1`));
    assert.deepEqual(listed.stale, []);
    assert.equal(staleAlert(), undefined, 'resolved');
    assert.equal(unverified.subjects.size, 0, 'the rule is forgotten');
  });

  it('a glob with a typo: a failure naming it, alerted a day on; the rule corrected, the tags are verified and the alert resolves', async () => {
    await registry.pushImage('typo/app', 'v1');
    const typo = `${proxy.host}/typo/aap/**`;
    const right = `${proxy.host}/typo/**`;
    const { deps, at, staleAlert, logger, unverified } = scenario([typo]);
    const first = await reverifyOnce(deps(0));
    assert.deepEqual(
      first.errors.map((e) => e.ref),
      [typo],
    );
    assert.match(first.errors[0]!.error, /matches no repository .*typo/);
    assert.equal(ruleErrors(logger, typo).length, 1);

    const dayLater = await reverifyOnce(deps(24));
    assert.deepEqual(
      dayLater.stale.map((s) => [s.subject, s.kind, s.since]),
      [[typo, 'watch-rule', at(0)]],
    );
    assert.ok(staleAlert()?.summary.includes(typo));

    const fixed = await reverifyOnce(deps(25, { watch: [right] }));
    assert.deepEqual(fixed.errors, []);
    assert.equal(fixed.byStatus.unsigned, 1);
    assert.equal(staleAlert(), undefined, 'resolved: the typo has left the configuration');
    assert.equal(unverified.subjects.size, 0);
  });

  it('a host with two rules, one matching nothing: the other rule’s tags are still verified', async () => {
    await registry.pushImage('two/a/app', 'v1');
    await registry.pushImage('two/a/app', 'v2', 'second');
    const matching = `${proxy.host}/two/a/**`;
    const empty = `${proxy.host}/two/b/**`;
    const { deps, unverified } = scenario([matching, empty]);
    const pass = await reverifyOnce(deps(0));
    assert.deepEqual(
      pass.errors.map((e) => e.ref),
      [empty],
    );
    assert.deepEqual(pass.outcomes.map((o) => o.ref).sort(), [
      `${proxy.host}/two/a/app:v1`,
      `${proxy.host}/two/a/app:v2`,
    ]);
    assert.equal(pass.byStatus.unsigned, 2);
    assert.deepEqual(
      [...unverified.subjects.values()].map((s) => [s.subject, s.kind]),
      [[empty, 'watch-rule']],
    );
  });

  it('a repository left out of the catalog while its rule matches nothing stays unverified since its own failure, not forgotten', async () => {
    await registry.pushImage('gone/app', 'v1');
    const rule = `${proxy.host}/gone/**`;
    const repository = `${proxy.host}/gone/app`;
    const { deps, at, staleAlert } = scenario([rule]);
    failing.add('/v2/gone/app/tags/list');
    try {
      const first = await reverifyOnce(deps(0));
      assert.deepEqual(
        first.errors.map((e) => e.ref),
        [repository],
      );
    } finally {
      failing.delete('/v2/gone/app/tags/list');
    }
    hidden.add('gone');
    try {
      const hiddenPass = await reverifyOnce(deps(12));
      assert.deepEqual(
        hiddenPass.errors.map((e) => e.ref),
        [rule],
      );
      const dayLater = await reverifyOnce(deps(24));
      assert.deepEqual(
        dayLater.stale.map((s) => [s.subject, s.kind, s.since]),
        [[repository, 'listing', at(0)]],
        'the repository since its own failure; the rule not yet a day',
      );
      assert.match(dayLater.stale[0]!.error, /^not listed: watch rule .* matches no repository/);
      assert.ok(staleAlert());
    } finally {
      hidden.delete('gone');
    }
    const back = await reverifyOnce(deps(25));
    assert.deepEqual(back.errors, []);
    assert.equal(staleAlert(), undefined);
  });

  it('a watch rule is kept apart from a repository its glob names exactly, per shard', () => {
    const subject = `${proxy.host}/exact/app`;
    const rule = subjectIdentity({ subject, kind: 'watch-rule', scope: 'all' });
    const listing = subjectIdentity({ subject, kind: 'listing', scope: 'all' });
    assert.notEqual(rule, listing);
    assert.notEqual(rule, subjectIdentity({ subject, kind: 'watch-rule', scope: 'shard-0-of-2' }));
  });
});

function reEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
