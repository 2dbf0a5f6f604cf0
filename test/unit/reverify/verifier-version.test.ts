/**
 * A verdict recorded by other rules of the verifier (reverify/verifier-version.ts). A warm pass reused
 * a tag's recorded verdict whenever its digest, signatures and policy were unchanged, whatever version
 * of sigsentry had judged it, so a check added by an upgrade never reached a digest verified `valid`
 * before it, until its signatures changed (found by review: LOW). A record of other rules, or of none
 * (before the version was recorded), is now judged afresh once, and stored with the current version.
 *
 * The older rules are played by the verdict a verifier that did not compare a payload's repository
 * with the tag's would have recorded for a `.sig` copied byte for byte from another repository: the
 * original's `valid` findings. Today's rules find the copy `invalid` (copied-signature.test.ts). Real
 * docker-registry behind a recording proxy, Rekor emulator.
 */
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import type { DigestReference } from '../../../functions/registry/reference.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore, type TagRecord } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import {
  VERIFIER_VERSION,
  withoutVerifierVersion,
  withVerifierVersion,
} from '../../../functions/reverify/verifier-version.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import type { ProxyIntercept } from '../../helpers/registry.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';

describe('a verdict recorded by other rules of the verifier', () => {
  /** What the current test does to registry requests (none: passed through). */
  let intercept: ProxyIntercept | undefined;
  const harness = reverifyHarness('verifier-version', {
    intercept: (req, res) => intercept?.(req, res) ?? false,
  });
  let copy: DigestReference;

  before(async () => {
    const { registry } = harness;
    const original = await harness.push('team/original', 'v1', 'one image');
    await signImage(
      { registry, signer: harness.signer, rekorUrl: harness.rekor.url, formats: ['cosign'] },
      original,
    );
    copy = await harness.push('team/copy', 'v1', 'one image');
    assert.equal(copy.digest, original.digest);
    const sig = await registry.getManifest(original, signatureTag(original.digest));
    const manifest = JSON.parse(Buffer.from(sig.bytes).toString('utf8')) as {
      config: { digest: string; mediaType: string };
      layers: Array<{ digest: string; mediaType: string }>;
    };
    for (const blob of [manifest.config, ...manifest.layers]) {
      await registry.putBlob(copy, await registry.getBlob(original, blob.digest), blob.mediaType);
    }
    await registry.putManifest(copy, signatureTag(copy.digest), sig.bytes, sig.descriptor.mediaType);
  });

  /**
   * A store holding, for `team/copy:v1`, the `valid` verdict of `team/original:v1` (made by today's
   * rules) recorded under the basis `policyOf` gives for today's, and a pass over `team/copy` alone.
   */
  const recordedByOtherRules = async (policyOf: (current: string) => string) => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const original = harness.ref('team/original', 'v1');
    const first = await reverifyOnce(
      harness.deps({ store, alerts, watch: [`${harness.host}/team/original`] }),
    );
    assert.equal(statusOf(first, original), 'valid');
    const made = (await store.load([original])).get(original)!;
    const tag = harness.ref('team/copy', 'v1');
    const recorded: TagRecord = { ...made, ref: tag, policy: policyOf(made.policy) };
    assert.equal(await store.put(recorded, undefined), 'stored');
    const unverified = new MemoryUnverifiedStore();
    const deps = (over = {}) =>
      harness.deps({ store, alerts, unverified, watch: [`${harness.host}/team/copy`], ...over });
    return { store, alerts, unverified, deps, tag, recorded, current: made.policy };
  };

  const others: Array<[string, (current: string) => string]> = [
    ['no version (recorded before it was)', withoutVerifierVersion],
    [
      'an older version',
      (current) => withVerifierVersion(withoutVerifierVersion(current), VERIFIER_VERSION - 1),
    ],
    [
      'a newer version (a rollback)',
      (current) => withVerifierVersion(withoutVerifierVersion(current), VERIFIER_VERSION + 1),
    ],
  ];
  for (const [which, policyOf] of others) {
    it(`a record of ${which} is judged afresh: invalid by today's rules, alerted, stored with today's version`, async () => {
      const { store, alerts, deps, tag, current } = await recordedByOtherRules(policyOf);

      const upgraded = await reverifyOnce(deps());
      assert.deepEqual(upgraded.errors, []);
      assert.equal(upgraded.cached, 0);
      assert.equal(statusOf(upgraded, tag), 'invalid');
      assert.equal(upgraded.changed, 1);
      assert.deepEqual(alerts.openKinds(tag), ['signature-invalid']);
      const stored = store.records.get(tag)!;
      assert.equal(stored.status, 'invalid');
      assert.equal(stored.policy, current);
      assert.ok(current.endsWith(withVerifierVersion('', VERIFIER_VERSION)));

      // Its verdict now of today's rules, the next pass reuses it.
      const next = await reverifyOnce(deps());
      assert.deepEqual(next.errors, []);
      assert.equal(next.cached, 1);
      assert.equal(statusOf(next, tag), 'invalid');
      assert.equal(next.changed, 0);
    });
  }

  it("a record of today's version is reused as before: its verdict stands, nothing is downloaded", async () => {
    const { store, alerts, deps, tag, recorded } = await recordedByOtherRules((current) => current);
    const gets: string[] = [];
    intercept = (req) => {
      if (req.method === 'GET' && req.url.pathname.startsWith('/v2/team/copy/')) gets.push(req.url.pathname);
      return false;
    };
    let warm: Awaited<ReturnType<typeof reverifyOnce>>;
    try {
      warm = await reverifyOnce(deps());
    } finally {
      intercept = undefined;
    }
    assert.deepEqual(warm.errors, []);
    assert.equal(warm.cached, 1);
    assert.equal(statusOf(warm, tag), 'valid');
    assert.equal(warm.changed, 0);
    assert.deepEqual(alerts.openKinds(tag), []);
    assert.equal(store.records.get(tag)!.policy, recorded.policy);
    assert.deepEqual(
      gets.filter((path) => /\/(manifests\/sha256:|blobs\/)/.test(path)),
      [],
    );
  });

  it('a record of other rules still counts as verified here: a tag failing after an upgrade is stale from its verdict', async () => {
    const { unverified, deps, tag, recorded } = await recordedByOtherRules(withoutVerifierVersion);
    intercept = (req, res) => {
      if (req.method !== 'HEAD' || req.url.pathname !== '/v2/team/copy/manifests/v1') return false;
      res.writeHead(503).end();
      return true;
    };
    let down: Awaited<ReturnType<typeof reverifyOnce>>;
    try {
      down = await reverifyOnce(deps({ now: () => new Date(Date.parse(recorded.checkedAt) + 3_600_000) }));
    } finally {
      intercept = undefined;
    }
    assert.deepEqual(
      down.errors.map((e) => e.ref),
      [tag],
    );
    const kept = [...unverified.subjects.values()].find((s) => s.subject === tag);
    assert.equal(kept?.since, recorded.checkedAt);
  });
});
