/**
 * A signature whose manifest stays while the blob holding its payload (the `.sig` layer's
 * simple-signing payload) or its bundle (the referrer's layer) was deleted is unreadable: cosign and
 * sigsentry's verifier cannot fetch it. The next push of the image, or `sigsentry sign`, finds the
 * blob gone (one HEAD per format, beside the manifest read the check made already) and uploads it
 * again from the signing record: the same signature and log entry, no new KMS signature, no new log
 * entry, the manifest not rewritten, told with a NOTICE line. Before, the check looked at the
 * manifest alone: every later push answered `already signed` while the image had no readable
 * signature in that format.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { readCosignLayers, signatureTag } from '../../../functions/attach/cosign-layout.ts';
import { listBundleReferrers } from '../../../functions/attach/referrer.ts';
import { toNotification } from '../../../functions/events/gcr-message.ts';
import { createMemoryLogger } from '../../../functions/logging/logger.ts';
import { RegistryClient } from '../../../functions/registry/client.ts';
import { imageManifestSchema, parseManifestBytes } from '../../../functions/registry/manifest.ts';
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
  log = await startTestLog('lost-signature-blob', { unrelatedFirstEntry: true });
  client = new RegistryClient({ allowedHosts: [reg.host] });
});
after(async () => {
  await reg.stop();
  await log.stop();
});

const { signed } = signedImages(() => ({ reg, log, client }), 'blob');

/** Deletes blob `digest` from `repository` (docker-registry with storage delete enabled: 202). */
async function deleteBlob(repository: string, digest: string): Promise<void> {
  const res = await fetch(`${reg.url}/v2/${repository}/blobs/${digest}`, { method: 'DELETE' });
  await res.arrayBuffer();
  assert.equal(res.status, 202, `DELETE blob ${digest}`);
  assert.equal(await client.hasBlob({ host: reg.host, repository }, digest), false, 'the blob is gone');
}

/** The `.sig` manifest's digest and its one layer's (the payload blob's) digest. */
async function sigManifest(ref: { host: string; repository: string; digest: string }) {
  const fetched = await client.getManifest(ref, signatureTag(ref.digest));
  const manifest = parseManifestBytes(imageManifestSchema, fetched.bytes, {});
  assert.equal(manifest.layers.length, 1);
  return { digest: fetched.descriptor.digest, payload: manifest.layers[0]!.digest };
}

/** The bundle referrer's manifest digest and its one layer's (the bundle blob's) digest. */
async function bundleReferrer(ref: { host: string; repository: string; digest: string }) {
  const [listed] = (await listBundleReferrers(client, ref)).descriptors;
  assert.ok(listed, 'a bundle referrer is listed');
  const fetched = await client.getManifest(ref, listed.digest);
  const manifest = parseManifestBytes(imageManifestSchema, fetched.bytes, {});
  return { digest: listed.digest, bundle: manifest.layers[0]!.digest };
}

/** The NOTICE lines telling of a signature re-attached. */
const reattachNotices = (h: ReturnType<typeof signOnPushCore>) =>
  h.logger.entries.filter((e) => e.severity === 'NOTICE' && /re-attached/.test(e.message));

describe('a signature whose manifest stays but whose blob is gone is made whole from the signing record', () => {
  test('the .sig payload blob deleted: the next push uploads it again; no new signature, log entry or manifest', async () => {
    const { h, ref, imageRef, repository, push, counted, logged, verify } = await signed();
    const sig = await sigManifest(ref);
    await deleteBlob(repository, sig.payload);
    const unreadable = await readCosignLayers(client, ref);
    assert.equal(unreadable.signatures.length, 0);
    assert.equal(unreadable.unreadable.length, 1, 'the .sig lists a layer no reader can fetch');
    assert.deepEqual(await attachedIn(verify), ['bundle'], 'cosign verification fails');
    const size = await logTreeSize(log.rekor.url);
    const calls = counted.calls.length;

    await push(); // the same digest pushed again (a re-tag, a redelivery)

    assert.deepEqual(await attachedIn(verify), ['bundle', 'cosign'], 'verifies in both formats again');
    assert.equal(await client.hasBlob(ref, sig.payload), true, 'the payload blob is back');
    assert.deepEqual(await sigManifest(ref), sig, 'the same .sig manifest: not rewritten');
    assert.ok(!counted.calls.slice(calls).includes('putManifest'), 'no manifest written');
    assert.equal(h.signed.length, 2, 'KMS was not asked for another signature');
    assert.equal(logged.calls, 2, 'the log was not asked for another entry');
    assert.equal(await logTreeSize(log.rekor.url), size, 'the log has no new entry');
    assert.deepEqual(h.raised, [], 'no alert');
    const told = reattachNotices(h);
    assert.equal(told.length, 1, `one NOTICE: ${told.map((e) => e.message).join(' | ')}`);
    assert.match(told[0]!.message, /re-attached: the cosign signature of .* payload blob was gone/);
    assert.ok(told[0]!.message.includes(imageRef), 'it names the image');
    assert.equal(told[0]!['format'], 'cosign');
    assert.ok(
      !h.logger.entries.some((e) => e.message.startsWith('already signed')),
      'not told as already signed in every format',
    );
  });

  test('the bundle blob deleted: sigsentry sign uploads it again and says so in its outcome', async () => {
    const { h, ref, imageRef, repository, logged, verify } = await signed();
    const referrer = await bundleReferrer(ref);
    await deleteBlob(repository, referrer.bundle);
    assert.deepEqual(await attachedIn(verify), ['cosign'], 'bundle verification fails');
    const size = await logTreeSize(log.rekor.url);

    // As functions/cli/commands/sign.ts builds the notification of `sigsentry sign HOST/REPO@DIGEST`.
    const logger = createMemoryLogger();
    const outcome = await h.core.sign(toNotification({ action: 'INSERT', digest: imageRef }), logger);

    assert.ok(outcome.outcome === 'already-signed', outcome.outcome);
    assert.deepEqual(outcome.reattached, ['bundle']);
    assert.deepEqual(await attachedIn(verify), ['bundle', 'cosign']);
    assert.equal(await client.hasBlob(ref, referrer.bundle), true, 'the bundle blob is back');
    assert.deepEqual(await bundleReferrer(ref), referrer, 'the same referrer manifest');
    assert.equal((await listBundleReferrers(client, ref)).descriptors.length, 1, 'listed once');
    assert.equal(h.signed.length, 2);
    assert.equal(logged.calls, 2);
    assert.equal(await logTreeSize(log.rekor.url), size);
    const told = logger.entries.filter((e) => e.severity === 'NOTICE');
    assert.equal(told.length, 1);
    assert.match(told[0]!.message, /the bundle signature of .* bundle blob was gone/);
  });

  test('nothing gone: one blob HEAD per format is all the check adds, and nothing is written', async () => {
    const { h, ref, push, counted } = await signed();
    const sig = await sigManifest(ref);
    const referrer = await bundleReferrer(ref);
    const calls = counted.calls.length;

    await push();

    const made = counted.calls.slice(calls);
    assert.equal(made.filter((c) => c === 'hasBlob').length, 2, `one HEAD per format: ${made.join(', ')}`);
    assert.ok(!made.some((c) => WRITES.includes(c)), `no write: ${made.join(', ')}`);
    assert.deepEqual(reattachNotices(h), []);
    assert.ok(h.logger.entries.some((e) => e.message.startsWith('already signed')));
    assert.equal(await client.hasBlob(ref, sig.payload), true);
    assert.equal(await client.hasBlob(ref, referrer.bundle), true);
  });
});
