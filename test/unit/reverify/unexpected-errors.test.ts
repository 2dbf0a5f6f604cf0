/**
 * A tag whose judging fails is an error of the pass. Its last verdict stands, silently until
 * verification-stale a day later, only while a dependency is down (a DependencyError, or a failure
 * marked retryable): a later pass may get past that. Any other failure (a TypeError on content
 * nobody foresaw, as the junk bundle referrer found by review caused) raises a `signature-invalid`
 * alert at once, naming the error and the verdict no longer known to hold, so that whoever can make
 * judging fail cannot freeze a `valid` verdict unseen. That alert has a key of its own, apart from
 * the tag's forgery incident (which no pass resolves), and the first pass that judges the tag again
 * resolves it. Real docker-registry and the Rekor emulator; the failure is injected through the KMS
 * key state lookup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { RegistryIntegrityError } from '../../../functions/registry/errors.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { MemoryUnverifiedStore } from '../../../functions/reverify/unverified.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, signedProd, statusOf } from '../../helpers/reverify.ts';
import { flipSignatures, rewriteSignatureManifest } from '../verify/tamper.ts';

/** The calls about tags since `mark` (each pass's own `verification-stale` resolve left out). */
const tagCallsSince = (alerts: RecordingAlertSink, mark: number) =>
  alerts.calls
    .slice(mark)
    .filter((c) => (c.op === 'raise' ? c.alert.kind : c.key.split(':')[0]) !== 'verification-stale');

/** A key state lookup that throws what nothing foresaw. */
const untyped = async (): Promise<string> => {
  throw new TypeError('Cannot convert object to primitive value');
};

describe('a tag whose judging fails', () => {
  const harness = reverifyHarness('unexpected-errors');

  it('an unexpected error: signature-invalid raised now, naming it and the verdict that stood', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const unverified = new MemoryUnverifiedStore();
    const deps = () => harness.deps({ store, alerts, unverified, watch: [`${harness.host}/unexpected/**`] });
    const { only, tag, signed } = await signedProd(harness, deps, 'unexpected/app');
    const before = store.records.get(tag)!;
    const failing = only({ keyState: untyped });

    const mark = alerts.calls.length;
    const summary = await reverifyOnce(failing);
    assert.equal(statusOf(summary, tag), undefined, 'no verdict was made');
    assert.deepEqual(summary.errors, [
      { ref: tag, error: 'TypeError: Cannot convert object to primitive value' },
    ]);
    const raised = alerts.raisedSince(mark);
    assert.equal(raised.length, 1);
    const alert = raised[0]!;
    assert.equal(alert.kind, 'signature-invalid');
    assert.equal(alert.key, `unjudged-signature:${tag}`, "a key of its own, not the forgery incident's");
    assert.equal(alert.subject, tag);
    assert.equal(alert.severity, 'HIGH');
    assert.equal(
      alert.summary,
      `${tag} could not be verified (TypeError: Cannot convert object to primitive value); its recorded verdict (valid for ${signed.digest}) is not known to hold`,
    );
    assert.equal(alert.evidence['recordedStatus'], 'valid');
    assert.equal(alert.evidence['recordedDigest'], signed.digest);
    assert.equal(summary.alertsRaised, 1);
    assert.deepEqual(alerts.openKinds(tag), ['signature-invalid']);
    // The record is not rewritten (no verdict was made), and the tag goes stale as before.
    assert.deepEqual(store.records.get(tag), before);

    // Failing again on the same record is the same occurrence: told again as a repeat, not news.
    const again = alerts.calls.length;
    await reverifyOnce(failing);
    const repeat = alerts.raisedSince(again);
    assert.equal(repeat.length, 1);
    assert.equal(repeat[0]!.occurrence, alert.occurrence);

    // Judged again, valid: the pass resolves it, and forgets the tag as unverified.
    const judged = alerts.calls.length;
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), []);
    const resolved = tagCallsSince(alerts, judged);
    assert.deepEqual(
      resolved.map((c) => [c.op, c.op === 'resolve' ? c.key : c.alert.key]),
      [['resolve', `unjudged-signature:${tag}`]],
    );
    assert.match(
      resolved[0]?.op === 'resolve' ? resolved[0].reason : '',
      /^\S+ was judged again \(pass of [^)]+\): its verdict is recorded, and alerted on if it is not valid$/,
    );
    assert.deepEqual([...unverified.subjects.keys()], []);
    // Judged again and again: nothing more to resolve.
    const later = alerts.calls.length;
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'valid');
    assert.deepEqual(tagCallsSince(alerts, later), []);
  });

  it('a dependency down: its last verdict stands, with no alert', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/outage/**`] });
    const { only, tag } = await signedProd(harness, deps, 'outage/app');
    const before = store.records.get(tag)!;

    const mark = alerts.calls.length;
    const summary = await reverifyOnce(
      only({
        keyState: async (keyVersion) => {
          throw new DependencyError('kms', 'KMS GetCryptoKeyVersion failed: UNAVAILABLE', { keyVersion });
        },
      }),
    );
    assert.equal(statusOf(summary, tag), undefined);
    assert.deepEqual(summary.errors, [{ ref: tag, error: 'KMS GetCryptoKeyVersion failed: UNAVAILABLE' }]);
    assert.deepEqual(alerts.raisedSince(mark), []);
    assert.deepEqual(alerts.openKinds(tag), []);
    assert.deepEqual(store.records.get(tag), before);
  });

  it('a typed failure that is no outage (a registry answering an HTML page): its last verdict stands, with no alert', async () => {
    // One such incident answers so for every tag: a HIGH alert on each, open until an operator
    // closed it, was a page storm (found by review of the first version of this rule).
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/html/**`] });
    const { only, tag } = await signedProd(harness, deps, 'html/app');
    const before = store.records.get(tag)!;

    const mark = alerts.calls.length;
    const summary = await reverifyOnce(
      only({
        keyState: async () => {
          throw new RegistryIntegrityError('the manifest was served as text/html', {});
        },
      }),
    );
    assert.equal(statusOf(summary, tag), undefined);
    assert.equal(summary.errors.length, 1);
    assert.deepEqual(alerts.raisedSince(mark), []);
    assert.deepEqual(store.records.get(tag), before);
  });

  it('the unjudged alert is resolved by a definite verdict too: moved to an unsigned image, its own alerts raised', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const unverified = new MemoryUnverifiedStore();
    const deps = () => harness.deps({ store, alerts, unverified, watch: [`${harness.host}/definite/**`] });
    const { only, tag, moveTo } = await signedProd(harness, deps, 'definite/app');
    await reverifyOnce(only({ keyState: untyped }));
    assert.deepEqual(alerts.openKinds(tag), ['signature-invalid']);

    await moveTo(await harness.push('definite/app', 'unsigned'));
    const mark = alerts.calls.length;
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'unsigned');
    assert.deepEqual(alerts.openKinds(tag), ['tag-moved', 'unsigned-image']);
    assert.ok(
      tagCallsSince(alerts, mark).some((c) => c.op === 'resolve' && c.key === `unjudged-signature:${tag}`),
    );
  });

  it("a forgery's incident keeps its evidence through an unjudged pass, and stays open when the tag is judged again", async () => {
    // Before, the unjudged raise took the forgery's key: its summary and evidence were replaced, and
    // resolving it by pass would have closed the forgery's incident, which only an operator may.
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const unverified = new MemoryUnverifiedStore();
    const deps = () => harness.deps({ store, alerts, unverified, watch: [`${harness.host}/forged/**`] });
    const { only, tag, signed } = await signedProd(harness, deps, 'forged/app');
    const { before: original, mediaType } = await rewriteSignatureManifest(
      harness.registry,
      signed,
      flipSignatures,
    );
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'invalid');
    const forgery = alerts.open.get(`signature-invalid:${tag}`)!;
    assert.equal(forgery.severity, 'CRITICAL');

    await reverifyOnce(only({ keyState: untyped }));
    assert.deepEqual(alerts.open.get(`signature-invalid:${tag}`), forgery, 'the forgery incident as it was');
    assert.match(alerts.open.get(`unjudged-signature:${tag}`)!.summary, /could not be verified \(TypeError/);

    // The forgery removed: valid, the unjudged alert resolved, the forgery's left to an operator.
    await harness.registry.putManifest(signed, signatureTag(signed.digest), original, mediaType);
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'valid');
    assert.deepEqual(
      [...alerts.open.keys()].filter((k) => k.includes(tag)),
      [`signature-invalid:${tag}`],
    );
    assert.ok(!alerts.calls.some((c) => c.op === 'resolve' && c.key === `signature-invalid:${tag}`));
  });

  it('a tag kept unverified for an outage, then unjudged, then judged: the unjudged alert is resolved', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const unverified = new MemoryUnverifiedStore();
    const deps = () =>
      harness.deps({ store, alerts, unverified, watch: [`${harness.host}/outage-first/**`] });
    const { only, tag } = await signedProd(harness, deps, 'outage-first/app');
    await reverifyOnce(
      only({
        keyState: async (keyVersion) => {
          throw new DependencyError('kms', 'KMS GetCryptoKeyVersion failed: UNAVAILABLE', { keyVersion });
        },
      }),
    );
    assert.deepEqual(
      [...unverified.subjects.values()].map((s) => [s.subject, s.unjudged]),
      [[tag, undefined]],
    );
    await reverifyOnce(only({ keyState: untyped }));
    assert.deepEqual(
      [...unverified.subjects.values()].map((s) => [s.subject, s.unjudged]),
      [[tag, true]],
    );
    assert.deepEqual(alerts.openKinds(tag), ['signature-invalid']);

    assert.equal(statusOf(await reverifyOnce(only()), tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), []);
    assert.equal(unverified.subjects.size, 0);
  });

  it('a pass that does not follow up what fails (a manual one) resolves nothing; the next pass that does, resolves it', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const unverified = new MemoryUnverifiedStore();
    const deps = () => harness.deps({ store, alerts, unverified, watch: [`${harness.host}/manual/**`] });
    const { only, tag } = await signedProd(harness, deps, 'manual/app');
    await reverifyOnce(only({ keyState: untyped }));
    const { unverified: _off, ...manual } = only();
    assert.equal(statusOf(await reverifyOnce(manual), tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), ['signature-invalid'], 'still open');
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), []);
  });
});
