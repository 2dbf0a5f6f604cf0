/**
 * A tag whose judging fails is an error of the pass. Its last verdict stands, silently until
 * verification-stale a day later, only while a dependency is down (a DependencyError, or a failure
 * marked retryable): a later pass may get past that. Any other failure (a TypeError on content
 * nobody foresaw, as the junk bundle referrer found by review caused) raises the tag's
 * `signature-invalid` alert at once, naming the error and the verdict no longer known to hold, so
 * that whoever can make judging fail cannot freeze a `valid` verdict unseen. Real docker-registry
 * and the Rekor emulator; the failure is injected through the KMS key state lookup.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DependencyError } from '../../../functions/errors.ts';
import { RegistryIntegrityError } from '../../../functions/registry/errors.ts';
import { reverifyOnce } from '../../../functions/reverify/core.ts';
import { MemoryTagStore } from '../../../functions/reverify/store.ts';
import { RecordingAlertSink } from '../../helpers/recording-alert-sink.ts';
import { reverifyHarness, signedProd, statusOf } from '../../helpers/reverify.ts';

describe('a tag whose judging fails', () => {
  const harness = reverifyHarness('unexpected-errors');

  it('an unexpected error: signature-invalid raised now, naming it and the verdict that stood', async () => {
    const store = new MemoryTagStore();
    const alerts = new RecordingAlertSink();
    const deps = () => harness.deps({ store, alerts, watch: [`${harness.host}/unexpected/**`] });
    const { only, tag, signed } = await signedProd(harness, deps, 'unexpected/app');
    const before = store.records.get(tag)!;
    const failing = only({
      keyState: async () => {
        throw new TypeError('Cannot convert object to primitive value');
      },
    });

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
    assert.equal(alert.key, `signature-invalid:${tag}`);
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

    // Judged again, valid: no pass resolves it; an operator does, once the failure is understood.
    assert.equal(statusOf(await reverifyOnce(only()), tag), 'valid');
    assert.deepEqual(alerts.openKinds(tag), ['signature-invalid']);
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
});
