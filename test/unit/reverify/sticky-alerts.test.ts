/**
 * `signature-invalid` is resolved by an operator, never by a pass (reverify/alerts.ts
 * RESOLVED_BY_OPERATOR). So it must still page when a forgery is planted again while the first
 * one's alert is open, and a raise that never went out must not be dropped when the forgery is
 * removed before the next pass. Real registry and Rekor emulator; the alert pipeline is the real
 * FanOutAlertSink over the in-memory record.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AlertInput, AlertSink } from '../../../functions/alerts/alert.ts';
import { FanOutAlertSink } from '../../../functions/alerts/fanout.ts';
import { MemoryAlertSink } from '../../../functions/alerts/memory-sink.ts';
import { signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { logKey } from '../../../functions/verify/trust.ts';
import { RecordingNotifier } from '../../helpers/recording-notifier.ts';
import { reverifyHarness, statusOf } from '../../helpers/reverify.ts';
import { signImage } from '../../helpers/sign-image.ts';
import { flipSignatures, rewriteSignatureManifest } from '../verify/tamper.ts';

describe('signature-invalid, left open for an operator', () => {
  const harness = reverifyHarness('sticky-alerts-rekor');
  const { signer, ref, push } = harness;

  it('a forgery planted again while the first one’s alert is open pages again; the same change told again does not', async () => {
    const store = new MemoryTagStore();
    const recorder = new MemoryAlertSink();
    const pubsub = new RecordingNotifier('pubsub');
    const log = new RecordingNotifier('log', true);
    const fanOut = new FanOutAlertSink({ recorder, notifiers: [log, pubsub] });
    let t = Date.now();
    const now = () => new Date(t);
    let resolvesFail = false;
    const alerts: AlertSink = {
      raise: (alert) => fanOut.raise(alert),
      async resolve(key, reason) {
        if (resolvesFail) throw new Error('the alert record is unreachable');
        await fanOut.resolve(key, reason);
      },
    };
    const deps = () => harness.deps({ store, alerts, now, watch: [`${harness.host}/again/**`] });
    const tag = ref('again/app', 'v1');
    const image = await push('again/app', 'v1');
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'valid');
    const { before: original, mediaType } = await rewriteSignatureManifest(
      harness.registry,
      image,
      flipSignatures,
    );
    // Its raise goes out, its resolves fail: the next pass after the claim lapses tells the change
    // again, and the raise, the same occurrence, is a repeat.
    resolvesFail = true;
    const undelivered = await reverifyOnce(deps());
    resolvesFail = false;
    assert.match(undelivered.errors.map((e) => e.error).join('\n'), /delivering its alerts failed/);
    assert.equal(store.records.get(tag)?.status, 'invalid');
    assert.ok(store.records.get(tag)?.delivery, 'its delivery is unfinished');
    t += 5 * 60_000;
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'invalid');
    assert.equal(store.records.get(tag)?.delivery, undefined, 'delivered again, in full');
    // Removed by whoever planted it: the incident stays open. Planted again, the same bytes.
    await harness.registry.putManifest(image, signatureTag(image.digest), original, mediaType);
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'valid');
    await rewriteSignatureManifest(harness.registry, image, flipSignatures);
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'invalid');
    const invalid = (n: RecordingNotifier) =>
      n.seen.filter((s) => s.alert.kind === 'signature-invalid').map((s) => s.status);
    assert.deepEqual(invalid(pubsub), ['new', 'changed'], 'Pub/Sub hears both forgeries');
    assert.deepEqual(
      invalid(log),
      ['new', 'repeat', 'changed'],
      'the redelivery a NOTICE; each forgery an ALERT line',
    );
    assert.equal((await recorder.get(`signature-invalid:${tag}`))?.count, 3);
  });

  it('a signature-invalid raise that never went out is still raised when the forgery is removed before the next pass', async () => {
    const store = new MemoryTagStore();
    const recorder = new MemoryAlertSink();
    let t = Date.now();
    const now = () => new Date(t);
    let stopped = false;
    const alerts: AlertSink = {
      async raise(alert: AlertInput) {
        if (stopped && alert.kind === 'signature-invalid')
          throw new Error('instance stopped before the raise');
        await recorder.raise(alert);
      },
      resolve: (key, reason) => recorder.resolve(key, reason),
    };
    const deps = () => harness.deps({ store, alerts, now, watch: [`${harness.host}/lapse/**`] });
    const tag = ref('lapse/app', 'v1');
    const image = await push('lapse/app', 'v1');
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'valid');
    const { before: original, mediaType } = await rewriteSignatureManifest(
      harness.registry,
      image,
      flipSignatures,
    );
    stopped = true;
    const failed = await reverifyOnce(deps());
    stopped = false;
    assert.match(failed.errors.map((e) => e.error).join('\n'), /delivering its alerts failed/);
    assert.equal(store.records.get(tag)?.status, 'invalid', 'the verdict is stored, its raise owed');
    // The forgery is removed, and the claim lapses, before the next pass.
    await harness.registry.putManifest(image, signatureTag(image.digest), original, mediaType);
    t += 5 * 60_000;
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'valid');
    const alert = await recorder.get(`signature-invalid:${tag}`);
    assert.equal(alert?.state, 'open', 'the forgery is on the record, open, for an operator');
    assert.equal(alert?.severity, 'CRITICAL');
    assert.equal(alert?.evidence.digest, image.digest);
    assert.equal(store.records.get(tag)?.delivery, undefined, 'delivered: nothing owed');
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'valid');
    assert.equal((await recorder.get(`signature-invalid:${tag}`))?.count, 1, 'raised once');
  });
  it('a layout that verified is still expected after the trust changes, so its loss is missing', async () => {
    const store = new MemoryTagStore();
    const alerts = new MemoryAlertSink();
    const tag = ref('trust-change/app', 'v1');
    const image = await push('trust-change/app', 'v1');
    await signImage({ registry: harness.registry, signer, rekorUrl: harness.rekor.url }, image);
    const deps = (over: Partial<ReturnType<typeof harness.deps>> = {}) =>
      harness.deps({ store, alerts, watch: [`${harness.host}/trust-change/**`], ...over });
    assert.equal(statusOf(await reverifyOnce(deps()), tag), 'valid');
    assert.deepEqual(store.records.get(tag)?.verifiedLayouts, ['bundle', 'cosign']);
    // Another log trusted as well (as a refreshed public-good root changes a watchlist tag's trust),
    // and the `.sig` deleted: the bundle still verifies, the cosign layout is lost.
    const { trust } = deps();
    const another = logKey('https://rekor.example', harness.signer.publicKeyPem);
    const sig = await harness.registry.getManifest(image, signatureTag(image.digest));
    assert.equal(await harness.registry.deleteManifest(image, sig.descriptor.digest), true);
    const summary = await reverifyOnce(deps({ trust: { ...trust, logs: [...trust.logs, another] } }));
    assert.equal(statusOf(summary, tag), 'missing');
    assert.deepEqual(
      [...alerts.alerts.values()].filter((a) => a.state === 'open').map((a) => a.kind),
      ['signature-missing'],
    );
  });
});
