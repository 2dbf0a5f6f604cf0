/**
 * A signature that disappears from the registry after its image was signed (a cleanup policy, an
 * operator, a concurrent writer's lost update) is attached again by the next push of the image, or
 * by `sigsentry sign` (the same core), from what the signing record stores: the same signature and
 * log entry, no new KMS signature, no new log entry, under the image's lock, told with a NOTICE
 * line. Before, the record said attached for good: every later push answered `already-signed`
 * without a look at the registry and without a log line, while the image had no signature.
 * An image whose signatures are all there is told with one INFO line and nothing is written; a
 * record that stores nothing to attach again is alerted rather than acknowledged in silence.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readCosignSignatures, signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { listBundleReferrers } from '../../../functions/attach/referrer.ts';
import { DependencyError } from '../../../functions/errors.ts';
import { toNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { digestTag } from '../../../functions/registry/digest.ts';
import { RegistryRejectedError } from '../../../functions/registry/errors.ts';
import { logTreeSize } from '../../helpers/counted-witness.ts';
import { startRegistry, type TestRegistry } from '../../helpers/registry.ts';
import { startTestLog, type TestLog } from '../../helpers/rekor.ts';
import type { signOnPushCore } from '../../helpers/sign-on-push-core.ts';
import { attachedIn, signedImages, WRITES } from '../../helpers/signed-both-formats.ts';

let reg: TestRegistry;
let log: TestLog;
let client: RegistryClient;
before(async () => {
  reg = await startRegistry();
  log = await startTestLog('lost-signature', { unrelatedFirstEntry: true });
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(async () => {
  await reg.stop();
  await log.stop();
});

const { signed, deleteTag } = signedImages(() => ({ reg, log, client }), 'lost');

const notices = (h: ReturnType<typeof signOnPushCore>) =>
  h.logger.entries.filter((e) => e.severity === 'NOTICE').map((e) => e.message);

describe('a signature gone from the registry is attached again from the signing record', () => {
  test('the .sig manifest deleted: the next push attaches the stored cosign signature again, no new signature or log entry', async () => {
    const { h, ref, imageRef, repository, push, logged, verify } = await signed();
    await deleteTag(repository, signatureTag(ref.digest));
    assert.deepEqual(await readCosignSignatures(client, ref), [], 'no cosign signature left');
    assert.deepEqual(await attachedIn(verify), ['bundle']);
    const size = await logTreeSize(log.rekor.url);
    const before = h.logger.entries.length;

    await push(); // the same digest pushed again (a re-tag, a rebuild)

    assert.deepEqual(await attachedIn(verify), ['bundle', 'cosign'], 'verifies in both formats again');
    assert.equal((await readCosignSignatures(client, ref)).length, 1, 'one cosign signature');
    assert.equal(h.signed.length, 2, 'KMS was not asked for another signature');
    assert.equal(logged.calls, 2, 'the log was not asked for another entry');
    assert.equal(await logTreeSize(log.rekor.url), size, 'the log has no new entry');
    assert.deepEqual(h.raised, [], 'no alert');
    const lines = h.logger.entries.slice(before);
    const notice = lines.find((e) => e.severity === 'NOTICE');
    assert.ok(notice, `a NOTICE line: ${lines.map((e) => e.message).join(' | ')}`);
    assert.match(notice.message, /re-attached/);
    assert.ok(notice.message.includes(imageRef), 'it names the image');
    assert.match(notice.message, /cosign/);
    assert.equal(notice['format'], 'cosign');
    assert.equal(h.store.records.get(imageRef)?.state, 'attached');
  });

  test('the referrers fallback index deleted: the next push attaches the stored bundle again', async () => {
    const { h, ref, repository, push, logged, verify } = await signed();
    await deleteTag(repository, digestTag(ref.digest));
    assert.deepEqual((await listBundleReferrers(client, ref)).descriptors, [], 'no bundle referrer listed');
    assert.deepEqual(await attachedIn(verify), ['cosign']);
    const size = await logTreeSize(log.rekor.url);

    await push();

    assert.deepEqual(await attachedIn(verify), ['bundle', 'cosign']);
    assert.equal((await listBundleReferrers(client, ref)).descriptors.length, 1, 'one bundle referrer');
    assert.equal(h.signed.length, 2, 'KMS was not asked for another signature');
    assert.equal(logged.calls, 2);
    assert.equal(await logTreeSize(log.rekor.url), size, 'the log has no new entry');
    assert.equal(notices(h).filter((m) => /re-attached/.test(m) && /bundle/.test(m)).length, 1);
    assert.deepEqual(h.raised, []);
  });

  test('the referrer manifest deleted (the index still lists it): attached again, the same manifest', async () => {
    const { h, ref, push, verify } = await signed();
    const [listed] = (await listBundleReferrers(client, ref)).descriptors;
    assert.ok(listed);
    assert.equal(await client.deleteManifest(ref, listed.digest), true);
    assert.deepEqual(await attachedIn(verify), ['cosign']);

    await push();

    assert.deepEqual(await attachedIn(verify), ['bundle', 'cosign']);
    const after = (await listBundleReferrers(client, ref)).descriptors;
    assert.deepEqual(
      after.map((d) => d.digest),
      [listed.digest],
      'the same referrer, listed once',
    );
    assert.equal(h.signed.length, 2);
    assert.equal(notices(h).filter((m) => /re-attached/.test(m)).length, 1);
  });

  test('sigsentry sign (the core without Pub/Sub) repairs it too, and says so in its outcome', async () => {
    const { h, ref, imageRef, repository, verify } = await signed();
    await deleteTag(repository, signatureTag(ref.digest));
    await deleteTag(repository, digestTag(ref.digest));
    assert.deepEqual(await attachedIn(verify), []);
    const logger = createMemoryLogger();
    // As functions/cli/commands/sign.ts builds the notification of `sigsentry sign HOST/REPO@DIGEST`.
    const outcome = await h.core.sign(toNotification({ action: 'INSERT', digest: imageRef }), logger);
    assert.ok(outcome.outcome === 'already-signed', outcome.outcome);
    assert.deepEqual(outcome.reattached?.sort(), ['bundle', 'cosign']);
    assert.deepEqual(await attachedIn(verify), ['bundle', 'cosign']);
    assert.equal(h.signed.length, 2);
    assert.equal(logger.entries.filter((e) => e.severity === 'NOTICE').length, 2, 'a NOTICE per format');
  });

  test('nothing gone: one INFO line says already signed, and nothing is written', async () => {
    const { h, ref, imageRef, push, counted, verify } = await signed();
    const before = h.logger.entries.length;
    const calls = counted.calls.length;

    await push();

    const lines = h.logger.entries.slice(before);
    assert.deepEqual(
      lines.map((e) => [e.severity, e.message.split(':')[0]]),
      [
        ['INFO', 'received gcr event'],
        ['INFO', 'already signed'],
      ],
    );
    assert.ok(lines[1]!.message.includes(imageRef));
    assert.deepEqual(lines[1]!['formats'], ['bundle', 'cosign']);
    const made = counted.calls.slice(calls);
    assert.ok(!made.some((c) => WRITES.includes(c)), `no write: ${made.join(', ')}`);
    // The look for the signatures: the `.sig` manifest; the referrers API (404 on docker-registry),
    // the fallback index and the one referrer it lists (read by digest).
    const [listed] = (await listBundleReferrers(client, ref)).descriptors;
    const look = [
      `getManifest ${signatureTag(ref.digest)}`,
      'referrers',
      `getManifest ${digestTag(ref.digest)}`,
      `getManifest ${listed!.digest}`,
    ];
    assert.deepEqual(
      made.filter((c) => look.includes(c)).sort(),
      [...look].sort(),
      `each read once: ${made.join(', ')}`,
    );
    assert.equal(h.signed.length, 2);
    assert.deepEqual(await attachedIn(verify), ['bundle', 'cosign']);
  });

  test('a re-attach the registry refuses for good is alerted, naming the format; one it fails for now is redelivered', async () => {
    const { h, ref, imageRef, repository, push, counted } = await signed();
    await deleteTag(repository, signatureTag(ref.digest));
    counted.faults.putManifest = new DependencyError('registry', 'injected: registry answered 503');

    await assert.rejects(push(), DependencyError, 'a passing failure: Pub/Sub redelivers');
    assert.equal(h.raised.length, 0, 'no alert for it');

    counted.faults.putManifest = new RegistryRejectedError('injected: MANIFEST_INVALID', {
      registryErrors: ['MANIFEST_INVALID'],
    });
    await push(); // acknowledged: no retry mends it
    assert.equal(h.raised.length, 1, 'one alert');
    const [alert] = h.raised;
    assert.equal(alert?.kind, 'signing-failed');
    assert.equal(alert?.subject, imageRef);
    assert.match(
      alert?.summary ?? '',
      /the cosign signature of .* is gone from the registry and could not be attached again from its signing record: injected: MANIFEST_INVALID/,
    );
    assert.deepEqual(alert?.evidence['formats'], ['cosign']);
    assert.equal(alert?.evidence['lastError'], 'REGISTRY_REJECTED');
    // An incident of its own: not merged with the image's other signing failures.
    assert.equal(alert?.key, `signing-failed:${imageRef}:signature-lost`);

    delete counted.faults.putManifest;
    await push(); // the registry accepts it again: the next push repairs it
    assert.equal((await readCosignSignatures(client, ref)).length, 1);
    assert.equal(h.signed.length, 2);
    // (A signing also resolves the before-claim incident a push failing before its claim may have had.)
    assert.deepEqual(
      h.resolved.filter((key) => !key.endsWith(':before-claim')),
      [alert?.key],
      'and the repair closes the incident',
    );
  });

  test('a record that stores no signature for a format it says is attached is alerted, not acknowledged in silence', async () => {
    const { h, ref, imageRef, repository, push } = await signed();
    await deleteTag(repository, signatureTag(ref.digest));
    const record = h.store.records.get(imageRef)!;
    delete record.formats.cosign!.bundle;
    delete record.formats.cosign!.signedBytes;

    await push(); // acknowledged (a retry would not mend it), with the alert

    assert.equal(h.raised.length, 1, 'one alert');
    const [alert] = h.raised;
    assert.equal(alert?.kind, 'signing-failed');
    assert.equal(alert?.severity, 'HIGH');
    assert.equal(alert?.subject, imageRef);
    assert.match(alert?.summary ?? '', /attached in the cosign format but stores no/);
    assert.deepEqual(alert?.evidence['formats'], ['cosign']);
    assert.ok(h.logger.entries.some((e) => e.severity === 'ERROR' && e.message === 'refused gcr event'));
    assert.equal(h.signed.length, 2, 'nothing signed anew');
    assert.deepEqual(await readCosignSignatures(client, ref), []);
  });
});
